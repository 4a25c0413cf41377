"""If-None-Match as RFC 9110 §13.1.2 reads it, for every cacheable GET (code lists, the public
directory): `*` or a list of entity tags, compared weakly (W/"x" and "x" are one tag). An exact
string comparison answered 200 to a cache that sent its stored tags as a list, or the tag without
its W/ (as some proxies pass it on)."""

from __future__ import annotations

import re

_TAG = re.compile(r'(?:W/)?"([^"]*)"')


def none_match(header: str | None, etag: str) -> bool:
    """Whether a GET with this If-None-Match is answered 304 for a representation tagged `etag`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    ours = _TAG.fullmatch(etag)
    return ours is not None and ours.group(1) in _TAG.findall(header)
