"""Attack (h-attack): the verified-token cache against a key rotation that lands while a token is
being verified. Authenticator.principal read `keys_until = self._jwks.fresh_until()` after
_verify: when another request (a token with the new kid) fetched the rotated key set in between,
the token just checked with the withdrawn key was cached as fresh as the *new* set, and _same_keys
then agreed with it: the withdrawn key's token was recalled for the whole new lifespan, while a
full check refuses it at once. Fixed: the set's freshness is read with the key (IssuerKeys.signing_key)."""

from __future__ import annotations

import threading
import time

import pytest

from libs.platform.tests.conftest import ISSUER, rs256_tokens
from libs.platform.web.auth import Authenticator, Unauthenticated


def test_a_rotation_during_a_check_does_not_cache_the_withdrawn_keys_token_as_fresh(rotating_issuer) -> None:
    keys, url, state = rotating_issuer
    token = rs256_tokens(keys)

    class Interleaved(Authenticator):
        """Another request, with a token of the new key, runs to its end while this one's check of
        a k1 token is between its signature check and its caching (as two threadpool threads can)."""

        raced = False

        def _decode(self, token_: str) -> tuple[dict, float]:
            claims_ = super()._decode(token_)
            if not self.raced:
                self.raced = True
                state["published"] = ["k2"]  # the rotation: k1 withdrawn
                other = threading.Thread(target=lambda: self.principal(token("k2")))
                other.start()
                other.join()
            return claims_

    auth = Interleaved(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer=ISSUER,
                       jwks_cache_seconds=3600, jwks_refresh_seconds=0)
    old = token("k1")
    auth.principal(old)  # checked while k1 was published (the request was already in flight)
    with pytest.raises(Unauthenticated):
        auth.principal(old)  # the cache must refuse it as a full check does (below)
    fresh = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer=ISSUER)
    with pytest.raises(Unauthenticated):
        fresh.principal(old)


def test_right_after_a_valid_token_is_cached_its_variants_are_each_refused(rotating_issuer) -> None:
    """Held: an expired token, the cached token with one signature byte changed (in the middle,
    where base64 has no spare bits), a token of another audience or issuer, each refused even
    though a token of the same subject was just recalled from the cache."""
    keys, url, _ = rotating_issuer
    token = rs256_tokens(keys)
    auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer=ISSUER)
    good = token()
    assert auth.principal(good) is auth.principal(good)
    middle = len(good) - 100
    flipped = good[:middle] + ("A" if good[middle] != "A" else "B") + good[middle + 1:]
    now = int(time.time())
    for bad in (token(iat=now - 700, exp=now - 100), flipped, token(aud="another-app"),
                token(iss="https://evil.example"), good + "A", good.lower()):
        with pytest.raises(Unauthenticated):
            auth.principal(bad)
        assert auth.principal(good).sub == "u1"
