"""`make soak` in its CI size: a few hundred commands from concurrent clients to the four services
running as real processes on PostgreSQL, while every service is killed with SIGKILL, nats-server is
killed, the database drops every connection, a service is stopped with SIGSTOP, and on a 3-node
cluster a stream leader and the meta leader are killed. Nothing accepted may be lost, nothing
duplicated, nothing left stuck (soak/ says how each is checked)."""

from __future__ import annotations

import pytest

from tests.harness import backend

pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(backend() != "postgresql", reason="the soak runs on PostgreSQL: the suite's PostgreSQL run has it"),
]


def test_a_short_soak_loses_duplicates_and_strands_nothing(capsys):
    from soak.__main__ import main

    code = main(["--short"])
    table = capsys.readouterr().out
    assert code == 0, table
