"""NVlabs network pickles read as data: a restricted unpickler that never runs stored code.

An NVlabs `.pkl` reduces every network to
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, and NVlabs' own loader
executes the Python source in `meta["module_src"]` to rebuild the class. Here that call
only keeps the class name and the object's state; the source is never looked at.

Every global the stream names is looked up in a table of exact (module, name) pairs that
were resolved when this module was imported, so nothing is imported on behalf of the
file; any other global is refused by name. The tensor functions are our own checked
versions, not torch's: tensors come as `torch.storage._load_from_bytes(blob)`, where the
blob is a legacy `torch.save` stream that torch would read with an unrestricted
`torch.load`; `_read_storage_blob` parses it with the same kind of table instead.

Memory stays bounded by the file: a tensor view may hold no more elements than its
storage, no constructor may iterate a tensor into one object per element, what the
constructors build, and every opcode (a byte of the file that may make an object of a
few hundred bytes, or a call on an object from the memo), add up to at most about the
file's size, and BUILD (an object's `__setstate__`, which for numpy dtypes and torch
tensors reinterprets memory) is refused except for a numpy number dtype's byte order (and
an empty state on a dict, which sets nothing). Time stays bounded too, and nothing allocates
what a length in the file asks for: the opcode rules of live/pickle_rules.py hold.
"""
from __future__ import annotations

import functools
import io
import math
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import torch

from live.errors import UserError, first_line, printable
from live.pickle_rules import DISPATCH, Budget, names_only
from live.torch_files import LEGACY_TORCH_MAGIC

# The legacy torch.save stream: pickles of this magic number, this protocol number and a
# system-info dict, then the saved object (here one storage, as a persistent id), then
# the list of storage keys, then per key an int64 element count and the raw bytes.
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}

# The weights' bytes are in a file once; their views and copies as they load, a few times more.
LOADED_PER_FILE_BYTE = 3
BUDGET_SLACK = 1 << 20  # bytes and items beyond that which a small network may build
OPCODE_COST = 64       # what any opcode costs the budget, what a call makes (REDUCE, NEWOBJ, OBJ) apart
MAX_TENSOR_DIMS = 8    # a generator's weights have at most 4
SET_ITEM_COST = 128    # bytes a set takes per item (its hash table: about 105 measured)

# What a pickle stream can fail with when it is cut short or malformed; hostile globals
# never get this far (find_class raises UserError first).
_CORRUPT_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                          AttributeError, OverflowError, MemoryError, RecursionError, RuntimeError, struct.error)


@dataclass(frozen=True)
class PersistentObject:
    """An NVlabs persistent network as data: its class name and `__dict__`.

    `state` holds `_parameters`, `_buffers` and `_modules` (nested PersistentObjects)
    and `_init_kwargs`, exactly as the pickle stored them.
    """
    class_name: str
    state: dict[str, Any]


@dataclass(frozen=True)
class _FlatStorage:
    """The 1-D contents of one storage, as read from a nested legacy blob."""
    data: torch.Tensor


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: torch.dtype
    numel: int


def _refuse(module: str, name: str, source: str) -> UserError:
    if module.startswith("dnnlib.tflib"):
        return UserError(f"{source} is a TensorFlow StyleGAN2 pickle; convert it to a PyTorch one with "
                         "stylegan2-ada-pytorch's legacy.py first")
    return UserError(f"refusing to load {source}: the checkpoint references {printable(module)}."
                     f"{printable(name)}, which is not data; only NVlabs network pickles of tensors are accepted")


