"""What a production secret must be (issue 14): long, not guessable, and not a placeholder.

Checked when production settings are made (libs/platform/settings.py), so a service started with
`TSUNAGU_JWT_SECRET=a`, the placeholders of deploy/.env.example or deploy/kubernetes/
secret.example.yaml, or a key of one repeated character refuses to start and says which variable
is wrong (never its value).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from urllib.parse import urlsplit

MIN_SECRET_CHARS = 32
# Bits per character (Shannon, over the characters themselves): a random hex string of 32
# characters measures ~3.5, base64 more; "aaaa…" 0, "abab…" 1, a word repeated ~2.5.
MIN_BITS_PER_CHAR = 3.0
# A run this long of one character, or of consecutive ones (0123…, abcd…, 9876…), is a pattern,
# not chance (a random 64-character hex key has one with probability ~1e-7).
MAX_RUN = 8
# Words that placeholders and hand-made secrets are made of (compared without -, _ and case).
PLACEHOLDER_WORDS = ("changeme", "replace", "example", "placeholder", "secret", "password", "passwd",
                     "default", "dummy", "sample", "insecure", "tsunagu", "todo", "fixme", "test")
KEY_HEX_CHARS = 64  # 32 bytes: AES-256 master keys, Ed25519 seeds


def bits_per_char(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values()) if value else 0.0


def _longest_run(value: str) -> int:
    longest = run_same = run_up = run_down = 1
    for a, b in itertools.pairwise(value):
        run_same = run_same + 1 if a == b else 1
        run_up = run_up + 1 if ord(b) == ord(a) + 1 else 1
        run_down = run_down + 1 if ord(b) == ord(a) - 1 else 1
        longest = max(longest, run_same, run_up, run_down)
    return longest if value else 0


def secret_problems(name: str, value: str | None, *, min_chars: int = MIN_SECRET_CHARS) -> list[str]:
    """Why `value` is no production secret (empty when it is one). Names `name`, never the value."""
    if not value:
        return [f"{name} is not set"]
    found = []
    if len(value) < min_chars:
        found.append(f"{name} is shorter than {min_chars} characters")
    folded = re.sub(r"[-_\s]", "", value.lower())
    # A short word (todo, test, dummy) turns up inside a long random secret now and then (a 43-character
    # token_urlsafe holds 'test' or 'todo' about once in 7,000): it counts only standing apart.
    words = [w for w in PLACEHOLDER_WORDS if (w in folded if len(w) >= 6 else
                                              re.search(rf"(?<![a-z]){w}(?![a-z])", value.lower()))]
    if words:
        found.append(f"{name} looks like a placeholder (contains {words[0]!r})")
    if bits_per_char(value) < MIN_BITS_PER_CHAR:
        found.append(f"{name} has too little entropy (too few different characters)")
    if _longest_run(value) >= MAX_RUN:
        found.append(f"{name} holds a run of repeated or consecutive characters")
    return found


def key_problems(name: str, value: str | None) -> list[str]:
    """A 32-byte key given as 64 hex characters (`openssl rand -hex 32`)."""
    if not value:
        return [f"{name} is not set"]
    if len(value) != KEY_HEX_CHARS or not re.fullmatch(r"[0-9a-fA-F]+", value):
        return [f"{name} must be {KEY_HEX_CHARS} hex characters (openssl rand -hex 32)"]
    return secret_problems(name, value, min_chars=KEY_HEX_CHARS)


def url_password_problems(name: str, url: str | None) -> list[str]:
    """The password inside a connection URL (DATABASE_URL; NATS_URL, which may list several
    servers separated by commas), when it has one."""
    found: list[str] = []
    for one in (url or "").split(","):
        try:
            password = urlsplit(one.strip()).password
        except ValueError:
            return [f"{name} is not a valid URL"]
        if password is not None:
            found += [p for p in secret_problems(f"the password in {name}", password) if p not in found]
    return found
