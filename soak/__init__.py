"""`make soak`: load on real processes while they are killed, paused and cut off (DESIGN §8).

The four services run as uvicorn processes on PostgreSQL (fresh schemas per run) with a
nats-server of their own (one node, then a 3-node loopback cluster with R3 streams); concurrent
clients post commands with Idempotency-Keys while faults are injected one after the other; after
each fault the soak measures how long the system took to be ready with no lag anywhere, and
checks that every accepted command was stored once, published once and counted once.
"""
