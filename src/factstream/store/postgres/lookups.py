"""The SQL of the PostgreSQL store's lookups: streams, an event by id or position, the events
of a correlation or a cause, each on an index (``sql/001_events.sql``, ``sql/002_lookups.sql``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import Link
from .connection import quote_ident
from .statements import _COLUMNS  # the columns RowDecoder.event takes, in its order

__all__ = ["Lookups"]


@dataclass(frozen=True, slots=True)
class Lookups:
    list_streams: dict[tuple[bool, bool], str]
    """By ``(strict, bounded)``: see ``store.catalog.listing_bounds``."""
    by_id: str
    by_position: str
    linked: dict[Link, str]

    @classmethod
    def for_schema(cls, schema: str) -> Lookups:
        events = f"{quote_ident(schema)}.events"

        def listing(strict: bool, bounded: bool) -> str:
            # $1 the lower bound, $2 the prefix, $3 the limit, $4 the upper bound. GROUP BY
            # walks the (stream_id, version) index in order and stops after `limit` groups;
            # starts_with keeps the answer right whatever the database's collation (the range
            # makes it fast; with a C collation it is exact).
            lower = ">" if strict else ">="
            upper = "AND stream_id < $4 " if bounded else ""
            return (
                f"SELECT {', '.join('e.' + c for c in _COLUMNS.split(', '))} FROM ("
                f"SELECT stream_id, max(version) AS version FROM {events} "
                f"WHERE stream_id {lower} $1 {upper}AND starts_with(stream_id, $2) "
                "GROUP BY stream_id ORDER BY stream_id LIMIT $3) AS g "
                f"JOIN {events} AS e ON e.stream_id = g.stream_id AND e.version = g.version "
                "ORDER BY g.stream_id"
            )

        def linked(link: Link) -> str:
            return (
                f"SELECT {_COLUMNS} FROM {events} WHERE {link}_id = $1 AND position >= $2 "
                "ORDER BY position LIMIT $3"
            )

        return cls(
            list_streams={
                (strict, bounded): listing(strict, bounded)
                for strict in (True, False)
                for bounded in (True, False)
            },
            by_id=f"SELECT {_COLUMNS} FROM {events} WHERE id = $1",
            by_position=f"SELECT {_COLUMNS} FROM {events} WHERE position = $1",
            linked={"correlation": linked("correlation"), "causation": linked("causation")},
        )
