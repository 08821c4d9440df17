"""Settings, URL parsing and connections for the PostgreSQL backend."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from ...events import InvalidEvent, UnsupportedUrl

__all__ = [
    "PostgresSettings",
    "channel_name",
    "is_disconnect",
    "lock_key",
    "open_connection",
    "open_pool",
    "quote_ident",
    "settings_from_url",
]


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """How a PostgreSQL store connects and behaves.

    Attributes:
        dsn: the connection URL for asyncpg (without factstream's own query options).
        schema: the schema holding the store's tables; several stores can share a database.
        readers: the most pooled connections used for reads.
        statement_timeout: seconds before the server cancels one of our statements
            (``statement_timeout``); an append waiting that long for its turn fails.
        idle_in_transaction_timeout: seconds before the server ends a session of ours that sits
            idle inside a transaction (``idle_in_transaction_session_timeout``).
        reconnect_timeout: seconds an append or a read keeps retrying after the connection is
            lost before raising ``StoreUnavailable``. Subscriptions retry for ever.
        max_group_requests: the most appends committed in one transaction (group commit).
        max_group_events: the most events committed in one transaction.
        max_pending_appends: appends queued for the writer before callers wait for room.
        poll_interval: seconds between looks for other processes' commits while a subscriber
            waits, whatever the notifications say.
        notify_interval: the shortest time between two NOTIFY wake-ups sent to other processes
            (a commit inside the interval is announced at its end); ``None`` sends none.
        direct_appends: a lone append, with the writer idle and nothing queued, runs its
            statement on the writer's connection from the caller's task (no hand-off to the
            writer task and back); ``False`` sends every append through the writer task.
        migrate: create or upgrade the schema when the store opens.
    """

    dsn: str
    schema: str = "factstream"
    readers: int = 4
    statement_timeout: float = 30.0
    idle_in_transaction_timeout: float = 10.0
    reconnect_timeout: float = 10.0
    max_group_requests: int = 1000
    max_group_events: int = 20_000
    max_pending_appends: int = 10_000
    poll_interval: float = 0.5
    notify_interval: float | None = 0.002
    direct_appends: bool = True
    migrate: bool = True

    def __post_init__(self) -> None:
        check_schema_name(self.schema)


# The settings a URL's query string may carry, with their types.
_OPTION_TYPES: dict[str, type] = {
    "schema": str,
    "readers": int,
    "statement_timeout": float,
    "idle_in_transaction_timeout": float,
    "reconnect_timeout": float,
    "max_group_requests": int,
    "max_group_events": int,
    "max_pending_appends": int,
    "poll_interval": float,
    "notify_interval": float,
    "direct_appends": bool,
}


def settings_from_url(url: str, **options: Any) -> PostgresSettings:
    """Split factstream's options (``?schema=...``, ``readers``, ...) off a PostgreSQL URL.

    Other query parameters (``sslmode``, ...) stay in the URL for asyncpg. Keyword options
    override the URL's.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise UnsupportedUrl(f"{url!r} is not a postgresql:// URL")
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        kind = _OPTION_TYPES.get(key)
        if kind is None:
            theirs.append((key, value))
            continue
        try:
            ours[key] = _flag(value) if kind is bool else kind(value)
        except ValueError:
            raise UnsupportedUrl(
                f"{url!r}: option {key}={value!r} is not a {kind.__name__}"
            ) from None
    dsn = urlunsplit(parts._replace(query=urlencode(theirs)))
    try:
        return PostgresSettings(dsn=dsn, **{**ours, **options})
    except TypeError as exc:
        raise UnsupportedUrl(f"unknown PostgreSQL store option: {exc}") from None


def _flag(value: str) -> bool:
    flag = value.lower()
    if flag in ("true", "1", "yes", "on"):
        return True
    if flag in ("false", "0", "no", "off"):
        return False
    raise ValueError(value)


def check_schema_name(schema: object) -> None:
    if not isinstance(schema, str) or not schema:
        raise InvalidEvent(f"schema must be a non-empty string, got {schema!r}")
    if len(schema.encode()) > 63 or "\x00" in schema:
        raise InvalidEvent(f"schema name {schema!r} is not a valid PostgreSQL identifier")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hash64(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


def lock_key(purpose: str, schema: str) -> int:
    """The advisory lock key of ``purpose`` ("append", "migrate") for ``schema``.

    Every process derives the same key from the schema name, so all appenders to one schema of
    one database serialise on it and nobody else does.
    """
    return _hash64(f"factstream:{purpose}:{schema}")


def channel_name(schema: str) -> str:
    """The LISTEN/NOTIFY channel of a schema's store (at most 63 bytes)."""
    name = f"factstream:{schema}"
    if len(name.encode()) <= 63:
        return name
    return f"factstream:{_hash64(schema) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _server_settings(settings: PostgresSettings, role: str) -> dict[str, str]:
    values = {
        "application_name": f"factstream-{role}",
        "statement_timeout": str(int(settings.statement_timeout * 1000)),
        "idle_in_transaction_session_timeout": str(
            int(settings.idle_in_transaction_timeout * 1000)
        ),
    }
    if role == "writer":
        # append_group's statements have one good plan whatever the arrays hold: skip the
        # custom planning PostgreSQL would otherwise repeat on some calls.
        values["plan_cache_mode"] = "force_generic_plan"
    return values


# Timestamps arrive as microseconds since 2000-01-01, the form RowDecoder wants from 1970.
_PG_EPOCH_MICROS = 946_684_800_000_000


def _timestamp_to_pg(micros: int) -> tuple[int]:
    return (micros - _PG_EPOCH_MICROS,)


def _timestamp_from_pg(value: tuple[int]) -> int:
    return value[0] + _PG_EPOCH_MICROS


async def _init_reader(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_timestamp_to_pg,
        decoder=_timestamp_from_pg,
        format="tuple",
    )


async def open_connection(settings: PostgresSettings, role: str) -> asyncpg.Connection:
    """A direct connection (the writer's, the listener's, a migration's)."""
    return await asyncpg.connect(
        settings.dsn,
        server_settings=_server_settings(settings, role),
        command_timeout=settings.statement_timeout + 5,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: a reader runs single read statements and never changes its session."""


async def open_pool(settings: PostgresSettings) -> asyncpg.Pool:
    """The pool of reader connections; they return ``recorded_at`` as integer microseconds.

    asyncpg resets a pooled connection on every release with a statement of its own
    (``RESET ALL``, ``UNLISTEN *``, ...), a second round trip per read. Readers only ever run
    one ``SELECT`` at a time (no ``SET``, ``LISTEN``, locks or cursors), so there is nothing to
    reset; an open transaction, which a cancelled read could leave, is still rolled back by
    asyncpg before the ``reset`` hook runs.
    """
    return await asyncpg.create_pool(
        settings.dsn,
        min_size=1,
        max_size=settings.readers,
        server_settings=_server_settings(settings, "reader"),
        command_timeout=settings.statement_timeout + 5,
        init=_init_reader,
        reset=_keep_session,
    )


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached or the connection was lost.

    Such failures are retried: after one, the statement either committed whole or not at all.
    """
    if isinstance(
        exc,
        (
            OSError,  # refused, reset, unreachable
            TimeoutError,  # connect or command timeout: the connection is dropped
            asyncpg.PostgresConnectionError,  # class 08, and "connection was closed mid-way"
            asyncpg.AdminShutdownError,  # 57P01: terminated or server shutting down
            asyncpg.CrashShutdownError,  # 57P02
            asyncpg.CannotConnectNowError,  # 57P03: starting up or in recovery
            asyncpg.TooManyConnectionsError,  # 53300
            # asyncpg's state after the server ended an idle connection (a FATAL message
            # arrived between queries): the connection is unusable, the next one is fine.
            asyncpg.exceptions._base.InternalClientError,
        ),
    ):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
