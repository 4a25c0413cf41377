"""Bearer-token authentication: OAuth2 JWTs with `sub`, `org` and `roles` claims.

Embedded default: HS256 tokens signed with the local dev key (`tsunagu token` mints them).
Production: set TSUNAGU_JWKS_URL to an OIDC issuer's JWKS and tokens are checked against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from libs.domain.errors import DomainError

ROLES = frozenset(
    {"centre_staff", "municipal_officer", "prefecture_officer", "supporter", "auditor", "auditor_pii",
     "integrator", "portal", "ministry", "operator"}
)
ISSUER = "tsunagu-dev"


class Unauthenticated(DomainError):
    problem = "unauthenticated"
    title = "A valid bearer token is required"
    status = 401


class NotAllowed(DomainError):
    problem = "forbidden"
    title = "Your role does not allow this"
    status = 403


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
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    now = int(time.time())
    claims = {"sub": sub, "org": org, "roles": roles, "iss": ISSUER, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


class Authenticator:
    def __init__(self, *, secret: str, jwks_url: str | None = None, audience: str | None = None,
                 issuer: str | None = None) -> None:
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url) if jwks_url else None
        self._audience = audience
        self._issuer = issuer

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("send Authorization: Bearer <token>")
        token = authorization.split(" ", 1)[1].strip()
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256", "ES256", "EdDSA"], audience=self._audience,
                                    issuer=self._issuer, options={"require": ["exp", "sub"],
                                                                 "verify_aud": self._audience is not None})
            else:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER,
                                    options={"require": ["exp", "sub"]})
        except jwt.PyJWTError as e:
            raise Unauthenticated(f"invalid token: {e}") from e
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not claims.get("org") or not claims.get("sub"):
            raise Unauthenticated("the token lacks sub, org or roles")
        return Principal(sub=str(claims["sub"]), org=str(claims["org"]), roles=frozenset(map(str, roles)))
