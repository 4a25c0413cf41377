"""One SSL context for the httpx clients a process makes.

httpx builds a new SSL context for every Client (and every `httpx.get`), loading certifi's bundle:
~80 ms of CPU each on a 2-core machine, though our clients mostly talk plain http on loopback (a
health poll every 0.1 s spent most of a core on it; the test suite's 499 cases of one test, ~40 s).
Pass `verify=tls()`: the same verification, built once (an SSLContext is safe to share between
threads).
"""

from __future__ import annotations

import functools
import ssl

import certifi


@functools.cache
def tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())
