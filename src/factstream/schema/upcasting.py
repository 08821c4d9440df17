"""Upcaster chains: pure functions that lift stored event data one schema version at a time.

Stored events are never rewritten. An event stored at version 1 of a type now at version 3 is
read as ``up2(up1(data, metadata), metadata)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from .errors import RegistrationError, UpcastError

__all__ = ["Upcaster", "UpcasterChain"]

Upcaster: TypeAlias = Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]]
"""``(data, metadata) -> data`` for version N to N+1. Must not mutate its input."""


class UpcasterChain:
    """The upcasters of one event type, from version 1 up to its current version.

    Raises:
        RegistrationError: a step of the chain from 1 to ``version`` is missing, or an upcaster
            is given for a version that is not below ``version``.
    """

    __slots__ = ("_steps", "name", "version")

    def __init__(self, name: str, version: int, upcasters: Mapping[int, Upcaster]) -> None:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RegistrationError(f"{name!r}: version must be an int >= 1, got {version!r}")
        for start, fn in upcasters.items():
            if not isinstance(start, int) or isinstance(start, bool) or not 1 <= start < version:
                raise RegistrationError(
                    f"{name!r}: an upcaster starts at version {start!r}, but only versions "
                    f"1 to {version - 1} can be upcast to reach version {version}"
                )
            if not callable(fn):
                raise RegistrationError(f"{name!r}: upcaster from version {start} is not callable")
        missing = [v for v in range(1, version) if v not in upcasters]
        if missing:
            steps = ", ".join(f"{v} -> {v + 1}" for v in missing)
            raise RegistrationError(
                f"{name!r} is at version {version} but has no upcaster for {steps}: old events "
                f"could not be read. Pass upcasters={{{missing[0]}: fn, ...}}"
            )
        self.name = name
        self.version = version
        self._steps = tuple(upcasters[v] for v in range(1, version))

    @property
    def sources(self) -> tuple[int, ...]:
        """The versions an upcaster starts from (1 to ``version - 1``)."""
        return tuple(range(1, self.version))

    def upcast(
        self, data: dict[str, Any], metadata: Mapping[str, Any], from_version: int
    ) -> dict[str, Any]:
        """Lift ``data`` stored at ``from_version`` to the current version.

        Raises:
            UpcastError: the stored version is newer than the current one or below 1, or a step
                failed or did not return a dict.
        """
        if from_version == self.version:
            return data
        if not 1 <= from_version < self.version:
            raise UpcastError(
                f"{self.name!r}: stored at schema version {from_version}, but this program knows "
                f"versions 1 to {self.version}; deploy the newer event class before reading"
            )
        for index in range(from_version - 1, self.version - 1):
            try:
                data = self._steps[index](data, metadata)
            except Exception as exc:
                raise UpcastError(
                    f"{self.name!r}: upcaster {index + 1} -> {index + 2} failed: {exc!r}"
                ) from exc
            if not isinstance(data, dict):
                raise UpcastError(
                    f"{self.name!r}: upcaster {index + 1} -> {index + 2} returned "
                    f"{type(data).__name__}, not a dict"
                )
        return data
