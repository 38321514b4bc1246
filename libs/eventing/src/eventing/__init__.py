"""CloudEvents over Kafka, outbox, relay, inbox and a consumer runner with a dead-letter topic."""
