"""Bearer-token authentication: OAuth2 JWTs with `sub`, `org` and `roles` claims.

Embedded default: HS256 tokens signed with the local dev key (`tsunagu token` mints them).
Production: set TSUNAGU_JWKS_URL to an OIDC issuer's JWKS and tokens are checked against it, for
the issuer TSUNAGU_JWT_ISSUER and the audience TSUNAGU_JWT_AUDIENCE (settings refuse JWKS without
both outside dev and test).

Every token must carry `iat` and `exp`, and live at most `max_lifetime` seconds (exp - iat,
TSUNAGU_JWT_MAX_LIFETIME_SECONDS, default 24 h): a token that would stay good for years when it
leaks is refused. A token that names a role this system does not know is refused (401: it was
made for something else), and so is one whose roles must not be held together (403).

Roles that must not combine. Each role belongs to one of these groups, and a token's roles all
come from one group:
- operational, the local governments' own work: `centre_staff`, `municipal_officer`,
  `prefecture_officer`, and `portal` (the third-party portal acting for their staff);
- oversight, who checks that work and must not be the one checked: `auditor`, `auditor_pii`,
  and the national `ministry`;
- `supporter` alone: a volunteer who is given one person's details by a dispatch, and whose own
  registration is personal data; with any other role it would reach other supporters' or other
  persons' data (issue 14: `[auditor, supporter]` read any supporter's details);
- `operator` alone: runs the service (dead letters, readiness), sees no one's data;
- `integrator` alone: another agency's system reading streams, never a person at a desk.
So `[auditor, auditor_pii]` and `[centre_staff, municipal_officer]` (a municipal window) are fine;
`[ministry, prefecture_officer]`, `[auditor, centre_staff]`, `[operator, auditor]` are refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import jwt
from jwt.types import Options

from libs.domain.errors import DomainError
from libs.platform.settings import Settings

log = logging.getLogger(__name__)

ROLE_GROUPS: dict[str, frozenset[str]] = {
    "operational": frozenset({"centre_staff", "municipal_officer", "prefecture_officer", "portal"}),
    "oversight": frozenset({"auditor", "auditor_pii", "ministry"}),
    "supporter": frozenset({"supporter"}),
    "operator": frozenset({"operator"}),
    "integrator": frozenset({"integrator"}),
}
ROLES = frozenset().union(*ROLE_GROUPS.values())
ISSUER = "tsunagu-dev"
DEFAULT_MAX_LIFETIME = 24 * 3600
# The longest Authorization header looked at: real tokens are a few KiB at most.
MAX_TOKEN_CHARS = 8192
ALGORITHMS_JWKS = ["RS256", "ES256", "EdDSA"]


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


def mint_token(secret: str, *, sub: str, org: str, roles: list[str], ttl_seconds: int = 8 * 3600) -> str:
    unknown, groups = role_problems(roles)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(unknown)}")
    if groups:
        raise ValueError(f"roles of {' and '.join(groups)} must not be held together")
    now = int(time.time())
    claims = {"sub": sub, "org": org, "roles": roles, "iss": ISSUER, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


class Authenticator:
    def __init__(self, *, secret: str, jwks_url: str | None = None, audience: str | None = None,
                 issuer: str | None = None, max_lifetime: int = DEFAULT_MAX_LIFETIME) -> None:
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url) if jwks_url else None
        self._audience = audience
        self._issuer = issuer
        self.max_lifetime = max_lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        return cls(secret=settings.jwt_secret, jwks_url=settings.jwks_url, audience=settings.jwt_audience,
                   issuer=settings.jwt_issuer, max_lifetime=settings.token_max_lifetime_seconds)

    def principal(self, authorization: str | None) -> Principal:
        """The caller of a request. Every refusal says what is wrong in words of ours; the library's
        own message (which can quote the decoder: 'utf-8' codec can't decode …) is only logged."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("send Authorization: Bearer <token>", missing=not authorization)
        token = authorization.split(" ", 1)[1].strip()
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too long")
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("the token has expired") from e
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as e:
            raise Unauthenticated("the token was not issued for this service") from e
        except jwt.MissingRequiredClaimError as e:
            raise Unauthenticated(f"the token lacks the claim {e.claim}") from e
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
            raise Unauthenticated("the token names a role this system does not know", unknown_roles=unknown)
        if groups:
            raise RolesConflict(f"roles of {' and '.join(groups)} must not be held together; ask for "
                                "one token per role", groups=groups)
        return Principal(sub=str(claims["sub"]), org=str(claims["org"]), roles=frozenset(roles))

    def _decode(self, token: str) -> dict:
        options: Options = {"require": ["exp", "iat", "sub"]}
        if self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
            return jwt.decode(token, key, algorithms=ALGORITHMS_JWKS, audience=self._audience,
                              issuer=self._issuer, options={**options, "verify_aud": self._audience is not None})
        return jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER, options=options)
