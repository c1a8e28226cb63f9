"""What counts as a space in names and titles: one explicit set, the same as the spec's patterns.

Python's ``str.strip()`` and ECMAScript's ``\\s`` disagree (U+0085 is a space only to Python,
U+FEFF only to ECMAScript), so the spec spells the set out and the server trims with it.
"""

from __future__ import annotations

SPACES = " \u00a0\u0085\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"


def trim(value: str) -> str:
    """``value`` without leading and trailing ``SPACES``."""
    return value.strip(SPACES)