def _latin1_bytes(text: Any, encoding: Any) -> bytes:
    """`_codecs.encode(text, 'latin1')`: how protocol 2 stores bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode of something other than bytes")
    return text.encode("latin1")


def _charged(load: Callable[[Any], None]) -> Callable[[Any], None]:
    """An opcode's handler that first charges the budget OPCODE_COST: an opcode takes the
    file a byte and may make an object of hundreds (EMPTY_SET: 216) or a call (5 bytes
    through the memo; even an empty tensor holds its sizes and strides), and parsing it
    takes time (a storage blob's header is parsed again at each call on the blob)."""
    def charged(unpickler: Any) -> None:
        if unpickler.budget is not None:
            unpickler.budget.spend(OPCODE_COST)
        load(unpickler)
    return charged


class _TableUnpickler(pickle._Unpickler):
    """An unpickler whose globals are exactly the entries of `table`, nothing imported,
    under the opcode rules of live/pickle_rules.py.

    The Python implementation, for its opcode table: the C one cannot refuse BUILD.
    """

    def __init__(self, file: BinaryIO, table: dict[tuple[str, str], Any], source: str,
                 persistent_load: Callable[[Any], Any] | None = None, budget: Budget | None = None):
        super().__init__(file)
        self._table, self._source, self.budget = table, source, budget
        if persistent_load is not None:
            self.persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise _refuse(module, name, self._source) from None

    def _build(self) -> None:
        state, target = self.stack.pop(), self.stack[-1]
        if isinstance(target, _NumpyDtype):
            target.set_state(state)
        elif not (isinstance(target, dict) and not state):  # an EasyDict's empty __dict__ is harmless
            raise pickle.UnpicklingError(f"state set on a {type(target).__name__} (BUILD): not plain data")

    dispatch = {opcode: _charged(load) for opcode, load in {**DISPATCH, pickle.BUILD[0]: _build}.items()}


def _record_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistent object without class metadata")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent object without a class name and state")
    return PersistentObject(class_name=class_name, state=state)


def _is_int_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value)


def _rebuild_tensor(budget: Budget, storage: Any, storage_offset: Any, size: Any, stride: Any,
                    requires_grad: Any, backward_hooks: Any, metadata: Any = None) -> torch.Tensor:
    """`torch._utils._rebuild_tensor_v2`, with the view checked against the storage first.
    A view costs the budget the bytes of its copy: the weights are copied as they load,
    and many views of one storage would copy it many times."""
    if not isinstance(storage, _FlatStorage):
        raise pickle.UnpicklingError("tensor without a storage")
    if not (isinstance(storage_offset, int) and storage_offset >= 0 and _is_int_tuple(size)
            and _is_int_tuple(stride) and len(size) == len(stride)):
        raise pickle.UnpicklingError("malformed tensor view")
    if metadata:
        raise pickle.UnpicklingError("tensors with conjugate or negative bits are not weights")
    if len(size) > MAX_TENSOR_DIMS:
        raise pickle.UnpicklingError(f"a tensor of {len(size)} dimensions is not a weight")
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        # Elements shared through a zero stride would make a view far larger than the file.
        if last >= storage.data.numel() or math.prod(size) > storage.data.numel():
            raise pickle.UnpicklingError("tensor view reaches past its storage")
    budget.spend(16 * len(size) + math.prod(size) * storage.data.element_size())
    return storage.data.as_strided(size, stride, storage_offset)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> torch.Tensor:
    """`torch._utils._rebuild_parameter(_with_state)`: only the tensor is kept (no hooks)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter without a tensor")
    return data


class _NumpyDtype:
    """`numpy.dtype(spec, align, copy)` as a pickle rebuilds it, for numbers only: a dtype
    made by numpy's own `__setstate__` may place fields outside its bytes."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False):
        try:
            dtype = np.dtype(spec) if isinstance(spec, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise pickle.UnpicklingError(f"numpy dtype {printable(spec)} is not a plain number type")
        self.dtype = dtype

    def set_state(self, state: Any) -> None:
        """numpy's dtype state: (version, byte order, subarray, names, fields, ...); only the byte order is taken."""
        if not (isinstance(state, tuple) and len(state) >= 5 and state[1] in ("<", ">", "|", "=")
                and state[2:5] == (None, None, None)):
            raise pickle.UnpicklingError("numpy dtype state of a structured type")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def _numpy_scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _NumpyDtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar that is not plain data")
    return np.frombuffer(data, dtype=dtype.dtype, count=1)[0]


def _empty(build: Callable[[], Any]) -> Callable[..., Any]:
    """A mapping's constructor as pickles call it: with no arguments, its items following
    through SETITEMS (where their keys are checked)."""
    def checked(*args: Any) -> Any:
        if args:
            raise pickle.UnpicklingError(f"{build.__name__} built from arguments, not from items")
        return build()
    return checked


def _set_of_names(build: Callable[[Any], Any], budget: Budget) -> Callable[..., Any]:
    """A set's constructor as protocol 2 calls it: with a list of its items, names or
    small numbers (iterating anything else, a tensor's elements, would make an object per
    element)."""
    def checked(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple)):
            raise pickle.UnpicklingError(f"{build.__name__} built from a {type(items).__name__}")
        names_only(items)
        budget.spend(SET_ITEM_COST * len(items))  # items from the memo cost the file a few bytes each
        return build(items)
    return checked


