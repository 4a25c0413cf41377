"""Developer and operator tools: the `tsunagu` CLI, the launcher, demo data, embedded nats-server, documents."""
