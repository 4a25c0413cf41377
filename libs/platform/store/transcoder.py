"""Encoding a stored event's state: eventsourcing's JSONTranscoder, byte for byte, faster (issue 15).

The library's encoder calls back into Python (`default`) for every value JSON cannot write itself
(a UUID, a datetime, a date, a Decimal: four in a consultation's event) and then writes the
`{"_type_": ..., "_data_": ...}` object the callback returned. An event's state is a dict whose
values are mostly such scalars, so `TopLevelTranscoder` transcodes the dict's own values of a
registered type before the encoder sees it: the encoder writes the very same object at the same
place, without the callbacks (an import encodes 500 events). Nested values are left to the
callback as before. A type JSON writes natively (a str, an int, a dict ...) is never transcoded
ahead, since the encoder would not have called back for it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Transcoder, Transcoding

# What the json module writes without calling `default` (bool is an int).
_NATIVE = (str, int, float, list, tuple, dict, type(None))


class TopLevelTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        self._ahead: dict[type, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if not issubclass(transcoding.type, _NATIVE):
            self._ahead[transcoding.type] = transcoding
        else:
            self._ahead.pop(transcoding.type, None)

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict:
            ahead = self._ahead
            state: dict[Any, Any] = {}
            plain = True  # so far, whether orjson writes it as json does (module docstring)
            for k, v in obj.items():
                if (t := ahead.get(type(v))) is not None:
                    if type(t) is DatetimeAsISO and ((zone := v.tzinfo) is None or zone is UTC):
                        # v.isoformat(), by orjson: the same text for UTC or no zone (not for an
                        # offset in seconds), in a fifth of the time (two instants in every event).
                        v = {"_type_": t.name, "_data_": orjson.dumps(v)[1:-1].decode()}
                    else:
                        v = {"_type_": t.name, "_data_": t.encode(v)}
                    plain = plain and _plain(v["_data_"], 1)
                else:
                    plain = plain and _plain(v, 1)
                plain = plain and type(k) is str
                state[k] = v
            if plain:
                try:
                    return orjson.dumps(state)
                except orjson.JSONEncodeError:
                    pass  # the json module's error (or its output), as before
            obj = state
        return self.encoder.encode(obj).encode("utf8")


_ATOMS = frozenset({str, bool, type(None)})


def _plain(value: Any, depth: int) -> bool:
    """Whether orjson writes `value` exactly as the json module does (module docstring); not past
    a few levels (a circular state is the json module's ValueError, as before). Loops, not all():
    called for every value of every event saved."""
    kind = type(value)
    if kind in _ATOMS:
        return True
    if kind is int:
        return -(2**63) <= value < 2**64
    if depth > _DEEPEST:
        return False
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) not in _ATOMS and not _plain(v, depth + 1)):
                return False
        return True
    if kind is list:
        for v in value:  # noqa: SIM110 - not all(generator): called for every value of every event saved
            if type(v) not in _ATOMS and not _plain(v, depth + 1):
                return False
        return True
    return False


_DEEPEST = 16


class TopLevelTranscoding:
    """The Application mixin that stores events with a TopLevelTranscoder (when the factory would
    have made the library's JSONTranscoder)."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = self.factory.transcoder()  # type: ignore[attr-defined]  # the Application's
        if type(transcoder) is JSONTranscoder:
            transcoder = TopLevelTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)  # type: ignore[attr-defined]  # the Application's
        return transcoder
