"""Reading a stream back waits out a consumer that has no leader yet (a cluster)."""

from __future__ import annotations

import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError

from libs.platform.messaging.replay import _drain


class _Msg:
    def __init__(self, seq: int) -> None:
        self.data = f"{seq}".encode()
        self.metadata = type("M", (), {"sequence": type("S", (), {"stream": seq})(), "num_pending": 3 - seq,
                                       "timestamp": None})()


class _Sub:
    """A pull subscription whose consumer gets its leader after two pulls."""

    def __init__(self, answers: list) -> None:
        self.answers = answers

    async def fetch(self, batch: int, timeout: float) -> list:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_a_read_waits_for_the_leader_of_a_consumer_made_a_moment_ago():
    sub = _Sub([ServiceUnavailableError(), ServiceUnavailableError(), [_Msg(1), _Msg(2), _Msg(3)]])
    assert await _drain(sub, last=3, until=None) == [b"1", b"2", b"3"]


async def test_a_consumer_that_never_gets_a_leader_fails_the_read_instead_of_returning_too_little():
    sub = _Sub([ServiceUnavailableError()] * 100)
    with pytest.raises(ServiceUnavailableError):
        await _drain(sub, last=3, until=None, leader_wait=0.3)


async def test_an_empty_read_is_still_the_end():
    assert await _drain(_Sub([NatsTimeout()]), last=0, until=None) == []
