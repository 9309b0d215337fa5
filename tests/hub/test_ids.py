"""Sortable ids: ULID layout in Crockford base32, monotonic within a process."""

from __future__ import annotations

import random
import time

from hub.ids import _encode80, new_id, ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_encode(number: int, length: int) -> str:
    """The ULID spec's encoding, digit by digit (most significant first)."""
    return "".join(CROCKFORD[(number >> (5 * (length - 1 - i))) & 31] for i in range(length))


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_time_and_random_parts_encode_as_the_ulid_spec_says() -> None:
    rng = random.Random(3)
    for ms in (0, 1, 31, 32, 1_700_000_000_000, 2**48 - 1, *(rng.randrange(2**48) for _ in range(200))):
        assert _encode80(ms << 30)[:10] == reference_encode(ms, 10)
    for number in (0, 1, 2**80 - 1, *(rng.randrange(2**80) for _ in range(200))):
        assert _encode80(number) == reference_encode(number, 16)


def test_ids_are_26_crockford_chars_and_strictly_increasing_even_within_one_millisecond() -> None:
    now = int(time.time() * 1000)
    same_ms = [ulid(now) for _ in range(1000)]
    later = [ulid(now + n) for n in range(1, 50)] + [new_id("tx")[3:] for _ in range(50)]
    ids = same_ms + later
    assert all(len(i) == 26 and set(i) <= set(CROCKFORD) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len({i[:10] for i in same_ms}) == 1 and decode(same_ms[0][:10]) >= now
    randoms = [decode(i[10:]) for i in same_ms]
    assert randoms == list(range(randoms[0], randoms[0] + 1000))  # the spec's increment within a millisecond
