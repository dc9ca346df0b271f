"""What a stranger's pickle may not do when the Python unpickler reads it: the opcodes that
weights never need and a hostile file uses to take hours or the machine's memory.

- Dict keys and set items are names or integers below 2**61. Strings hash with a salt of
  the process; such integers hash to themselves. Tuples, complex numbers and larger
  integers hash predictably alike, so a file could make every key collide and each
  insertion walk all the keys before it (a 5 MB file of tuple keys held `inspect` for
  minutes; torch's own safe loader accepts them).
- No protocol-0 memo opcodes (PUT and GET take a decimal index of any size, into a dict).
- No protocol-5 buffers: BYTEARRAY8 allocates and zeroes the length it states before
  reading (a 13-byte file asked for 3 GB), and weights are never pickled out of band.

`DISPATCH` is `pickle._Unpickler`'s opcode table with these rules in force; `Budget` bounds
what a reader lets a file build.
"""
from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from typing import Any

KEY_LIMIT = 1 << 61


class KeyRefused(pickle.UnpicklingError):
    """A dict key or set item that could be made to collide."""


class BudgetSpent(pickle.UnpicklingError):
    """What a pickle builds adds up to far more than its file holds."""


class Budget:
    """What a pickle may build from one file, in bytes and items."""

    def __init__(self, limit: int):
        self.left = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise BudgetSpent("the objects it builds add up to far more than the file holds")


def names_only(items: Iterable[Any]) -> None:
    if not all(type(item) is str or (type(item) is int and abs(item) < KEY_LIMIT) for item in items):
        raise KeyRefused("a dict key or set item that is neither a name nor a number below 2**61")


def _refused(what: str) -> Callable[[Any], None]:
    def refuse(unpickler: Any) -> None:
        raise pickle.UnpicklingError(f"{what} in a weights file")
    return refuse


def _names_first(load: Callable[[Any], None], keys: Callable[[list], Any]) -> Callable[[Any], None]:
    """An opcode's handler that first checks the keys (or items) it is about to insert: the
    items above the mark are on the stack."""
    def checked(unpickler: Any) -> None:
        names_only(keys(unpickler.stack))
        load(unpickler)
    return checked


_load = pickle._Unpickler
DISPATCH: dict[int, Callable[[Any], None]] = {
    **_load.dispatch,
    pickle.PUT[0]: _refused("a protocol-0 memo opcode (PUT or GET)"),
    pickle.GET[0]: _refused("a protocol-0 memo opcode (PUT or GET)"),
    pickle.BYTEARRAY8[0]: _refused("a protocol-5 buffer"),
    pickle.NEXT_BUFFER[0]: _refused("a protocol-5 buffer"),
    pickle.READONLY_BUFFER[0]: _refused("a protocol-5 buffer"),
    pickle.SETITEM[0]: _names_first(_load.load_setitem, lambda items: items[-2:-1]),
    pickle.SETITEMS[0]: _names_first(_load.load_setitems, lambda items: items[::2]),
    pickle.DICT[0]: _names_first(_load.load_dict, lambda items: items[::2]),
    pickle.ADDITEMS[0]: _names_first(_load.load_additems, lambda items: items),
    pickle.FROZENSET[0]: _names_first(_load.load_frozenset, lambda items: items),
}
