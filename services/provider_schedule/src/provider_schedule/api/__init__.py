"""The HTTP API: routes per resource, authentication, error mapping and request metrics."""
