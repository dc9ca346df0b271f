"""Torch files from anyone (checkpoints, training states, backbone weights): checked before
`torch.load(weights_only=True)` reads them, for what would take it hours or the machine's memory."""
from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from live.errors import UserError, first_line
from live.pickle_rules import DISPATCH, Budget, BudgetSpent, KeyRefused, names_only

T = TypeVar("T")


# The number torch.save's legacy format (before torch 1.6, and rosinality's released files) begins with.
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def check_torch_file(path: Path) -> None:
    """Refuse, before torch.load, what would take it far more time or memory than the file's
    size: a zip entry stored compressed (torch writes them stored; inflating one could take a
    thousand times the file), and in its pickles what live/pickle_rules.py refuses (dict keys
    that can all hash alike: with 150,000 such keys, 2 MB, every insertion walked all the keys
    before it for minutes). A legacy file must also hold every storage it names."""
    import zipfile

    try:
        form = torch_format(path)
        if form == "legacy":  # five pickles (magic, protocol, system info, the object, its storages' keys)
            named: set[str] = set()
            with path.open("rb") as f:
                skims = [_Skim(f, named, path.stat().st_size) for _ in range(5)]
                *_, keys = (skim.load() for skim in skims)
            _check_protocol(skims[0].proto, path)
            held = {key for key in keys if type(key) is str} if isinstance(keys, list) else set()
            if not named <= held:
                # torch makes every storage named but fills only those listed: one left out came
                # back holding whatever the process's memory held there, as weights.
                raise UserError(f"{path} names storages it does not hold; the file is damaged or was edited")
            return
        if form != "zip":
            return
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if any(e.compress_type != zipfile.ZIP_STORED for e in entries) or \
                    sum(e.file_size for e in entries) > path.stat().st_size:
                raise UserError(f"{path} holds compressed entries, which torch never writes; "
                                "save it again with torch.save")
            for entry in entries:
                if ".pkl" in entry.filename.lower():  # torch finds archive/data.pkl whatever its case
                    skim = _Skim(io.BytesIO(archive.read(entry)), set(), path.stat().st_size)
                    skim.load()
                    _check_protocol(skim.proto, path)
    except BudgetSpent:
        raise UserError(f"{path}: its pickle builds far more than the file holds; the file is damaged, or made to "
                        "exhaust memory") from None
    except KeyRefused:
        raise UserError(f"{path} holds dict keys that are neither names nor integers below 2**61, which weights "
                        "and training states have no use for and which can make loading take hours") from None
    except (zipfile.BadZipFile, OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, RecursionError, MemoryError, struct.error) as e:
        raise UserError(f"{path} is truncated or not a valid torch checkpoint ({first_line(e)})") from None


def _check_protocol(protocol: int, path: Path) -> None:
    if protocol > 3:  # FRAME and the other opcodes of protocol 4 on
        raise UserError(f"{path} was saved with pickle protocol {protocol}, which torch's safe loader cannot read; "
                        "load it with torch and save it again with torch.save's default protocol")


