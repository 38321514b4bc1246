"""The careplan command: starts Kafka (KRaft), PostgreSQL, moto and the services on one machine."""
