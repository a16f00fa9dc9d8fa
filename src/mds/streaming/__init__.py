"""Propagation: outbox relay, change-feed sequencing, Kafka ingestion workers, Debezium."""
