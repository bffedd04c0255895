"""Time-ordered ids: RFC 9562 version 7 UUIDs."""

from __future__ import annotations

import time
import uuid

import pytest

from loopline._ids import dashed, dashed_all, uuid7, uuid7_hex


@pytest.mark.parametrize("count", [1, 10, 31, 32, 1000])  # made one by one below 32, else at once
def test_ids_are_version_7_uuids_carrying_the_time(count: int) -> None:
    before = time.time_ns() // 1_000_000
    ids = uuid7_hex(count)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == count
    for hex_id in ids:
        parsed = uuid.UUID(hex_id)
        assert (parsed.version, parsed.variant, parsed.hex) == (7, uuid.RFC_4122, hex_id)
        assert before <= parsed.int >> 80 <= after  # the unix time in milliseconds
        assert dashed(hex_id) == str(parsed)
    assert dashed_all(ids) == [str(uuid.UUID(hex_id)) for hex_id in ids]


def test_later_ids_sort_after_earlier_ones() -> None:
    earlier = uuid7_hex(50)
    time.sleep(0.002)
    later = uuid7_hex(50)
    assert max(earlier) < min(later)
    one = uuid7()
    assert uuid.UUID(one).version == 7
    assert max(later) < one.replace("-", "")


def test_the_random_part_varies() -> None:
    ids = uuid7_hex(200)
    tails = {hex_id[-15:] for hex_id in ids}  # 60 of the 62 random bits
    assert len(tails) == 200
    bits = [int(hex_id, 16) & 1 for hex_id in ids]
    assert 60 < sum(bits) < 140  # the last bit is a fair coin (p < 1e-8 to fail by chance)


def test_dashing_many_ids_needs_whole_ids() -> None:
    assert dashed_all([]) == []
    with pytest.raises(ValueError, match="32 hexadecimal digits"):
        dashed_all([*uuid7_hex(40), "abc"])