class _Inert(dict):
    """Whatever a torch pickle builds, as nothing: read only for its keys and storages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


def _keyed(pairs: bool) -> Callable[..., _Inert]:
    """A container's constructor, as nothing, once what would be its keys passed
    `names_only`: OrderedDict takes (key, value) pairs, Counter and set the keys."""
    def inert(items: Any = (), **kwargs: Any) -> _Inert:
        if isinstance(items, (list, tuple, set, frozenset)):
            names_only(item[0] if pairs and type(item) in (tuple, list) and len(item) == 2 else item
                       for item in items)
        return _Inert()
    return inert


_KEYED = {("collections", "OrderedDict"): _keyed(pairs=True), ("builtins", "dict"): _keyed(pairs=True),
          ("collections", "Counter"): _keyed(pairs=False), ("builtins", "set"): _keyed(pairs=False),
          ("builtins", "frozenset"): _keyed(pairs=False)}


# What an opcode may make, in bytes (about sys.getsizeof of what it pushes); the rest push a
# reference or a small number. Those that take the items above a mark grow by each of them.
_MADE = {**dict.fromkeys(map(ord, (pickle.EMPTY_SET, pickle.FROZENSET)), 216),
         **dict.fromkeys(map(ord, (pickle.EMPTY_DICT, pickle.DICT, pickle.EMPTY_LIST, pickle.LIST, pickle.TUPLE,
                                   pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)), 64),
         **dict.fromkeys(map(ord, (pickle.REDUCE, pickle.NEWOBJ, pickle.OBJ, pickle.INST)), 128)}
_GROWN = frozenset(map(ord, (pickle.APPENDS, pickle.SETITEMS, pickle.ADDITEMS, pickle.DICT, pickle.LIST,
                             pickle.TUPLE, pickle.FROZENSET)))
SKIM_BYTES_PER_FILE_BYTE = 32  # a state dict's pickle makes about 5; a flood of empty sets 216


def _costed(opcode: int, load: Callable[[Any], None]) -> Callable[[Any], None]:
    made = _MADE.get(opcode, 16)
    grows = opcode in _GROWN

    def costed(skim: Any) -> None:
        skim.budget.spend(made + (56 * len(skim.stack) if grows else 0))
        load(skim)
    return costed


class _Skim(pickle._Unpickler):
    """A torch pickle read for its keys and the storages it names (into `named`): nothing is
    imported or run, nothing built but plain data, under live/pickle_rules.py, and no more
    than about SKIM_BYTES_PER_FILE_BYTE times the `size` of the file it is in (torch's own
    loader would build as much again: a 5 MB file of empty sets took 1.7 GB)."""

    def __init__(self, file: BinaryIO, named: set[str], size: int):
        super().__init__(file)
        self.named = named
        self.budget = Budget(SKIM_BYTES_PER_FILE_BYTE * size + (1 << 20))

    def find_class(self, module: str, name: str) -> Any:
        return _KEYED.get(("builtins" if module == "__builtin__" else module, name), _Inert)

    def persistent_load(self, pid: Any) -> _Inert:  # ("storage", type, key, location, size[, view])
        if not (isinstance(pid, tuple) and len(pid) > 2 and isinstance(pid[2], str)):
            raise pickle.UnpicklingError("a storage record without a key")
        self.named.add(pid[2])
        return _Inert()

    def _build(self) -> None:  # a state's dict keys were checked as it was built
        self.stack.pop()

    dispatch = {opcode: _costed(opcode, load) for opcode, load in {**DISPATCH, pickle.BUILD[0]: _build}.items()}


def load_torch_file(path: Path, device: object = "cpu", allowed: tuple[type, ...] = ()) -> Any:
    """`torch.load(weights_only=True)` of a file that may be hostile: checked first
    (`check_torch_file`, a UserError), and without torch's warnings about what it loads
    (sparse tensors, old protocols) beside the one line a bad file gets."""
    import warnings

    import torch

    check_torch_file(path)
    with torch.serialization.safe_globals(list(allowed)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location=device, weights_only=True)


def read_state(path: str | Path, what: str, use: Callable[[dict], T], device: object = "cpu") -> T:
    """`use(state)` of a training state saved with torch.save. Whatever goes wrong in reading
    or using it (a truncated file, another program's, another version's) is one line naming
    the file, since the remedy is the same."""
    try:
        state = load_torch_file(Path(path), device)
    except UserError as e:
        raise UserError(f"cannot resume: {e}; move it away or delete it to start over") from None
    except pickle.UnpicklingError:  # torch's own line advises an unsafe load
        why = "it holds objects that a safe load refuses" if torch_format(Path(path)) else \
            "not a torch checkpoint: truncated, or another program's file"
    except Exception:  # noqa: BLE001 - torch's readers fail on damaged files in a dozen ways
        why = "not a torch checkpoint: truncated, or another program's file"
    else:
        try:
            return use(state)
        except Exception as e:  # noqa: BLE001 - every way a state can be unusable gets the one answer
            why = f"{type(e).__name__}: {first_line(e)}"
    raise UserError(f"cannot resume from {path}: it is not a readable {what} state ({why}); "
                    "move it away or delete it to start over") from None


def torch_format(path: Path) -> str | None:
    """"zip" or "legacy" as torch.load tells them, by the file's first bytes (torch's own test:
    the old format's weights may hold a zip's end marker); a legacy file begins with a pickle
    of torch's magic number, at any protocol. None for anything else."""
    import pickletools

    with path.open("rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    try:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(head)]
    except ValueError:  # not a pickle, or one longer than the magic number's
        return None
    return "legacy" if ("LONG1", LEGACY_TORCH_MAGIC) in ops else None
