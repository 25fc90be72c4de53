"""Released StyleGAN2 generators, loaded without executing anything from the file.

* rosinality/stylegan2-pytorch ``.pt`` files (its training checkpoints and the files of ``convert_weight.py``):
  ``torch.load(weights_only=True)`` (argparse's ``Namespace`` of the training options allowed as plain data);
  the ``g_ema`` state dict loads by key into :class:`~pixforge.models.stylegan2.StyleGAN2Generator`, whose
  shape is read off the tensors. ``latent_avg`` becomes ``w_avg``, else the mean w of 4096 random z.
* NVIDIA ``.pkl`` files of stylegan2-ada-pytorch (the format NVIDIA distributes its StyleGAN2 networks in):
  a pickle of whole Python objects whose classes carry their own source code, which ``pickle.load`` would
  execute. :func:`read_nvidia_pickle` uses an unpickler that knows only tensors, NumPy arrays, plain
  containers and inert records of NVIDIA's objects (class name and attributes; the embedded source is never
  compiled), and refuses every other global. ``G_ema``'s tensors are renamed to rosinality's layout.

TensorFlow-era StyleGAN2 ``.pkl`` files (``dnnlib.tflib.Network``) and StyleGAN3 networks are not read.
"""
from __future__ import annotations

import argparse
import codecs
import collections
import io
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..nn.conv import make_kernel
from ..weights import load_strict
from .stylegan2 import StyleGAN2Generator

Tensor = torch.Tensor


# ------------------------------------------------------------------------------------------------ rosinality
def read_torch(path: str | Path, what: str = "a StyleGAN2 generator") -> Any:
    """``torch.load(weights_only=True)`` that also accepts argparse Namespaces (rosinality saves its options)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        from ..weights import _why_unloadable

        raise WeightsError(f"{path}: cannot load as {what}: {_why_unloadable(path, exc)}") from None


def is_rosinality(obj: Any) -> bool:
    """Whether a loaded .pt holds a rosinality generator (a checkpoint with ``g_ema``, or the bare state dict)."""
    return isinstance(obj, dict) and ("g_ema" in obj or "style.1.weight" in obj)


def generator_for(state: dict[str, Tensor], what: str) -> StyleGAN2Generator:
    """An empty StyleGAN2Generator of the size, widths and depth that the rosinality-layout ``state`` has."""
    try:
        style_dim = state["style.1.weight"].shape[1]
        n_mlp = sum(1 for k in state if re.fullmatch(r"style\.\d+\.weight", k))
        n_rgbs = sum(1 for k in state if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
        size = 2 ** (n_rgbs + 2)
        channels = state["to_rgb1.conv.weight"].shape[1]
        widths = {4: state["input.input"].shape[1]}
        widths.update({2 ** (i + 3): state[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(n_rgbs)})
    except KeyError as exc:
        raise WeightsError(f"{what}: not a StyleGAN2 generator (no {exc.args[0]})") from None
    channel_max = max(widths.values())
    channel_base = max(c * r for r, c in widths.items() if c < channel_max) if min(widths.values()) < channel_max \
        else channel_max * size
    return StyleGAN2Generator(size, style_dim, n_mlp, channel_base, channel_max, channels=channels)


def load_rosinality(path: str | Path, obj: Any = None) -> StyleGAN2Generator:
    """The ``g_ema`` generator of a rosinality/stylegan2-pytorch ``.pt`` file (``obj``: its contents, if read)."""
    obj = read_torch(path) if obj is None else obj
    if not is_rosinality(obj):
        raise WeightsError(f"{path}: not a rosinality/stylegan2-pytorch file (no g_ema)")
    state = dict(obj.get("g_ema", obj))
    return _finish(generator_for(state, str(path)), state, obj.get("latent_avg"), str(path))


def _finish(g: StyleGAN2Generator, state: dict[str, Tensor], w_avg: Tensor | None, what: str) -> StyleGAN2Generator:
    """Load ``state`` strictly; ``w_avg`` from the file, else the mean w of 4096 random z."""
    load_strict(g, {**state, "w_avg": torch.zeros(g.style_dim) if w_avg is None else w_avg.reshape(-1)}, what)
    if w_avg is None:
        g.w_avg.copy_(g.mean_latent(4096))
    return g.eval()


# ------------------------------------------------------------------------------------------------ NVIDIA
@dataclass
class Persistent:
    """What a pickled NVIDIA object leaves behind here: its class name and attributes (never its code)."""

    class_name: str
    state: dict

    def tensors(self, prefix: str = "") -> dict[str, Tensor]:
        """The state dict of the torch module this object was: parameters, buffers, then submodules."""
        out = {}
        for group in ("_parameters", "_buffers"):
            out.update({prefix + k: v for k, v in (self.state.get(group) or {}).items() if torch.is_tensor(v)})
        for name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, Persistent):
                out.update(child.tensors(f"{prefix}{name}."))
        return out

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})


class _EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""


def _persistent(meta: dict) -> Persistent:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("unexpected persistent object")
    return Persistent(str(meta.get("class_name")), dict(meta["state"]))


def _storage(data: bytes):
    """A tensor storage pickled as a legacy torch file, read with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None) -> Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("a tensor without a storage")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, collections.OrderedDict())


def _parameter(data, requires_grad=False, hooks=None, state=None) -> Tensor:
    if not torch.is_tensor(data):
        raise pickle.UnpicklingError("a parameter without a tensor")
    return data


