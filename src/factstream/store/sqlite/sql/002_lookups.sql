-- Lookups by correlation and by causation (the web console's event detail, the store port's
-- events_by_correlation and events_by_causation).
--
-- The two ids get columns of their own, written by the writer beside the body, and partial
-- indexes on them: an event without the id adds no index entry and costs nothing to check.
-- (Expression indexes over the stored JSON would need no column, but SQLite would parse the
-- body twice for every inserted row, with or without ids: about a third of a CPU-bound
-- append's time.) Rows stored before this migration get their ids copied from the body once.
ALTER TABLE events ADD COLUMN correlation_id TEXT;

ALTER TABLE events ADD COLUMN causation_id TEXT;

UPDATE events
SET correlation_id = json_extract(CAST(body AS TEXT), '$[8]'),
    causation_id = json_extract(CAST(body AS TEXT), '$[9]')
WHERE json_extract(CAST(body AS TEXT), '$[8]') IS NOT NULL
   OR json_extract(CAST(body AS TEXT), '$[9]') IS NOT NULL;

CREATE INDEX events_correlation ON events (correlation_id, position)
WHERE correlation_id IS NOT NULL;

CREATE INDEX events_causation ON events (causation_id, position)
WHERE causation_id IS NOT NULL;
