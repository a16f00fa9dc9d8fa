"""Pure domain model: no SQL, HTTP or Kafka here."""
