"""The held-out split: a record is held out when a stable hash of its split key falls below
the test fraction.

The hash (BLAKE2b of the key's UTF-8 bytes) does not depend on the Python process, the
machine, the order of the records or which other records exist, so an item stays on its
side when a data set grows, and everything that shares a key (the clips of one song, the
persons of one picture, the phrases of one piece) stays together. Keys are namespaced by
data set ("deam/10", "4q/MT0000004637"), so a DEAM song is on the same side whether it
comes from the static, the dynamic or the IMEMNet reader. The held-out side is never
trained on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Generic, Iterable, Protocol, TypeVar

from live.errors import UserError

DEFAULT_TEST_FRACTION = 0.15


class Keyed(Protocol):
    @property
    def split_key(self) -> str: ...


T = TypeVar("T", bound=Keyed)


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 <= test_fraction < 1.0:
        raise UserError(f"test fraction {test_fraction} is not in [0, 1); use e.g. 0.15")


def key_position(split_key: str) -> float:
    """Where the key falls in [0, 1), uniformly over keys."""
    digest = hashlib.blake2b(split_key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def is_held_out(split_key: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> bool:
    _check_fraction(test_fraction)
    return key_position(split_key) < test_fraction


@dataclass(frozen=True)
class Split(Generic[T]):
    train: list[T]
    test: list[T]


def split(records: Iterable[T], test_fraction: float = DEFAULT_TEST_FRACTION) -> Split[T]:
    """Records in their given order, divided by `is_held_out` of their split keys."""
    _check_fraction(test_fraction)
    train: list[T] = []
    test: list[T] = []
    for record in records:
        (test if key_position(record.split_key) < test_fraction else train).append(record)
    return Split(train, test)