class _EasyDict(dict):
    """dnnlib's EasyDict as a plain dict (a class: pickles make it with NEWOBJ)."""

    def __init__(self, *args: Any) -> None:
        if args:
            raise pickle.UnpicklingError("EasyDict built from arguments, not from items")
        super().__init__()


def _blob_table() -> dict[tuple[str, str], Any]:
    # Storages saved from a GPU name their type in torch.cuda; the bytes are the same.
    return {(module, name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()
            for module in ("torch", "torch.cuda")}


def _read_storage_blob(blob: Any, source: str, budget: Budget) -> _FlatStorage:
    """Replacement for `torch.storage._load_from_bytes`: parse one legacy torch.save blob."""
    if not isinstance(blob, bytes):
        raise pickle.UnpicklingError("storage blob is not bytes")
    stream = io.BytesIO(blob)
    table = _blob_table()
    magic, protocol, sys_info = (_TableUnpickler(stream, table, source, budget=budget).load() for _ in range(3))
    if magic != LEGACY_TORCH_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("storage blob is not a legacy torch.save stream")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise pickle.UnpicklingError("storage blob is not little-endian")

    def storage_ref(pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unknown persistent id in storage blob")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str)
                and isinstance(numel, int) and numel >= 0 and view_metadata is None):
            raise pickle.UnpicklingError("malformed storage record")
        return _StorageRef(key, storage_type.dtype, numel)

    ref = _TableUnpickler(stream, table, source, persistent_load=storage_ref, budget=budget).load()
    keys = _TableUnpickler(stream, table, source, budget=budget).load()
    if not isinstance(ref, _StorageRef) or keys != [ref.key]:
        raise pickle.UnpicklingError("storage blob does not hold exactly one storage")
    numel = int.from_bytes(stream.read(8), "little")
    nbytes = numel * torch.empty(0, dtype=ref.dtype).element_size()
    budget.spend(nbytes)  # the same blob read again through the memo is a copy more
    data = stream.read(nbytes)
    if numel != ref.numel or len(data) != nbytes:
        raise pickle.UnpicklingError("storage blob is truncated")
    flat = torch.frombuffer(bytearray(data), dtype=ref.dtype) if nbytes else torch.empty(0, dtype=ref.dtype)
    return _FlatStorage(flat)


def _network_table(source: str, budget: Budget) -> dict[tuple[str, str], Any]:
    def latin1_bytes(text: Any, encoding: Any) -> bytes:
        budget.spend(len(text) if isinstance(text, str) else 0)
        return _latin1_bytes(text, encoding)

    return {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_persistent_obj,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("collections", "OrderedDict"): _empty(OrderedDict),
        ("builtins", "set"): _set_of_names(set, budget),
        ("builtins", "frozenset"): _set_of_names(frozenset, budget),
        ("__builtin__", "set"): _set_of_names(set, budget),  # protocol-2 spelling
        ("__builtin__", "frozenset"): _set_of_names(frozenset, budget),
        ("_codecs", "encode"): latin1_bytes,
        ("torch._utils", "_rebuild_tensor_v2"): functools.partial(_rebuild_tensor, budget),
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): lambda blob: _read_storage_blob(blob, source, budget),
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("numpy", "dtype"): _NumpyDtype,
    }


def read_network_pickle(file: BinaryIO, source: str) -> Any:
    """Unpickle an NVlabs network pickle as data (dicts, tensors, PersistentObjects).

    Raises UserError naming the first global outside the table, or saying the stream is
    truncated or corrupt.
    """
    start = file.tell()
    size = file.seek(0, io.SEEK_END) - start
    file.seek(start)
    budget = Budget(LOADED_PER_FILE_BYTE * size + BUDGET_SLACK)
    try:
        return _TableUnpickler(file, _network_table(source, budget), source, budget=budget).load()
    except _CORRUPT_PICKLE_ERRORS as e:
        raise UserError(f"{source} is truncated or not a valid NVlabs network pickle ({first_line(e)}); "
                        "download or export it again") from e
