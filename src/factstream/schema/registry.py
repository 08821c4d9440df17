"""The event registry: stable type names and schema versions for event classes.

A registry is an ordinary object that the composition root builds and passes around; there is
no global registry. Type names are chosen explicitly and never derived from import paths, so a
class can be renamed or moved without breaking the reading of old events.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypeVar, overload

import msgspec

from ..events import NewEvent, RecordedEvent
from .codec import EventCodec, FieldError, MsgspecCodec, codec_for, json_path
from .errors import EventValidationError, RegistrationError, UnknownEventType
from .upcasting import Upcaster, UpcasterChain

__all__ = ["EventRegistry", "EventType", "OnUnknown"]

T = TypeVar("T", bound=type[Any])

OnUnknown: TypeAlias = Literal["raise", "skip", "keep"]
"""What reading does with an event of an unregistered type: raise :class:`UnknownEventType`,
skip it (``None``), or keep it raw (the :class:`RecordedEvent` itself)."""


@dataclasses.dataclass(frozen=True, slots=True)
class EventType:
    """One registered event type.

    Attributes:
        name: the stable type name stored with every event.
        cls: the class events of this type are decoded into.
        version: the current schema version; new events are written at it.
        aliases: former names that are still read as this type.
        codec: encodes and decodes ``cls``.
        chain: the upcasters from version 1 to ``version``.
    """

    name: str
    cls: type[Any]
    version: int
    aliases: tuple[str, ...]
    codec: EventCodec
    chain: UpcasterChain

    @property
    def doc(self) -> str:
        """The class docstring, first paragraph, or ``""``."""
        text = (self.cls.__doc__ or "").strip()
        return text.split("\n\n", 1)[0].strip()


def _is_frozen(cls: type[Any]) -> bool:
    if issubclass(cls, msgspec.Struct):
        return bool(cls.__struct_config__.frozen)
    if dataclasses.is_dataclass(cls):
        return bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    config = getattr(cls, "model_config", {})
    return bool(config.get("frozen"))


class EventRegistry:
    """Maps stable event type names to classes and back, with schema versions and upcasters.

    Example::

        registry = EventRegistry()

        @registry.event("OrderCreated", version=2, upcasters={1: add_currency})
        class OrderCreated(msgspec.Struct, frozen=True):
            order_id: str
            currency: str
    """

    def __init__(self) -> None:
        self._by_name: dict[str, EventType] = {}
        self._by_class: dict[type[Any], EventType] = {}
        # Names (and aliases) of the types msgspec converts; decode_each's fast path.
        self._converted: dict[str, EventType] = {}

    # -- registration ---------------------------------------------------------------------

    def register(
        self,
        cls: T,
        *,
        name: str,
        version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
        aliases: Iterable[str] = (),
    ) -> T:
        """Register ``cls`` under the stable type ``name`` at schema ``version``.

        Args:
            cls: a frozen msgspec Struct, frozen dataclass or frozen pydantic model.
            name: the type name stored with each event; choose it once, never change it.
            version: the current schema version of ``cls`` (1 for a new type).
            upcasters: ``{n: fn}`` with ``fn(data, metadata) -> data`` lifting version n to
                n + 1, for every n from 1 to ``version - 1``.
            aliases: former type names still read as this type (for renamed types).

        Returns:
            ``cls``, so this can be used inline.

        Raises:
            RegistrationError: the name or class is taken, the class is not an immutable event
                class, or an upcaster from some version below ``version`` is missing.
        """
        if not isinstance(name, str) or not name.strip():
            raise RegistrationError(f"an event type name must be a non-empty string: {name!r}")
        names = (name, *aliases)
        for taken in names:
            if taken in self._by_name:
                other = self._by_name[taken].cls.__name__
                raise RegistrationError(f"event type name {taken!r} is already used by {other}")
        if cls in self._by_class:
            raise RegistrationError(
                f"{cls.__name__} is already registered as {self._by_class[cls].name!r}"
            )
        try:
            codec = codec_for(cls)
        except TypeError as exc:
            raise RegistrationError(str(exc)) from None
        if not _is_frozen(cls):
            raise RegistrationError(
                f"{cls.__name__} ({name!r}) must be immutable: declare it frozen "
                "(msgspec.Struct, frozen=True / @dataclass(frozen=True) / frozen model_config)"
            )
        chain = UpcasterChain(name, version, dict(upcasters or {}))
        entry = EventType(name, cls, version, tuple(aliases), codec, chain)
        for taken in names:
            self._by_name[taken] = entry
            if isinstance(codec, MsgspecCodec):
                self._converted[taken] = entry
        self._by_class[cls] = entry
        return cls

    def event(
        self,
        name: str,
        *,
        version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
        aliases: Iterable[str] = (),
    ) -> Callable[[T], T]:
        """Decorator form of :meth:`register`: ``@registry.event("OrderCreated")``."""

        def decorate(cls: T) -> T:
            return self.register(
                cls, name=name, version=version, upcasters=upcasters, aliases=aliases
            )

        return decorate

    # -- lookups --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[EventType]:
        """The registered types, in registration order (each once, aliases aside)."""
        return iter(self._by_class.values())

    def __len__(self) -> int:
        return len(self._by_class)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_name
        return item in self._by_class

    def get(self, name: str) -> EventType | None:
        """The type registered under ``name`` (or an alias), or ``None``."""
        return self._by_name.get(name)

    def type_of(self, event: object) -> EventType:
        """The registered type of an event object or class.

        Raises:
            RegistrationError: its class is not registered.
        """
        cls = event if isinstance(event, type) else type(event)
        entry = self._by_class.get(cls)
        if entry is None:
            raise RegistrationError(
                f"{cls.__name__} is not a registered event class; "
                "register it with registry.register(cls, name=...)"
            )
        return entry

    def name_of(self, event: object) -> str:
        """The stable type name of an event object or class."""
        return self.type_of(event).name

    # -- writing --------------------------------------------------------------------------

    def encode(self, event: object) -> dict[str, Any]:
        """The event's data as a JSON object."""
        return self.type_of(event).codec.encode(event)

    def to_new_event(
        self,
        event: object,
        *,
        id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        correlation_id: str | uuid.UUID | None = None,
        causation_id: str | uuid.UUID | None = None,
    ) -> NewEvent:
        """Wrap a typed event into a :class:`NewEvent` at its type's current schema version.

        Raises:
            RegistrationError: the event's class is not registered.
        """
        entry = self.type_of(event)
        data = entry.codec.encode(event)
        if id is None:
            return NewEvent(
                entry.name,
                data,
                metadata=metadata,
                correlation_id=correlation_id,  # type: ignore[arg-type]  # NewEvent accepts UUIDs
                causation_id=causation_id,  # type: ignore[arg-type]
                schema_version=entry.version,
            )
        return NewEvent(
            entry.name,
            data,
            id=id,
            metadata=metadata,
            correlation_id=correlation_id,  # type: ignore[arg-type]
            causation_id=causation_id,  # type: ignore[arg-type]
            schema_version=entry.version,
        )

    # -- reading --------------------------------------------------------------------------

    def decode_data(
        self,
        type_name: str,
        data: dict[str, Any],
        *,
        schema_version: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        position: int | None = None,
    ) -> object:
        """Decode ``data`` of a registered type, upcasting it from ``schema_version`` first.

        Raises:
            KeyError: ``type_name`` is not registered.
            UpcastError: the version cannot be upcast.
            EventValidationError: the (upcast) data does not match the class; names the field.
        """
        entry = self._by_name[type_name]
        if schema_version is not None and schema_version != entry.version:
            data = entry.chain.upcast(data, metadata or {}, schema_version)
        try:
            return entry.codec.decode(data)
        except FieldError as exc:
            raise EventValidationError(entry.name, exc.path, exc.reason, position) from None

    @overload
    def decode(self, event: RecordedEvent, on_unknown: Literal["raise"] = "raise") -> object: ...

    @overload
    def decode(self, event: RecordedEvent, on_unknown: Literal["skip"]) -> object | None: ...

    @overload
    def decode(self, event: RecordedEvent, on_unknown: OnUnknown) -> object | None: ...

    def decode(self, event: RecordedEvent, on_unknown: OnUnknown = "raise") -> object | None:
        """Decode a stored event into its class, after upcasting to the current version.

        Args:
            event: a stored event.
            on_unknown: for an unregistered type: ``"raise"``, ``"skip"`` (return ``None``) or
                ``"keep"`` (return ``event`` itself, raw).

        Raises:
            UnknownEventType: the type is not registered and ``on_unknown`` is ``"raise"``;
                names the type and the position.
            UpcastError: the stored version cannot be upcast.
            EventValidationError: the data does not match the class; names the field.
        """
        entry = self._by_name.get(event.type)
        if entry is None:
            if on_unknown == "skip":
                return None
            if on_unknown == "keep":
                return event
            raise UnknownEventType(event.type, event.stream_id, event.version, event.position)
        data = event.data
        if event.schema_version != entry.version:
            data = entry.chain.upcast(data, event.metadata, event.schema_version)
        try:
            return entry.codec.decode(data)
        except FieldError as exc:
            raise EventValidationError(entry.name, exc.path, exc.reason, event.position) from None

    def decode_each(
        self, events: Sequence[RecordedEvent], on_unknown: OnUnknown = "raise"
    ) -> list[object | None]:
        """:meth:`decode` of each event, in order (``None`` for a skipped unknown one).

        The same results and errors as calling :meth:`decode` on each, faster: an event of a
        msgspec Struct or dataclass type stored at its current version is converted in place
        (replaying an aggregate is mostly such events); anything else takes :meth:`decode`.
        """
        converted = self._converted
        convert = msgspec.convert
        decoded: list[object | None] = []
        append = decoded.append
        for event in events:
            entry = converted.get(event.type)
            if entry is None or event.schema_version != entry.version:
                append(self.decode(event, on_unknown))
                continue
            try:  # MsgspecCodec.decode, inlined
                append(convert(event.data, entry.cls))
            except msgspec.ValidationError as exc:
                field = json_path(exc)
                raise EventValidationError(
                    entry.name, field.path, field.reason, event.position
                ) from None
        return decoded

    def decode_all(
        self, events: Iterable[RecordedEvent], on_unknown: OnUnknown = "raise"
    ) -> list[object]:
        """Decode many stored events; skipped unknown ones are left out."""
        decoded = []
        for event in events:
            value = self.decode(event, on_unknown)
            if value is not None:
                decoded.append(value)
        return decoded
