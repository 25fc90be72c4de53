"""A reference ncnn executor in plain numpy, written from ncnn's layer definitions and independent of pixforge:
the converter tests compare pixforge's networks (filled by ``pixforge.models.ncnn``) against it.

Covers the layers of the released super-resolution graphs: Input, Split, Convolution / Deconvolution (with
fused activation), PReLU, InnerProduct, Pooling (global average), Scale, Eltwise, BinaryOp, Concat, Crop,
Interp (nearest) and PixelShuffle. Deconvolution scatters each input pixel through ``w[out, in]`` as ncnn's CPU
code does, then cuts ``pad`` pixels from each side. Also writes ncnn files (``write_model``) for tests with
synthetic weights.
"""
from __future__ import annotations

import struct

import numpy as np

FP16 = 0x01306B47


def parse_param(text: str) -> list[tuple[str, str, list[str], list[str], dict]]:
    lines = text.strip().splitlines()
    assert int(lines[0]) == 7767517
    layers = []
    for line in lines[2:]:
        tok = line.split()
        n_in, n_out = int(tok[2]), int(tok[3])
        params = {}
        for item in tok[4 + n_in + n_out:]:
            k, v = item.split("=")
            if int(k) <= -23300:
                params[-int(k) - 23300] = [float(x) for x in v.split(",")[1:]]
            else:
                params[int(k)] = float(v) if ("." in v or "e" in v) else int(v)
        layers.append((tok[0], tok[1], tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out], params))
    return layers


class Bin:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def raw(self, n: int) -> np.ndarray:
        a = np.frombuffer(self.data, np.float32, n, self.pos).astype(np.float64)
        self.pos += 4 * n
        return a

    def tagged(self, n: int) -> np.ndarray:
        tag = struct.unpack_from("<I", self.data, self.pos)[0]
        self.pos += 4
        if tag == FP16:
            a = np.frombuffer(self.data, np.float16, n, self.pos).astype(np.float64)
            self.pos += (2 * n + 3) // 4 * 4
            return a
        assert tag == 0, hex(tag)
        return self.raw(n)


