"""Opaque ids for listings (`L...`) and identity links (`K...`): they reveal nothing."""

from __future__ import annotations

import os

_BYTES = 8


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids: `prefix` and 16 upper-case hex digits, from one draw of random bytes."""
    raw = os.urandom(_BYTES * count).hex().upper()
    step = 2 * _BYTES
    return [prefix + raw[i : i + step] for i in range(0, step * count, step)]
