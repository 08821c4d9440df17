"""Default snapshot state of an aggregate: its class-annotated attributes, through msgspec."""

from __future__ import annotations

import typing
from typing import Any, ClassVar

import msgspec

__all__ = ["restore_annotated_state", "snapshot_annotated_state"]

_SHAPE = "__factstream_state_shape__"


def _shape(cls: type[Any]) -> type[msgspec.Struct]:
    # Cached on the class itself: no module-level cache.
    cached: type[msgspec.Struct] | None = cls.__dict__.get(_SHAPE)
    if cached is not None:
        return cached
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise TypeError(
            f"{cls.__name__}: cannot resolve the annotations of its state ({exc}); "
            "override snapshot_state() and restore_state()"
        ) from exc
    fields = [
        (name, hint)
        for name, hint in hints.items()
        if not name.startswith("_")
        and typing.get_origin(hint) is not ClassVar
        and hint is not ClassVar
    ]
    shape = msgspec.defstruct(f"{cls.__name__}State", fields)
    setattr(cls, _SHAPE, shape)
    return shape


def snapshot_annotated_state(aggregate: object) -> dict[str, Any]:
    shape = _shape(type(aggregate))
    values = {name: getattr(aggregate, name) for name in shape.__struct_fields__}
    state: dict[str, Any] = msgspec.to_builtins(values)
    return state


def restore_annotated_state(aggregate: object, state: dict[str, Any]) -> None:
    shape = _shape(type(aggregate))
    try:
        restored = msgspec.convert(state, shape)
    except msgspec.ValidationError as exc:
        raise ValueError(
            f"snapshot state does not match {type(aggregate).__name__}: {exc}"
        ) from exc
    for name in shape.__struct_fields__:
        setattr(aggregate, name, getattr(restored, name))
