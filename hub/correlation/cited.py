"""The values a raw delivery cites: what a dead letter (a body no adapter could read) may still say about which
order it concerns, so its exception lands on that transaction (the WMS's drifted payload still names ``SO-40001``)."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_VALUES = 200  # a body's first values are enough to find its order; a huge body costs no more than this
_LENGTH = (3, 200)  # shorter values (quantities, flags) name no order; ref values are at most 200 characters
_TOKEN = re.compile(r"[#\w][\w#./:-]{2,199}")  # a non-JSON body: its id-shaped words


def cited_values(body: bytes) -> list[str]:
    """The distinct leaf values (strings and integers) of a JSON body, else its id-shaped words, in order."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        return lookup_values(_TOKEN.findall(body.decode("utf-8", "replace")))
    found: list[str] = []
    stack = [parsed]
    while stack and len(found) < MAX_VALUES * 4:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, str | int) and not isinstance(item, bool):
            found.append(str(item).strip())
    return lookup_values(found)


def lookup_values(values: list[str]) -> list[str]:
    """The first :data:`MAX_VALUES` distinct values a store can look up (sized like a ref, no NUL, valid UTF-8)."""
    kept = (v for v in dict.fromkeys(values) if _LENGTH[0] <= len(v) <= _LENGTH[1] and "\x00" not in v
            and _encodable(v))
    return [v for _, v in zip(range(MAX_VALUES), kept, strict=False)]


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): no stored ref holds one
        return False
    return True
