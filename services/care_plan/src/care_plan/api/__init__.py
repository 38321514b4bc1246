"""HTTP API: one router per resource, the API key, errors as JSON."""
