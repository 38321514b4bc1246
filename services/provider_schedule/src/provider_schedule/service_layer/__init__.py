"""Use cases: load under the right locks, ask the domain, save, publish through the outbox."""
