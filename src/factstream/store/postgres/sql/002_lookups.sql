-- Lookups by correlation and by causation (the web console's event detail, the store port's
-- events_by_correlation and events_by_causation). Partial: events without the id add nothing.
-- Built inside the migration's transaction, so appends wait while an existing log is indexed.
CREATE INDEX events_correlation_id ON __schema__.events (correlation_id, position)
WHERE correlation_id IS NOT NULL;

CREATE INDEX events_causation_id ON __schema__.events (causation_id, position)
WHERE causation_id IS NOT NULL;
