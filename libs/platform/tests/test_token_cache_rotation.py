"""The verified-token cache (web/auth.py) and a key the issuer withdrew."""

from __future__ import annotations

import pytest

from libs.platform.tests.conftest import ISSUER, rs256_tokens
from libs.platform.web.auth import Authenticator, Unauthenticated


def test_a_token_of_a_withdrawn_key_is_refused_once_the_new_key_set_is_fetched(rotating_issuer) -> None:
    """The issuer rotates k1 -> k2 (k1 withdrawn, e.g. compromised). A token with kid k2 makes the
    client fetch the new set; from then on a fresh check refuses a k1 token (no such key). The
    verified-token cache still answered the k1 token it verified before, until the old set's
    lifespan ended (keys_until was fixed when it was verified)."""
    keys, url, state = rotating_issuer
    token = rs256_tokens(keys)
    auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer=ISSUER,
                         jwks_cache_seconds=3600, jwks_refresh_seconds=0)
    old = token("k1")
    assert auth.principal(old).sub == "u1"  # verified, and cached
    state["published"] = ["k2"]  # the rotation: k1 withdrawn
    assert auth.principal(token("k2")).sub == "u1"  # unknown kid: the new set is fetched
    with pytest.raises(Unauthenticated):
        auth._verify(old.split(" ", 1)[1])  # checked in full, the old token is refused now...
    with pytest.raises(Unauthenticated):
        auth.principal(old)  # ...and so must it be through the cache
