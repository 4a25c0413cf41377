"""Bearer-token authentication: OAuth2 JWTs with `sub`, `org` and `roles` claims.

Embedded default: HS256 tokens signed with the local dev key (`tsunagu token` mints them).
Production: set TSUNAGU_JWKS_URL to an OIDC issuer's JWKS and tokens are checked against it, for
the issuer TSUNAGU_JWT_ISSUER and the audience TSUNAGU_JWT_AUDIENCE (settings refuse JWKS without
both outside dev and test).

JWKS mode fetches the issuer's key set once and keeps it `JWKS_CACHE_SECONDS`; a token signed by
a key it does not know (the issuer rotated its keys) fetches the set again at once, but at most
once every TSUNAGU_JWKS_REFRESH_SECONDS (default 30): a stream of tokens with made-up key ids
cannot turn the service into a load on the issuer, and a rotated key is taken within that
interval without a restart (tests/e2e/test_oidc_issuer.py, against a real OIDC provider). While
the issuer cannot be reached, the last key set it published goes on checking tokens for up to
STALE_KEYS_SECONDS and the issuer is asked again at most once per that interval; without any key
set the answer is 503 `issuer-unavailable`, not 401 (the token may be good).

Every token must carry `iat` and `exp`, and live at most `max_lifetime` seconds (exp - iat,
TSUNAGU_JWT_MAX_LIFETIME_SECONDS, default 24 h): a token that would stay good for years when it
leaks is refused. A token that names a role this system does not know is refused (401: it was
made for something else), and so is one whose roles must not be held together (403).

Roles that must not combine. Each role belongs to one of these groups, and a token's roles all
come from one group:
- operational, the local governments' own work: `centre_staff`, `municipal_officer`,
  `prefecture_officer`;
- oversight, who checks that work and must not be the one checked: `auditor`, `auditor_pii`,
  and the national `ministry`;
- `supporter` alone: a volunteer who is given one person's details by a dispatch, and whose own
  registration is personal data; with any other role it would reach other supporters' or other
  persons' data (issue 14: `[auditor, supporter]` read any supporter's details);
- `operator` alone: runs the service (dead letters, readiness), sees no one's data;
So `[auditor, auditor_pii]` and `[centre_staff, municipal_officer]` (a municipal window) are fine;
`[ministry, prefecture_officer]`, `[auditor, centre_staff]`, `[operator, auditor]` are refused.

`portal` and `integrator` are no roles of the HTTP APIs (NOT_API_ROLES), refused as unknown (401)
in every service with the reason: a portal acts for a person of a local government and sends
that person's own token (their `sub`, `org` and role, so that every action is theirs, bounded by
their jurisdiction), or reads the open directory `/public/v1` without one; a portal-wide role would
act across organisations in nobody's name. An integrator reads the streams with its own NATS user
(deploy/nats/accounts.conf, examples/integrator/), not the HTTP APIs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from libs.domain.errors import DomainError
from libs.platform.lru import Lru
from libs.platform.settings import DEFAULT_JWKS_REFRESH_SECONDS, Settings

log = logging.getLogger(__name__)

ROLE_GROUPS: dict[str, frozenset[str]] = {
    "operational": frozenset({"centre_staff", "municipal_officer", "prefecture_officer"}),
    "oversight": frozenset({"auditor", "auditor_pii", "ministry"}),
    "supporter": frozenset({"supporter"}),
    "operator": frozenset({"operator"}),
}
# Names a token may carry that are no roles of the HTTP APIs, refused with the reason.
NOT_API_ROLES: dict[str, str] = {
    "portal": "a portal sends the token of the person it acts for (their own role and org), or reads "
              "/public/v1 without a token",
    "integrator": "an integrator reads the streams with its NATS user, not the HTTP APIs",
}
ROLES = frozenset().union(*ROLE_GROUPS.values())
ISSUER = "tsunagu-dev"
DEFAULT_MAX_LIFETIME = 24 * 3600
# The longest Authorization header looked at: real tokens are a few KiB at most.
MAX_TOKEN_CHARS = 8192
ALGORITHMS_JWKS = ["RS256", "ES256", "EdDSA"]
# A key the issuer withdrew is refused at the latest this long after (the cached set expires).
JWKS_CACHE_SECONDS = 300.0
# The key set is fetched while a request waits (also in the edge's rate limiter, on the event
# loop): an issuer that hangs must not hold the service for PyJWT's default 30 s.
JWKS_TIMEOUT_SECONDS = 5.0


class Unauthenticated(DomainError):
    problem = "unauthenticated"
    title = "A valid bearer token is required"
    status = 401

    def __init__(self, detail: str, *, missing: bool = False, **extensions: object) -> None:
        super().__init__(detail, **extensions)
        # RFC 6750 §3: the challenge, with error="invalid_token" unless no token was sent at all.
        self.headers = {"WWW-Authenticate": 'Bearer realm="tsunagu"' + ("" if missing else ', error="invalid_token"')}


class NotAllowed(DomainError):
    problem = "forbidden"
    title = "Your role does not allow this"
    status = 403


class IssuerUnavailable(DomainError):
    """The issuer's key set could not be fetched: the token may well be good, so not 401 (a client
    told 401 would throw it away and ask the issuer, already in trouble, for another)."""
    problem = "issuer-unavailable"
    title = "The token issuer's keys cannot be fetched now"
    status = 503


class RolesConflict(DomainError):
    problem = "roles-conflict"
    title = "The token holds roles that must not be held together"
    status = 403


def role_problems(roles: list[str] | set[str] | frozenset[str]) -> tuple[list[str], list[str]]:
    """(unknown roles, groups mixed): both empty for an acceptable set of roles."""
    unknown = sorted(set(roles) - ROLES)
    groups = sorted({g for g, members in ROLE_GROUPS.items() if members & set(roles)})
    return unknown, groups if len(groups) > 1 else []


@dataclass(frozen=True)
class Principal:
    sub: str
    org: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise NotAllowed(f"needs one of the roles: {', '.join(sorted(roles))}")


# While the issuer cannot be reached, the last key set it published keeps checking tokens for at
# most this long after it was fetched (a withdrawn key is honoured that long in an outage).
STALE_KEYS_SECONDS = 3600.0


class IssuerKeys(jwt.PyJWKClient):
    """PyJWT's JWKS client that rides out an issuer outage: a failed fetch answers with the last
    key set fetched (up to STALE_KEYS_SECONDS old) and is not tried again for `retry_seconds`, so
    that requests in between are checked at once, or refused at once as IssuerUnavailable when
    there is no such set, instead of each waiting for the network."""

    def __init__(self, uri: str, *, retry_seconds: float, lifespan: float, **options: Any) -> None:
        super().__init__(uri, lifespan=lifespan, **options)
        self._retry_seconds = retry_seconds
        self._lifespan = lifespan
        self._last: tuple[float, Any] | None = None  # (fetched at, key set)
        self._failed_at: float | None = None

    def fetch_data(self) -> Any:
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < self._retry_seconds:
            return self._stale_or_raise(now, "not asked again yet after a failed fetch")
        try:
            data = super().fetch_data()
        except jwt.PyJWKClientConnectionError as e:
            self._failed_at = now
            log.warning("the issuer's keys cannot be fetched: %s", e)
            return self._stale_or_raise(now, str(e))
        self._failed_at = None
        self._last = (now, data)
        return data

    def signing_key(self, token: str) -> tuple[Any, float]:
        with self._client_lock:
            return self.get_signing_key_from_jwt(token).key, self.fresh_until()

    def fresh_until(self) -> float:
        """Until when (time.monotonic) the key set last fetched is used without asking the issuer
        again: a key the issuer withdrew is refused at the latest then."""
        return self._last[0] + self._lifespan if self._last is not None else 0.0

    def _stale_or_raise(self, now: float, why: str) -> Any:
        if self._last is not None and now - self._last[0] <= STALE_KEYS_SECONDS:
            return self._last[1]
        raise jwt.PyJWKClientConnectionError(f"the issuer's keys: {why}")


# Where the edge leaves the outcome of reading a request's token (libs/platform/web/edge.py).
_AUTHENTICATION = "tsunagu.authentication"


def remember_authentication(scope: MutableMapping[str, Any], outcome: Principal | DomainError) -> None:
    """The edge read this request's token already (for its rate limits): the route takes that
    outcome instead of checking the signature, and maybe fetching the issuer's keys, again."""
    scope[_AUTHENTICATION] = outcome


