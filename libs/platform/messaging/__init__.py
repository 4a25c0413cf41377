"""The bus: NATS connection, the CloudEvents codec, streams, the relay (outbox) and the consumer runner."""
