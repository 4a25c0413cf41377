"""Attack (h-attack10): If-None-Match on the cacheable GETs (code lists, the public directory) as
RFC 9110 §13.1.2 says a cache may send it: a list of the tags it stored, the tag without its W/
(weak comparison: one tag), or `*`. Each was answered 200 with the whole body (the tag was compared
as one exact string); now 304, and a list without the current tag still 200."""

from __future__ import annotations


def test_if_none_match_is_a_list_of_tags_compared_weakly(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client() as anyone:
        for path in ("/public/v1/centres", "/v1/code-lists", "/v1/code-lists/channels"):
            etag = anyone.get(path).headers["etag"]
            strong = etag.removeprefix("W/")
            for sent in (etag, f'"older", {etag}', f'W/"older",{strong}', strong, "*"):
                r = anyone.get(path, headers={"If-None-Match": sent})
                assert (r.status_code, r.headers["etag"], r.content) == (304, etag, b""), (path, sent, r.status_code)
            for sent in ('"older"', 'W/"older", "other"', etag.replace('"', "")):
                r = anyone.get(path, headers={"If-None-Match": sent})
                assert r.status_code == 200 and r.json(), (path, sent, r.status_code)
