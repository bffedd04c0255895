"""Time-ordered ids (UUID version 7, RFC 9562) for rows written at serving speed.

A random id (UUID version 4) lands on a random page of every index that holds it: a commit of a
few hundred review cases then rewrites a few hundred index pages per such index, and measured on
a 120k-case SQLite store that made each commit ten times slower than the insert itself. A
version 7 id starts with the time in milliseconds, so new ids go to the end of the index, a few
pages per commit, and ids still sort by when they were made. The other 74 bits are random (the
12 bits after the version hold the sub-millisecond fraction, RFC 9562 method 3), so ids stay
unguessable and unique across replicas without coordination.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Sequence

__all__ = ["dashed", "dashed_all", "uuid7", "uuid7_hex", "uuid7_increasing"]

_RAND_B = (1 << 62) - 1


def uuid7_hex(count: int = 1) -> list[str]:
    """``count`` version 7 UUIDs as 32 hexadecimal digits, from one clock read and one
    ``os.urandom`` call (a system call each would cost more than the formatting)."""
    now = time.time_ns()
    millis, fraction = divmod(now, 1_000_000)
    head = (millis << 16) | (0x7 << 12) | (fraction * 4096 // 1_000_000)
    data = os.urandom(8 * count)
    if count < 32:
        high = head << 64 | (0b10 << 62)
        return [
            "%032x" % (high | (int.from_bytes(data[i : i + 8]) & _RAND_B))
            for i in range(0, 8 * count, 8)
        ]
    # many at once: the 16 bytes of every id side by side, turned into hex in one call
    import numpy as np  # here: ids are made where NumPy is loaded anyway, and imports stay light

    ids = np.empty((count, 16), dtype=np.uint8)
    ids[:, :8] = np.frombuffer(head.to_bytes(8, "big"), dtype=np.uint8)
    ids[:, 8:] = np.frombuffer(data, dtype=np.uint8).reshape(count, 8)
    ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80  # the variant: 0b10
    text = ids.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * count, 32)]


def dashed(hex_id: str) -> str:
    """A UUID's 32 hexadecimal digits in the usual dashed form (``str(uuid.UUID(hex_id))``)."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


_DASH = 45  # "-"


def dashed_all(hex_ids: Sequence[str]) -> list[str]:
    """:func:`dashed` of many ids: their digits copied into place in one NumPy array, a third
    of the time of one format per id."""
    count = len(hex_ids)
    if count < 32:
        return [dashed(hex_id) for hex_id in hex_ids]
    import numpy as np

    digits = np.frombuffer("".join(hex_ids).encode("ascii"), dtype=np.uint8)
    if digits.size != 32 * count:
        raise ValueError("each id must be 32 hexadecimal digits")
    digits = digits.reshape(count, 32)
    out = np.full((count, 36), _DASH, dtype=np.uint8)
    for start, end, to in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, to : to + end - start] = digits[:, start:end]
    text = out.tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * count, 36)]


def uuid7() -> str:
    """One version 7 UUID in its usual dashed form."""
    return dashed(uuid7_hex(1)[0])


_increasing_lock = threading.Lock()
_increasing_last = [0, 0]  # the last (millisecond, counter) handed out


def uuid7_increasing() -> uuid.UUID:
    """One version 7 UUID greater than every earlier one of this process (RFC 9562 method 1:
    a 12-bit counter within the millisecond, from a random start), for ids that must sort in
    the order they were made, such as OpenLineage run ids."""
    with _increasing_lock:
        millis = time.time_ns() // 1_000_000
        last_millis, counter = _increasing_last
        if millis > last_millis:
            # a random start leaves room to count up within the same millisecond
            counter = secrets.randbits(11)
        else:
            millis, counter = last_millis, counter + 1
            if counter > 0xFFF:
                millis, counter = millis + 1, 0
        _increasing_last[:] = [millis, counter]
    value = (millis << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | secrets.randbits(62)
    return uuid.UUID(int=value)