def _latin1(text: str, encoding: str = "latin1") -> bytes:  # how protocol-2 pickles write bytes
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refusing codecs.encode(..., {encoding!r})")
    return codecs.encode(text, "latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = multiarray._reconstruct
        found[(module, "scalar")] = multiarray.scalar
    return found


#: every global an NVIDIA pickle may name, and what stands in for it
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1,
    ("torch", "Size"): torch.Size,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("torch.storage", "_load_from_bytes"): _storage,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
    ("dnnlib.util", "EasyDict"): _EasyDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`SAFE_GLOBALS`; any other class or function in the stream is refused."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = SAFE_GLOBALS.get((module, name)) or _numpy_globals().get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: pixforge reads only tensors, arrays "
                                         "and plain containers from pickles")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing a persistent id: not a plain pickle")


def read_nvidia_pickle(path: str | Path) -> Any:
    """The contents of an NVIDIA ``.pkl`` with every network as a :class:`Persistent` record, read by
    :class:`RestrictedUnpickler`; WeightsError when the file names anything else."""
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not loaded ({exc})") from None


def nvidia_to_rosinality(tensors: dict[str, Tensor], n_mlp: int) -> dict[str, Tensor]:
    """A stylegan2-ada-pytorch ``Generator`` state dict renamed and reshaped to rosinality's layout."""
    out = {"w_avg": tensors["mapping.w_avg"]}
    for i in range(n_mlp):
        for p in ("weight", "bias"):
            out[f"style.{i + 1}.{p}"] = tensors[f"mapping.fc{i}.{p}"]
    out["input.input"] = tensors["synthesis.b4.const"].unsqueeze(0)

    def layer(src: str, dst: str, noise: int) -> None:
        out[f"{dst}.conv.weight"] = tensors[f"{src}.weight"].unsqueeze(0)
        out[f"{dst}.conv.modulation.weight"] = tensors[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = tensors[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = tensors[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = tensors[f"{src}.bias"]
        const = tensors[f"{src}.noise_const"]
        out[f"noises.noise_{noise}"] = const.reshape(1, 1, *const.shape)

    def to_rgb(src: str, dst: str) -> None:
        out[f"{dst}.conv.weight"] = tensors[f"{src}.weight"].unsqueeze(0)
        out[f"{dst}.conv.modulation.weight"] = tensors[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = tensors[f"{src}.affine.bias"]
        out[f"{dst}.bias"] = tensors[f"{src}.bias"].reshape(1, -1, 1, 1)

    layer("synthesis.b4.conv1", "conv1", 0)
    to_rgb("synthesis.b4.torgb", "to_rgb1")
    i, res = 0, 8
    while f"synthesis.b{res}.conv0.weight" in tensors:
        layer(f"synthesis.b{res}.conv0", f"convs.{2 * i}", 2 * i + 1)
        layer(f"synthesis.b{res}.conv1", f"convs.{2 * i + 1}", 2 * i + 2)
        to_rgb(f"synthesis.b{res}.torgb", f"to_rgbs.{i}")
        i, res = i + 1, res * 2
    return out


def load_nvidia(path: str | Path, key: str = "G_ema") -> StyleGAN2Generator:
    """The ``G_ema`` StyleGAN2 generator of a stylegan2-ada-pytorch ``.pkl`` file (unconditional, skip G)."""
    obj = read_nvidia_pickle(path)
    net = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(net, Persistent):
        raise WeightsError(f"{path}: has no {key} network; is it a stylegan2-ada-pytorch .pkl?")
    kw = net.init_kwargs
    mapping, synthesis = dict(kw.get("mapping_kwargs") or {}), dict(kw.get("synthesis_kwargs") or {})
    problems = [why for bad, why in (
        (not kw.get("img_resolution"), "no img_resolution (not a StyleGAN2 generator)"),
        (kw.get("c_dim", 0), "class-conditional"),
        (kw.get("z_dim") != kw.get("w_dim"), "z_dim differs from w_dim"),
        (synthesis.get("architecture", "skip") != "skip", f"{synthesis.get('architecture')} architecture"),
        (mapping.get("lr_multiplier", 0.01) != 0.01, "mapping lr_multiplier other than 0.01"),
        ("synthesis.L0_36_512.weight" in net.tensors() or "synthesis.input.weight" in net.tensors(), "StyleGAN3"),
    ) if bad]
    if problems:
        raise WeightsError(f"{path}: {key} is not supported: {', '.join(problems)}")
    n_mlp = mapping.get("num_layers", 8)
    g = StyleGAN2Generator(kw["img_resolution"], kw["z_dim"], n_mlp, synthesis.get("channel_base", 32768),
                           synthesis.get("channel_max", 512), channels=kw.get("img_channels", 3))
    tensors = net.tensors()
    filters = [v for k, v in tensors.items() if k.endswith("resample_filter")]
    if any(f.shape != (4, 4) or not torch.allclose(f.float(), make_kernel((1, 3, 3, 1))) for f in filters):
        raise WeightsError(f"{path}: {key} uses a resampling filter other than [1, 3, 3, 1]")
    try:
        state = nvidia_to_rosinality(tensors, n_mlp)
    except KeyError as exc:
        raise WeightsError(f"{path}: {key} lacks {exc.args[0]}") from None
    own = g.state_dict()
    state.update({k: v for k, v in own.items() if k.endswith("kernel")})  # the fixed FIR filters
    w_avg = state.pop("w_avg")
    return _finish(g, state, w_avg, f"{path} ({key})")


def load_released(path: str | Path) -> StyleGAN2Generator:
    """A released StyleGAN2 generator: NVIDIA ``.pkl`` or rosinality ``.pt``."""
    return load_nvidia(path) if Path(path).suffix == ".pkl" else load_rosinality(path)
