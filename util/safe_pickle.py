"""Reading the pickled files other codebases released, without running any code from them.

Two formats need it:

- ``features.npy`` of vid2vid's ``edge2face_single``: ``np.save`` of a dict of arrays, i.e. a pickle.
  :func:`load_numpy_pickle` rebuilds numpy arrays, scalars and plain containers only.
- Fast-Vid2Vid's checkpoints: ``torch.save(net)`` of whole modules. :func:`load_pickled_module` rebuilds the
  tensors and each module's recorded state into inert stand-in objects (their classes are never imported or
  called) and returns the state dict.

Any other global a pickle names (``os.system``, ``builtins.eval``, a class outside the allowed packages) is
refused with :class:`UnsafePickleError` before anything is called.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import Tensor
from torch._weights_only_unpickler import _get_allowed_globals

from util.checkpoint import CheckpointError

#: Module prefixes whose classes may appear in a pickled network; they become inert stand-ins.
MODULE_PREFIXES = ("torch.nn.modules.", "models.", "networks.", "__main__")
#: Other classes Fast-Vid2Vid's pickled generators hold (its ``opt`` and its torchvision ``Resize``); inert stand-ins.
INERT_CLASSES = {("argparse", "Namespace"), ("torchvision.transforms.transforms", "Resize"),
                 ("torchvision.transforms.functional", "InterpolationMode")}

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _get_allowed_globals()["_codecs.encode"],
}


class UnsafePickleError(CheckpointError):
    """A pickle names something that could run code; nothing from it was executed."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed`` (name -> object)."""

    def __init__(self, stream: BinaryIO, allowed: dict, source: str, stand_ins: bool = False, **kwargs) -> None:
        super().__init__(stream, **kwargs)
        self.allowed, self.source, self.stand_ins = allowed, source, stand_ins

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names, which protocol-2 pickles use: __builtin__.set -> builtins.set, ...
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in self.allowed:
            return self.allowed[key]
        if self.stand_ins and (module.startswith(MODULE_PREFIXES) or key in INERT_CLASSES):
            return stand_in_class(module, name)
        raise UnsafePickleError(f"{self.source}: refused to load: the pickle names {module}.{name}, which is "
                                "neither a tensor, an array, a plain container nor a network module, so loading "
                                "it could run code. Nothing from the file was executed")


class PickledObject:
    """An inert stand-in for an object of a class we do not import: it only records what the pickle gives it."""

    _qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pickled_args, self.pickled_kwargs, self.pickled_state = args, kwargs, {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        self.pickled_state = state if isinstance(state, dict) else {"state": state}

    @property
    def class_name(self) -> str:
        """``module.Class`` as the pickle named it."""
        return self._qualified_name


_STAND_INS: dict[tuple[str, str], type] = {}


def stand_in_class(module: str, name: str) -> type:
    """A :class:`PickledObject` subclass that remembers ``module.name`` (one per name)."""
    key = (module, name)
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (PickledObject,), {"_qualified_name": f"{module}.{name}"})
    return _STAND_INS[key]


# ---------------------------------------------------------------------- numpy
def load_numpy_pickle(path: str) -> Any:
    """The object a ``.npy`` file holds (``np.load(path, allow_pickle=...)``'s result), without running code.

    Plain arrays are read by numpy directly; object arrays (e.g. a saved dict) are unpickled with numpy's array
    reconstruction and plain containers only (Python 2 strings decoded as latin-1, as the released files need).

    Raises:
        UnsafePickleError: the pickle names anything else.
        CheckpointError: the file is missing or not a ``.npy`` file.
    """
    try:
        with open(path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _shape, _fortran, dtype = header(stream)
            if not dtype.hasobject:
                stream.seek(0)
                return np.lib.format.read_array(stream, allow_pickle=False)
            allowed = dict(_NUMPY_GLOBALS)
            array = _RestrictedUnpickler(stream, allowed, path, encoding="latin1").load()
    except UnsafePickleError:
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"cannot read {path} as a .npy file ({type(err).__name__}: {err})") from err
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


# ---------------------------------------------------------------------- torch modules
@dataclass(frozen=True)
class PickledModule:
    """A network read from a ``torch.save(module)`` file.

    Attributes:
        class_name: ``module.Class`` of the saved top-level module.
        state_dict: Parameters and persistent buffers by dotted name, as ``module.state_dict()`` would give.
        children: Dotted module name -> ``module.Class`` for every sub-module (``""`` is the top level).
        attributes: The top-level module's other recorded attributes (e.g. a pickled ``opt``, as a
            :class:`PickledObject` whose ``pickled_state`` holds its fields); ``nn.Module`` internals left out.
    """

    class_name: str
    state_dict: dict[str, Tensor]
    children: dict[str, str]
    attributes: dict[str, Any] = field(default_factory=dict)


def _torch_globals() -> dict:
    allowed = {tuple(key.rsplit(".", 1)): value for key, value in _get_allowed_globals().items()}
    return allowed


def load_pickled_module(path: str) -> PickledModule:
    """Read a whole pickled ``nn.Module`` (``torch.save(net)``, zip format) into its state dict, running nothing.

    Raises:
        UnsafePickleError: the pickle names a global that is not a tensor helper or a network module class.
        CheckpointError: the file is missing, truncated or in the pre-1.6 (non-zip) format.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"cannot read {path} ({err}); expected a torch.save file in the zip format "
                              "(PyTorch >= 1.6)") from err
    with archive:
        pickle_name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pickle_name is None:
            raise CheckpointError(f"{path}: no data.pkl inside; not a torch.save file")
        prefix = pickle_name[: -len("data.pkl")]
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickle_name)), _torch_globals(), path,
                                         stand_ins=True, encoding="utf-8")
        unpickler.persistent_load = lambda saved_id: _load_storage(archive, prefix, saved_id, path)
        try:
            root = unpickler.load()
        except UnsafePickleError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure means the file cannot be used
            raise CheckpointError(f"cannot unpickle {path} ({type(err).__name__}: {err})") from err
    if not isinstance(root, PickledObject):
        raise CheckpointError(f"{path} holds a {type(root).__name__}, not a pickled network module")
    state: dict[str, Tensor] = {}
    children: dict[str, str] = {}
    _collect(root, "", state, children)
    attributes = {k: v for k, v in root.pickled_state.items() if not k.startswith("_") and k != "training"}
    return PickledModule(root.class_name, state, children, attributes)


def _load_storage(archive: zipfile.ZipFile, prefix: str, saved_id: tuple, path: str) -> Any:
    """The storage a persistent id names: raw bytes of ``<prefix>data/<key>`` as a typed storage."""
    if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
        raise UnsafePickleError(f"{path}: unexpected persistent id {saved_id!r}")
    _, storage_type, key, _location, numel = saved_id
    dtype = storage_type.dtype if hasattr(storage_type, "dtype") else torch.uint8
    raw = bytearray(archive.read(f"{prefix}data/{key}"))
    untyped = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
    return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def _collect(obj: PickledObject, prefix: str, state: dict, children: dict) -> None:
    """Walk ``_parameters`` / ``_buffers`` / ``_modules`` of the stand-ins like ``nn.Module.state_dict``."""
    recorded = obj.pickled_state
    children[prefix.rstrip(".")] = obj.class_name
    skipped = set(recorded.get("_non_persistent_buffers_set", ()) or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (recorded.get(group) or {}).items():
            if isinstance(value, Tensor) and name not in skipped:
                state[prefix + name] = value.detach()
    for name, child in (recorded.get("_modules") or {}).items():
        if isinstance(child, PickledObject):
            _collect(child, f"{prefix}{name}.", state, children)
