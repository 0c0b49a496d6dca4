"""The dashboard service's pydantic models: the document a dashboard shows, and the API's bodies."""
