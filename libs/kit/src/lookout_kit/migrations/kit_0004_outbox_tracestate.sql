-- The W3C tracestate beside the traceparent: the relay's producer span continues both (a nullable
-- column without a default: a catalogue change, no table rewrite).
ALTER TABLE outbox ADD COLUMN tracestate TEXT;
