"""The embedded nats-server knows it listens by its own ports file, not by an answer on its port."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.platform.tools.natsserver import EmbeddedNats, answers


def test_a_server_whose_picked_port_another_holds_starts_on_another_port_and_is_its_own(tmp_path: Path):
    """With test processes side by side, the port picked before the server binds it can be taken
    by another's server by then: something answers there, but not ours (ours exited)."""
    ours = EmbeddedNats(tmp_path / "ours")
    squatter = EmbeddedNats(tmp_path / "squatter", port=ours.port)
    squatter.start()
    try:
        taken = ours.port
        ours.start()
        try:
            assert ours.port != taken
            assert ours.proc is not None and ours.proc.poll() is None
            assert answers(ours.url)
            ours.stop()  # a restart takes the port it ran on
            ours.start()
            assert ours.port != taken and answers(ours.url)
        finally:
            ours.stop()
    finally:
        squatter.stop()


def test_a_server_told_its_port_fails_when_another_holds_it(tmp_path: Path):
    holder = EmbeddedNats(tmp_path / "holder")
    holder.start()
    try:
        told = EmbeddedNats(tmp_path / "told", port=holder.port)
        with pytest.raises(RuntimeError, match="exited"):
            told.start()
        assert told.proc is None
    finally:
        holder.stop()