def recalled_authentication(scope: Mapping[str, Any]) -> Principal | None:
    """The principal the edge found for this request, or the refusal it met raised again; None
    when the edge did not read the token."""
    outcome = scope.get(_AUTHENTICATION)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome if isinstance(outcome, Principal) else None


def mint_token(secret: str, *, sub: str, org: str, roles: list[str], ttl_seconds: int = 8 * 3600) -> str:
    unknown, groups = role_problems(roles)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(unknown)}")
    if groups:
        raise ValueError(f"roles of {' and '.join(groups)} must not be held together")
    now = int(time.time())
    claims = {"sub": sub, "org": org, "roles": roles, "iss": ISSUER, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


# Tokens verified recently, kept by the token string: a portal sends the same token with every
# request for hours, and checking its signature and claims each time was most of what
# authentication cost. Bounded (least recently used forgotten), successes only.
VERIFIED_TOKENS = 4096


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    exp: float  # the token's own expiry (time.time()): refused from then on, like a fresh check
    keys_until: float  # time.monotonic(): JWKS mode, until the key set it was checked with is due again


class Authenticator:
    def __init__(self, *, secret: str, jwks_url: str | None = None, audience: str | None = None,
                 issuer: str | None = None, max_lifetime: int = DEFAULT_MAX_LIFETIME,
                 jwks_refresh_seconds: float = DEFAULT_JWKS_REFRESH_SECONDS,
                 jwks_cache_seconds: float = JWKS_CACHE_SECONDS) -> None:
        self._secret = secret
        self._jwks = IssuerKeys(
            jwks_url, retry_seconds=jwks_refresh_seconds, lifespan=jwks_cache_seconds,
            cooldown_duration=jwks_refresh_seconds, timeout=JWKS_TIMEOUT_SECONDS) if jwks_url else None
        self._audience = audience
        self._issuer = issuer
        self.max_lifetime = max_lifetime
        self._verified: Lru[str, _Verified] = Lru(VERIFIED_TOKENS)

    @property
    def fetches_keys(self) -> bool:
        """Whether principal() may wait for the network (the issuer's key set, JWKS mode): call it
        from a thread, not on the event loop."""
        return self._jwks is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        return cls(secret=settings.jwt_secret, jwks_url=settings.jwks_url, audience=settings.jwt_audience,
                   issuer=settings.jwt_issuer, max_lifetime=settings.token_max_lifetime_seconds,
                   jwks_refresh_seconds=settings.jwks_refresh_seconds)

    def principal(self, authorization: str | None) -> Principal:
        """The caller of a request. Every refusal says what is wrong in words of ours; the library's
        own message (which can quote the decoder: 'utf-8' codec can't decode …) is only logged."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("send Authorization: Bearer <token>", missing=not authorization)
        token = authorization.split(" ", 1)[1].strip()
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too long")
        if (known := self._verified.get(token)) is not None and time.time() < known.exp \
                and time.monotonic() < known.keys_until and self._same_keys(known):
            return known.principal
        # Not verified yet, or no longer good: checked in full, so an expired token is refused
        # with the same words whether it was cached or not.
        principal, exp, keys_until = self._verify(token)
        self._verified.put(token, _Verified(principal, exp, keys_until))
        return principal

    def _same_keys(self, known: _Verified) -> bool:
        """Whether the key set that checked a cached token is still the one in use: once a newer set
        was fetched (an unknown kid, a rotation), a key the issuer withdrew must be refused at once,
        as a full check would, not when the older set would have been due."""
        return self._jwks is None or known.keys_until >= self._jwks.fresh_until()

    def _verify(self, token: str) -> tuple[Principal, float, float]:
        """The principal of a token checked in full (signature, issuer, audience, claims), its expiry,
        and until when the key set that checked it is current."""
        try:
            claims, keys_until = self._decode(token)
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("the token has expired") from e
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as e:
            raise Unauthenticated("the token was not issued for this service") from e
        except jwt.MissingRequiredClaimError as e:
            raise Unauthenticated(f"the token lacks the claim {e.claim}") from e
        except jwt.PyJWKClientConnectionError as e:
            log.warning("token not checked: the issuer's keys cannot be fetched: %s", e)
            raise IssuerUnavailable("the token issuer's keys could not be fetched; try again shortly") from e
        except jwt.PyJWKClientError as e:
            log.warning("token refused: the issuer's keys: %s", e)
            raise Unauthenticated("the token's signing key is not one of the issuer's") from e
        except jwt.PyJWTError as e:
            log.info("token refused: %s: %s", type(e).__name__, e)
            raise Unauthenticated("the token is not a valid signed token") from e
        if not isinstance(claims["exp"], int | float) or not isinstance(claims["iat"], int | float) \
                or claims["exp"] - claims["iat"] > self.max_lifetime:
            raise Unauthenticated(f"the token lives longer than {self.max_lifetime} seconds (exp - iat)")
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) \
                or not claims.get("org") or not claims.get("sub"):
            raise Unauthenticated("the token lacks sub, org or roles")
        unknown, groups = role_problems(roles)
        if unknown:
            reasons = [NOT_API_ROLES[r] for r in unknown if r in NOT_API_ROLES]
            raise Unauthenticated("the token names a role this system does not know"
                                  + (f" ({'; '.join(reasons)})" if reasons else ""), unknown_roles=unknown)
        if groups:
            raise RolesConflict(f"roles of {' and '.join(groups)} must not be held together; ask for "
                                "one token per role", groups=groups)
        principal = Principal(sub=str(claims["sub"]), org=str(claims["org"]), roles=frozenset(roles))
        return principal, float(claims["exp"]), keys_until

    def _decode(self, token: str) -> tuple[dict, float]:
        options: Options = {"require": ["exp", "iat", "sub"]}
        if self._jwks is not None:
            key, keys_until = self._jwks.signing_key(token)
            claims = jwt.decode(token, key, algorithms=ALGORITHMS_JWKS, audience=self._audience,
                                issuer=self._issuer, options={**options, "verify_aud": self._audience is not None})
            return claims, keys_until
        return jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER, options=options), math.inf
