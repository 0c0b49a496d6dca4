-- depends: 0002_query_executions
-- The retention of query_executions (service/execution_retention.py) deletes by age and marks
-- executions lost by a replica that stopped: both look rows up by started_at.
CREATE INDEX idx_query_executions_started ON query_executions (started_at);
