"""waifu2x's exported JSON models (nagadomi/waifu2x tools/export_model.lua layout) load into vgg_7/upconv_7 and
match a numpy forward pass written here (valid 3x3 convolutions, LeakyReLU 0.1, a 4x4 stride-2 full convolution
with padding 3), and `pixforge upscale --model file.json` runs them."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixforge.cli import main
from pixforge.errors import WeightsError
from pixforge.sr import load_model

pytestmark = pytest.mark.usefixtures("one_thread")

VGG7_WIDTHS = [3, 32, 32, 64, 64, 128, 128, 3]
UPCONV7_WIDTHS = [3, 16, 32, 64, 128, 128, 256, 3]


def _layers(upconv: bool, seed: int = 0, old: bool = False) -> list[dict]:
    return json.loads(_layers_json(upconv, seed, old))


@functools.lru_cache
def _layers_json(upconv: bool, seed: int, old: bool) -> str:
    """Random layers in the exported layout: conv weights nested as [out][in][kH][kW], full-conv ones [in][out][kH][kW]."""
    rng = np.random.default_rng(seed)
    widths = UPCONV7_WIDTHS if upconv else VGG7_WIDTHS
    layers = []
    for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
        full = upconv and i == 6
        k = 4 if full else 3
        shape = (cin, cout, k, k) if full else (cout, cin, k, k)
        layer = {"nInputPlane": cin, "nOutputPlane": cout, "kW": k, "kH": k,
                 "weight": (rng.standard_normal(shape) * np.sqrt(2 / (cin * 9))).round(5).tolist(),
                 "bias": (rng.standard_normal(cout) * 0.05).round(5).tolist()}
        if not old:  # the oldest exports carry no class_name, stride or padding
            layer.update(class_name="nn.SpatialFullConvolution" if full else "nn.SpatialConvolutionMM",
                         dW=2 if full else 1, dH=2 if full else 1, padW=3 if full else 0, padH=3 if full else 0)
        layers.append(layer)
    layers[0]["model_config"] = {"arch_name": "upconv_7" if upconv else "vgg_7", "scale_factor": 2 if upconv else 1}
    return json.dumps(layers)


def _conv_valid(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (C, H, W), w (O, C, k, k) -> (O, H-k+1, W-k+1): a cross-correlation without padding."""
    k = w.shape[-1]
    h, wd = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((w.shape[0], h, wd))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, dy, dx], x[:, dy:dy + h, dx:dx + wd])
    return out + b[:, None, None]


def _full_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 2, pad: int = 3) -> np.ndarray:
    """Torch7's SpatialFullConvolution: every input pixel scatters w[c, :, :, :] x value at stride, then ``pad``
    is cut from every side. x (C, H, W), w (C, O, k, k) -> (O, (H-1)s + k - 2p, ...)."""
    c, h, wd = x.shape
    k = w.shape[-1]
    full = np.zeros((w.shape[1], (h - 1) * stride + k, (wd - 1) * stride + k))
    for i in range(h):
        for j in range(wd):
            full[:, i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum("c,cokl->okl", x[:, i, j], w)
    return full[:, pad:full.shape[1] - pad, pad:full.shape[2] - pad] + b[:, None, None]


def _reference(layers: list[dict], x: np.ndarray) -> np.ndarray:
    for n, m in enumerate(layers):
        w, b = np.asarray(m["weight"], np.float64), np.asarray(m["bias"], np.float64)
        x = _full_conv(x, w, b) if m.get("class_name") == "nn.SpatialFullConvolution" else _conv_valid(x, w, b)
        if n < len(layers) - 1:
            x = np.where(x > 0, x, 0.1 * x)
    return x


@pytest.mark.parametrize("upconv, old", [(True, False), (False, False), (False, True)])
def test_json_model_matches_a_numpy_forward_pass(tmp_path, upconv, old):
    layers = _layers(upconv, old=old)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(layers))
    net = load_model(path, device="cpu")
    assert net.scale == (2 if upconv else 1)
    x = np.random.default_rng(1).random((3, 19, 17))
    with torch.no_grad():
        got = net(torch.from_numpy(x).float()[None])[0].double().numpy()
    want = _reference(layers, x)
    assert got.shape == want.shape == ((3, 2 * 7 - 4, 2 * 5 - 4) if upconv else (3, 19 - 14, 17 - 14))
    assert np.abs(got - want).max() < 1e-4


def test_upscale_cli_runs_a_json_model(tmp_path):
    layers = _layers(True, seed=2)
    for m in layers:  # small weights keep the output inside [0, 1], so clamping does not hide a mismatch
        m["weight"] = (np.asarray(m["weight"]) * 0.5).tolist()
    layers[-1]["bias"] = [0.5, 0.5, 0.5]
    path = tmp_path / "upconv.json"
    path.write_text(json.dumps(layers))
    rgb = (np.random.default_rng(3).random((20, 23, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                                       "--model", str(path), "--tile", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out.png"), np.float64) / 255
    padded = np.pad(rgb.astype(np.float64) / 255, ((7, 7), (7, 7), (0, 0)), mode="edge")  # waifu2x pads by its reach
    want = np.clip(_reference(layers, padded.transpose(2, 0, 1)), 0, 1).transpose(1, 2, 0)
    assert out.shape == want.shape == (40, 46, 3)
    assert 0.05 < want.min() and want.max() < 0.95
    assert np.abs(out - want).max() <= 0.5 / 255 + 1e-6  # equal up to 8-bit rounding


@pytest.mark.parametrize("edit, message", [
    (lambda layers: layers[:5], "5 layers"),
    (lambda layers: [{**layers[0], "nInputPlane": 1, "weight": layers[0]["weight"][:1]}] + layers[1:], "Y-only"),
    (lambda layers: [{**layers[0], "weight": layers[0]["weight"][:-1]}] + layers[1:], "layer 1: weights do not match"),
    (lambda layers: {"not": "a list"}, "not a waifu2x JSON model"),
])
def test_malformed_json_models_are_refused_in_one_line(tmp_path, edit, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(edit(_layers(False))))
    with pytest.raises(WeightsError, match=message):
        load_model(path, device="cpu")


def test_upscale_cli_refuses_a_malformed_json_model_in_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_layers(False)[:6]))
    Image.new("RGB", (20, 20)).save(tmp_path / "in.png")
    result = CliRunner().invoke(main, ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"),
                                       "--model", str(path)])
    assert result.exit_code == 2 and "6 layers" in result.output and not (tmp_path / "o.png").exists()
