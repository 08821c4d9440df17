-- Lookups by correlation and by causation (the web console's event detail, the store port's
-- events_by_correlation and events_by_causation). Expression indexes over the stored body, so
-- the writer inserts nothing new: SQLite computes the two keys when it inserts the row.
-- Partial: events without the id add no index entry. Queries must repeat the expressions
-- exactly (store/sqlite/lookups.py) for SQLite to use these indexes.
CREATE INDEX events_correlation ON events (json_extract(CAST(body AS TEXT), '$[8]'), position)
WHERE json_extract(CAST(body AS TEXT), '$[8]') IS NOT NULL;

CREATE INDEX events_causation ON events (json_extract(CAST(body AS TEXT), '$[9]'), position)
WHERE json_extract(CAST(body AS TEXT), '$[9]') IS NOT NULL;
