"""Reading a stream back waits out a consumer that has no leader yet (a cluster), and one that
has nothing to give for a while although the stream holds more (a replica catching up, a busy
server): a short read would say that published events are missing."""

from __future__ import annotations

import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError

from libs.platform.messaging.replay import IncompleteRead, _drain


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


async def test_a_pull_that_times_out_before_the_streams_last_message_is_not_the_end():
    sub = _Sub([[_Msg(1)], NatsTimeout(), NatsTimeout(), [_Msg(2), _Msg(3)]])
    assert await _drain(sub, last=3, until=None) == [b"1", b"2", b"3"]


async def test_a_read_that_gets_no_further_fails_instead_of_returning_too_little():
    sub = _Sub([[_Msg(1)], *[NatsTimeout()] * 100])
    with pytest.raises(IncompleteRead, match="up to stream sequence 1 of 3"):
        await _drain(sub, last=3, until=None, read_wait=0.0)


async def test_a_read_from_past_the_last_message_is_empty_at_once():
    assert await _drain(_Sub([]), last=3, until=None, first=4) == []


async def test_a_whole_stream_whose_tail_was_deleted_ends_with_the_messages_it_holds():
    assert await _drain(_Sub([[_Msg(1), _Msg(2)]]), last=3, until=None, held=2) == [b"1", b"2"]
