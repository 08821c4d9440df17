"""Opening a store from a URL."""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..events import UnsupportedUrl
from .base import StoreBase

__all__ = ["connect"]


class _Connecting:
    """What :func:`connect` returns: await it for a store, or use it with ``async with``."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._store: StoreBase | None = None

    def __await__(self) -> Generator[Any, None, StoreBase]:
        return _open(self._url, self._options).__await__()

    async def __aenter__(self) -> StoreBase:
        self._store = await _open(self._url, self._options)
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


def connect(url: str, **options: Any) -> _Connecting:
    """Open the event store at ``url``.

    URLs:
        ``memory://``: a new, empty in-memory store.
        ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``: a SQLite file, created
        if missing. Query options: ``synchronous=full|normal``, ``readers=N``.
        ``postgresql://user@host:port/db``: PostgreSQL (extra ``postgres``). Query option
        ``schema=NAME``.

    Keyword options go to the backend's ``open`` and override the URL's query options.
    ``inline=[projection, ...]`` (SQLite, PostgreSQL) keeps those projections' read models in
    the store's file or schema, updated in the same transaction as each append (see
    ``docs/read-side.md``).

    Raises:
        UnsupportedUrl: the URL's scheme or form is not one of the above.
    """
    if not isinstance(url, str):
        raise UnsupportedUrl(f"connect() needs a URL string, got {type(url).__name__}")
    return _Connecting(url, options)


async def _open(url: str, options: dict[str, Any]) -> StoreBase:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query: dict[str, Any] = dict(parse_qsl(parts.query))
    inline = options.pop("inline", None)
    if inline and scheme not in ("sqlite", "postgresql", "postgres"):
        raise UnsupportedUrl(f"{url!r}: inline projections need a SQLite or PostgreSQL store")
    if scheme == "memory":
        from .memory import MemoryEventStore

        return await MemoryEventStore.open(**options)
    if scheme == "sqlite":
        from .sqlite import SqliteEventStore

        if parts.netloc:
            raise UnsupportedUrl(
                f"{url!r}: a SQLite URL has no host; use sqlite:///relative.db "
                "or sqlite:////absolute/path.db"
            )
        path = unquote(parts.path)
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise UnsupportedUrl(f"{url!r}: no file path; use sqlite:///events.db")
        if "synchronous" in query:
            query["synchronous"] = str(query["synchronous"]).upper()
        for name in ("readers", "max_group_requests", "max_pending_appends"):
            if name in query:
                query[name] = _int_option(url, name, query[name])
        for name in ("busy_timeout", "poll_interval"):
            if name in query:
                query[name] = _float_option(url, name, query[name])
        if "direct_commits" in query:
            query["direct_commits"] = _bool_option(url, "direct_commits", query["direct_commits"])
        if not inline:
            return await SqliteEventStore.open(path, **{**query, **options})
        # The read side (a layer above) builds the writer's hook; loaded only when asked for.
        from ..projections.inline import InlineProjections

        projections = InlineProjections(path, inline)
        await projections.prepare()
        store = await SqliteEventStore.open(
            path, **{**query, **options, "on_commit_rows": projections}
        )
        return await _caught_up(store, projections)
    if scheme in ("postgresql", "postgres"):
        try:
            from .postgres import PostgresEventStore
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UnsupportedUrl(
                "PostgreSQL needs the 'postgres' extra: pip install 'factstream[postgres]'"
            ) from exc
        if not inline:
            return await PostgresEventStore.open(url, **options)
        from ..projections.inline_postgres import PostgresInlineProjections
        from .postgres.connection import settings_from_url

        settings = settings_from_url(url, **{k: v for k, v in options.items() if k != "limits"})
        pg_projections = PostgresInlineProjections(settings.dsn, settings.schema, inline)
        # The store first: it creates the schema the read models go in.
        pg_store = await PostgresEventStore.open(url, **options, on_commit_rows=pg_projections)
        try:
            await pg_projections.prepare()
        except BaseException:
            await pg_store.close()
            raise
        return await _caught_up(pg_store, pg_projections)
    raise UnsupportedUrl(
        f"{url!r}: unknown store URL scheme {parts.scheme!r}; "
        "use memory://, sqlite:///path.db or postgresql://..."
    )


async def _caught_up(store: StoreBase, projections: Any) -> StoreBase:
    """``store`` once the inline ``projections`` hold what its log held when it opened."""
    try:
        await projections.catch_up(store)
    except BaseException:
        await store.close()
        raise
    return store


def _int_option(url: str, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UnsupportedUrl(f"{url!r}: option {name} must be an integer, got {value!r}") from None


def _bool_option(url: str, name: str, value: str) -> bool:
    flag = value.lower()
    if flag in ("true", "1", "yes", "on"):
        return True
    if flag in ("false", "0", "no", "off"):
        return False
    raise UnsupportedUrl(f"{url!r}: option {name} must be true or false, got {value!r}")


def _float_option(url: str, name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UnsupportedUrl(f"{url!r}: option {name} must be a number, got {value!r}") from None
