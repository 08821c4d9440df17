"""The SQL of the SQLite store's lookups: streams, an event by id or position, the events of a
correlation or a cause. Each runs on an index (``sql/001_events.sql``, ``sql/002_lookups.sql``).
"""

from __future__ import annotations

import functools

from ..base import Link

__all__ = ["BY_ID", "BY_POSITION", "LINKED", "list_streams"]


@functools.cache
def list_streams(strict: bool, bounded: bool) -> str:
    """Streams ``>`` (``strict``) or ``>=`` the first ``?``, ``<`` the second when
    ``bounded``, the last ``?`` of them (see ``store.catalog.listing_bounds``).

    GROUP BY walks the (stream_id, version) index in order and stops after ``limit`` groups;
    each group's newest row is then found by the same index. Text compares as bytes (BINARY),
    which for UTF-8 is code point order.
    """
    lower = ">" if strict else ">="
    upper = "AND stream_id < ? " if bounded else ""
    return (
        "SELECT e.body FROM ("
        "SELECT stream_id, max(version) AS version FROM events "
        f"WHERE stream_id {lower} ? {upper}"
        "GROUP BY stream_id ORDER BY stream_id LIMIT ?) AS g "
        "JOIN events AS e ON e.stream_id = g.stream_id AND e.version = g.version "
        "ORDER BY g.stream_id"
    )


BY_ID = "SELECT body FROM events WHERE id = ?"
BY_POSITION = "SELECT body FROM events WHERE position = ?"
# The partial indexes of sql/002_lookups.sql serve these (the column is not NULL when equal).
LINKED: dict[Link, str] = {
    "correlation": (
        "SELECT body FROM events WHERE correlation_id = ? "
        "AND position >= ? ORDER BY position LIMIT ?"
    ),
    "causation": (
        "SELECT body FROM events WHERE causation_id = ? AND position >= ? ORDER BY position LIMIT ?"
    ),
}
