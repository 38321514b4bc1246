"""Kafka side of the service: topics, the domain-event mapping and the booking responder."""
