"""Codecs turn an event object into a JSON object and back, whatever kind of class it is.

msgspec Structs and dataclasses go through msgspec (``to_builtins`` / ``convert``), the fast
path. pydantic models go through pydantic, which is imported only when such a model is
registered, so factstream never needs pydantic installed.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any, Protocol

import msgspec

__all__ = ["EventCodec", "codec_for", "json_path"]


class EventCodec(Protocol):
    """How one event class is encoded, decoded and described."""

    def encode(self, event: object) -> dict[str, Any]:
        """The event as a JSON object (only JSON types inside)."""
        ...

    def decode(self, data: dict[str, Any]) -> object:
        """An event from a JSON object.

        Raises:
            FieldError: naming the field that does not match.
        """
        ...

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the class: ``{"$ref": ..., "$defs": {...}}`` or an inline object."""
        ...


class FieldError(ValueError):
    """A value does not match its class; ``path`` is a JSON path like ``$.items[0].price``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def json_path(error: msgspec.ValidationError) -> FieldError:
    """Turn msgspec's message into a path and a reason; a missing field's path names it."""
    match = _AT.match(str(error))
    assert match is not None  # the pattern matches any string
    reason = match.group("reason")
    path = match.group("path") or "$"
    missing = _MISSING.match(reason)
    if missing:
        path = f"{path}.{missing.group('field')}"
        reason = "required field is missing"
    return FieldError(path, reason)


class MsgspecCodec:
    """For frozen ``msgspec.Struct`` classes and dataclasses."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls

    def encode(self, event: object) -> dict[str, Any]:
        data = msgspec.to_builtins(event)
        if not isinstance(data, dict):  # array_like structs encode as lists
            raise TypeError(f"{self.cls.__name__} does not encode as a JSON object")
        return data

    def decode(self, data: dict[str, Any]) -> object:
        # EventRegistry.decode_each inlines this for speed: keep the two the same.
        try:
            return msgspec.convert(data, self.cls)
        except msgspec.ValidationError as exc:
            raise json_path(exc) from None

    def json_schema(self) -> dict[str, Any]:
        return msgspec.json.schema(self.cls)


class PydanticCodec:
    """For pydantic v2 models (the ``BaseModel`` API: ``model_dump``, ``model_validate``)."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls

    def encode(self, event: object) -> dict[str, Any]:
        data: dict[str, Any] = event.model_dump(mode="json")  # type: ignore[attr-defined]
        return data

    def decode(self, data: dict[str, Any]) -> object:
        import pydantic

        try:
            return self.cls.model_validate(data)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            path = "$"
            for part in first["loc"]:
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            raise FieldError(path, first["msg"]) from None

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.cls.model_json_schema()
        return schema


def _is_pydantic_model(cls: type[Any]) -> bool:
    # Only a program that imported pydantic can define a pydantic model: no import needed here.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def codec_for(cls: type[Any]) -> EventCodec:
    """Pick the codec for an event class.

    Raises:
        TypeError: the class is not a msgspec Struct, a dataclass or a pydantic model.
    """
    if not isinstance(cls, type):
        raise TypeError(f"an event type must be a class, got {cls!r}")
    if issubclass(cls, msgspec.Struct):
        if getattr(cls, "__struct_config__", None) and cls.__struct_config__.array_like:
            raise TypeError(f"{cls.__name__}: array_like structs cannot be events (not objects)")
        return MsgspecCodec(cls)
    if dataclasses.is_dataclass(cls):
        return MsgspecCodec(cls)
    if _is_pydantic_model(cls):
        return PydanticCodec(cls)
    raise TypeError(
        f"{cls.__name__} cannot be an event: use a frozen msgspec.Struct, a dataclass "
        "or a pydantic model"
    )