def activate(x: np.ndarray, p: dict) -> np.ndarray:
    kind = p.get(9, 0)
    if kind == 1:
        return np.maximum(x, 0)
    if kind == 2:
        return np.where(x > 0, x, x * p[10][0])
    if kind == 4:
        return 1 / (1 + np.exp(-x))
    assert kind == 0, kind
    return x


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int) -> np.ndarray:
    """x (C, H, W), w (O, C, k, k): zero padding ``pad``, correlation as in every framework."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    out = np.einsum("chwij,ocij->ohw", win, w)
    return out + (b[:, None, None] if b is not None else 0)


def deconv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int) -> np.ndarray:
    """ncnn Deconvolution: out[p, i*s + ki, j*s + kj] += x[q, i, j] * w[p, q, ki, kj], then cut ``pad``."""
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((o, (h - 1) * stride + k, (wd - 1) * stride + k))
    for ki in range(k):
        for kj in range(k):
            out[:, ki:ki + (h - 1) * stride + 1:stride, kj:kj + (wd - 1) * stride + 1:stride] += \
                np.einsum("qhw,pq->phw", x, w[:, :, ki, kj])
    out += b[:, None, None] if b is not None else 0
    return out[:, pad:out.shape[1] - pad, pad:out.shape[2] - pad]


def run(param_text: str, bin_data: bytes, image: np.ndarray) -> np.ndarray:
    """Run the graph on ``image`` (C, H, W) float; return the last layer's output."""
    blobs: dict[str, np.ndarray] = {}
    weights = Bin(bin_data)
    out = None
    for kind, _name, ins, outs, p in parse_param(param_text):
        xs = [blobs[i] for i in ins]
        if kind == "Input":
            out = image.astype(np.float64)
        elif kind == "Split":
            for o in outs:
                blobs[o] = xs[0]
            continue
        elif kind in ("Convolution", "Deconvolution"):
            n, k = p[0], p[1]
            w = weights.tagged(p[6])
            b = weights.raw(n) if p.get(5, 0) else None
            if kind == "Convolution":
                out = conv(xs[0], w.reshape(n, -1, k, k), b, p.get(3, 1), p.get(4, 0))
            else:
                out = deconv(xs[0], w.reshape(n, -1, k, k), b, p.get(3, 1), p.get(4, 0))
            out = activate(out, p)
        elif kind == "PReLU":
            slope = weights.raw(p[0])
            out = np.where(xs[0] > 0, xs[0], xs[0] * slope[:, None, None])
        elif kind == "Pooling":
            assert p.get(0) == 1 and p.get(4) == 1  # global average
            out = xs[0].mean((1, 2))
        elif kind == "InnerProduct":
            w = weights.tagged(p[2]).reshape(p[0], -1)
            b = weights.raw(p[0]) if p.get(1, 0) else 0
            out = activate(w @ xs[0].reshape(-1) + b, p)
        elif kind == "Scale":
            out = xs[0] * xs[1].reshape(-1, 1, 1)
        elif kind == "BinaryOp":
            a, b = xs
            a = a.reshape(-1, 1, 1) if a.ndim == 1 else a
            b = b.reshape(-1, 1, 1) if b.ndim == 1 else b
            out = {0: np.add, 2: np.multiply}[p.get(0, 0)](a, b)
        elif kind == "Eltwise":
            coeffs = p.get(1, [1.0] * len(xs))
            assert p.get(0) == 1  # sum
            out = sum(c * x for c, x in zip(coeffs, xs))
        elif kind == "Concat":
            out = np.concatenate(xs, 0)
        elif kind == "Crop":
            if len(xs) == 2:  # crop to the second blob's size at offsets (w, h)
                ox, oy = p[0], p[1]
                h, w = xs[1].shape[1:]
                out = xs[0][:, oy:oy + h, ox:ox + w]
            else:  # starts/ends on axes (h, w), negative ends count from the end
                (sh, sw), (eh, ew) = p[9], p[10]
                out = xs[0][:, int(sh):xs[0].shape[1] + int(eh), int(sw):xs[0].shape[2] + int(ew)]
        elif kind == "Interp":
            assert p[0] == 1  # nearest
            fy, fx = int(p[1]), int(p[2])
            out = xs[0].repeat(fy, 1).repeat(fx, 2)
        elif kind == "PixelShuffle":
            r = p[0]
            c, h, w = xs[0].shape
            out = xs[0].reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(c // (r * r), h * r, w * r)
        else:
            raise NotImplementedError(kind)
        blobs[outs[0]] = out
    assert weights.pos == len(weights.data), "weights left over"
    return out


def srvgg_param(num_feat: int, num_conv: int, scale: int) -> str:
    """The graph of SRVGGNetCompact as Real-ESRGAN's ncnn export writes it: ``num_conv + 1`` convs with PReLU
    (the first one and ``num_conv`` more), a conv to ``3 scale^2`` channels, pixel shuffle, + nearest input."""
    lines = ["Input input 0 1 data", "Split split 1 2 data in_a in_b"]
    prev, cin = "in_a", 3
    for i in range(num_conv + 1):
        lines.append(f"Convolution conv{i} 1 1 {prev} c{i} 0={num_feat} 1=3 4=1 5=1 6={num_feat * cin * 9}")
        lines.append(f"PReLU prelu{i} 1 1 c{i} p{i} 0={num_feat}")
        prev, cin = f"p{i}", num_feat
    n = 3 * scale * scale
    lines.append(f"Convolution conv_last 1 1 {prev} last 0={n} 1=3 4=1 5=1 6={n * num_feat * 9}")
    lines.append(f"PixelShuffle shuffle 1 1 last shuffled 0={scale}")
    lines.append(f"Interp resize 1 1 in_b up 0=1 1={float(scale)} 2={float(scale)}")
    lines.append("BinaryOp add 2 1 shuffled up output")
    return f"7767517\n{len(lines)} {len(lines) + 1}\n" + "\n".join(lines) + "\n"


def write_model(param_text: str, rng: np.random.Generator, fp16_layers: bool = True) -> bytes:
    """Random weights in ncnn's .bin layout for a graph (tagged float16 conv weights, raw float32 biases)."""
    out = bytearray()
    for kind, _name, _ins, _outs, p in parse_param(param_text):
        if kind in ("Convolution", "Deconvolution"):
            w = (rng.standard_normal(p[6]) * 0.05).astype(np.float16 if fp16_layers else np.float32)
            out += struct.pack("<I", FP16 if fp16_layers else 0) + w.tobytes()
            out += b"\0" * (-len(out) % 4)
            if p.get(5, 0):
                out += (rng.standard_normal(p[0]) * 0.01).astype(np.float32).tobytes()
        elif kind == "PReLU":
            out += rng.uniform(0, 0.3, p[0]).astype(np.float32).tobytes()
    return bytes(out)
