"""Arbitrary style transfer: AdaIN, WCT, PhotoWCT smoothing, style-swap, converters, CLI (tiny random nets)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pixforge import weights
from pixforge.cli import main
from pixforge.io import read_image, save_image
from pixforge.style import arbitrary, methods, photowct
from pixforge.models.decoder import decoder_layout, make_decoder
from pixforge.nn.norms import adain
from pixforge.nn.vgg import VGGFeatures, convert_vgg_normalised
from pixforge.style.adain import adain_flat
from pixforge.tasks.adain import AdaINTask, AdaINTrainConfig
from pixforge.style.arbitrary import transfer
from pixforge.losses.perceptual import mean_std
from pixforge.style.photowct import smooth, smoothing_system
from pixforge.style.swap import style_swap
from pixforge.style.wct import colouring, wct, wct_flat, whiten
from pixforge.train.data import TEXTURES, TrainImages
from pixforge.train.loop import LoopConfig

# The exact layouts of naoto0804/pytorch-AdaIN's released files (written out, not derived from pixforge).
VGG_NORMALISED = {0: (3, 3, 1, 1), 2: (64, 3, 3, 3), 5: (64, 64, 3, 3), 9: (128, 64, 3, 3), 12: (128, 128, 3, 3),
                  16: (256, 128, 3, 3), 19: (256, 256, 3, 3), 22: (256, 256, 3, 3), 25: (256, 256, 3, 3),
                  29: (512, 256, 3, 3), 32: (512, 512, 3, 3), 35: (512, 512, 3, 3), 38: (512, 512, 3, 3),
                  42: (512, 512, 3, 3), 45: (512, 512, 3, 3), 48: (512, 512, 3, 3), 51: (512, 512, 3, 3)}
DECODER = {1: (256, 512, 3, 3), 5: (256, 256, 3, 3), 8: (256, 256, 3, 3), 11: (256, 256, 3, 3), 14: (128, 256, 3, 3),
           18: (128, 128, 3, 3), 21: (64, 128, 3, 3), 25: (64, 64, 3, 3), 28: (3, 64, 3, 3)}


@pytest.fixture(autouse=True)
def _setup(one_thread):
    """One thread (multi-threaded LAPACK crawls on a shared 2-core machine) and the same random networks every run."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def normalised_vgg(last: str) -> VGGFeatures:
    """The AdaIN release's encoder layout, random weights."""
    return VGGFeatures("vgg19", [last], normalization="normalised")


def random_state(layout: dict[int, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for i, shape in layout.items():
        state[f"{i}.weight"] = torch.randn(shape, generator=g) * 0.05
        state[f"{i}.bias"] = torch.randn(shape[0], generator=g) * 0.05
    return state


def feats(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 2 + 0.5


# ----- AdaIN -----

def test_adain_matches_style_statistics():
    c, s = feats(2, 8, 6, 7, seed=1), feats(1, 8, 5, 5, seed=2) * 3 - 1
    out = adain(c, s)
    mo, so = mean_std(out, eps=0)
    ms, ss = mean_std(s, eps=0)
    assert torch.allclose(mo, ms.expand_as(mo), atol=1e-4)
    assert torch.allclose(so, ss.expand_as(so), atol=1e-4, rtol=1e-4)
    flat = transfer(c, [s], adain_flat)
    assert torch.allclose(flat, out, atol=1e-5)


def test_alpha_zero_and_blend_weights():
    c, s0, s1 = feats(1, 8, 6, 6, seed=1), feats(1, 8, 5, 5, seed=2), feats(1, 8, 5, 5, seed=3) * 4
    assert torch.equal(transfer(c, [s0], adain_flat, alpha=0.0), c)
    only0 = transfer(c, [s0, s1], adain_flat, weights=[1.0, 0.0])
    assert torch.allclose(only0, adain(c, s0), atol=1e-5)
    half = transfer(c, [s0, s1], adain_flat, weights=[1.0, 1.0])
    assert torch.allclose(half, (adain(c, s0) + adain(c, s1)) / 2, atol=1e-5)


def test_masks_route_statistics_per_region():
    c, s0, s1 = feats(1, 4, 8, 8, seed=1), feats(1, 4, 6, 6, seed=2), feats(1, 4, 6, 6, seed=3) * 5 + 3
    left = torch.zeros(1, 32, 32)
    left[..., :16] = 1
    out = transfer(c, [s0, s1], adain_flat, masks=[left, 1 - left])
    for region, s in ((out[..., :4], s0), (out[..., 4:], s1)):
        m, sd = mean_std(region.reshape(1, 4, -1, 1), eps=0)
        ms, ss = mean_std(s, eps=0)
        assert torch.allclose(m, ms, atol=1e-4) and torch.allclose(sd, ss, atol=1e-3)


# ----- WCT -----

def cov(f):
    d = f - f.mean(1, keepdim=True)
    return d @ d.T / (f.shape[1] - 1)


def test_whitening_gives_identity_covariance():
    f = torch.randn(6, 6, dtype=torch.float64) @ torch.randn(6, 200, dtype=torch.float64) + 3
    w = whiten(f)
    assert torch.allclose(cov(w), torch.eye(6, dtype=torch.float64), atol=1e-3)
    assert w.mean(1).abs().max() < 1e-8


@pytest.mark.parametrize("n_content", [150, 5])  # more positions than channels (eigh) and fewer (thin SVD)
def test_wct_matches_style_mean_and_covariance(n_content):
    g = torch.Generator().manual_seed(0)
    fc = torch.randn(8, 8, generator=g, dtype=torch.float64) @ torch.randn(8, n_content, generator=g, dtype=torch.float64)
    fs = torch.randn(8, 8, generator=g, dtype=torch.float64) @ torch.randn(8, 300, generator=g, dtype=torch.float64) + 2
    out = wct_flat(fc, fs)
    assert torch.allclose(out.mean(1), fs.mean(1), atol=1e-6)
    if n_content > 8:
        assert (cov(out) - cov(fs)).norm() / cov(fs).norm() < 1e-3
    assert torch.allclose(wct_flat(fc, colouring(fs)), out)
    batch = wct(fc.float().reshape(1, 8, n_content, 1), fs.float().reshape(1, 8, 300, 1), alpha=0.0)
    assert torch.allclose(batch.reshape(8, -1), fc.float())


# ----- style-swap -----

def test_style_swap_with_itself_returns_the_content():
    f = torch.relu(feats(1, 6, 9, 11, seed=4))
    assert torch.allclose(style_swap(f, f, patch_size=3), f, atol=1e-5)
    assert torch.allclose(style_swap(f, f, patch_size=3, chunk=7), f, atol=1e-5)  # chunked arg-max agrees


def test_style_swap_uses_only_style_patches():
    c, s = feats(1, 3, 6, 6, seed=5), torch.ones(1, 3, 5, 5)
    assert torch.allclose(style_swap(c, s, patch_size=3), torch.ones_like(c))


# ----- PhotoWCT smoothing -----

def test_smoothing_solves_the_linear_system(monkeypatch):
    content = torch.rand(1, 3, 9, 10, generator=torch.Generator().manual_seed(0))
    y = torch.rand(1, 3, 9, 10, generator=torch.Generator().manual_seed(1)).double()
    r = smooth(y, content, lam=5.0, sigma=0.3)
    a = smoothing_system(content[0].double().numpy(), lam=5.0, sigma=0.3)
    for ch in range(3):
        assert np.allclose(a @ r[0, ch].numpy().ravel(), y[0, ch].numpy().ravel(), atol=1e-8)
    assert torch.equal(smooth(y, content, lam=0.0), y)
    assert np.allclose((smoothing_system(content[0].numpy(), lam=0.0) - np.eye(90)), 0)
    assert r.std() < y.std()  # it smooths
    monkeypatch.setattr(photowct, "LU_MAX_PIXELS", 10)  # the conjugate-gradient path for big images
    r_cg = smooth(y, content, lam=5.0, sigma=0.3)
    assert torch.allclose(r_cg, r, atol=1e-4)


# ----- converters and registry -----

def test_vgg_normalised_converter_and_layout(tmp_path):
    state = random_state(VGG_NORMALISED)
    torch.save(state, tmp_path / "vgg_normalised.pth")
    converted = convert_vgg_normalised(tmp_path / "vgg_normalised.pth")
    assert set(converted) == {f"features.{k}" for k in state if int(k.split(".")[0]) <= 42}  # up to relu5_1
    enc = arbitrary.load_encoder("relu4_1", str(tmp_path / "vgg_normalised.pth"))
    assert enc.normalization == "normalised" and len(enc.features) == 31
    # The reference layout: 1x1 conv, then reflection pad + 3x3 conv + ReLU, ceil-mode max pools.
    ref, in_ch = [nn.Conv2d(3, 3, 1)], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512]:
        ref += [nn.MaxPool2d(2, 2, 0, ceil_mode=True)] if v == "M" else [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, v, 3), nn.ReLU()]
        in_ch = v if v != "M" else in_ch
    ref = nn.Sequential(*ref)
    ref.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < 31})
    x = torch.rand(1, 3, 27, 30)
    assert torch.allclose(enc(x, ["relu4_1"])["relu4_1"], ref(x), atol=1e-5)
    del state["5.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(weights.WeightsError, match="5.bias"):
        convert_vgg_normalised(tmp_path / "broken.pth")


def test_decoder_converter_and_registry(tmp_path, isolated_home):
    state = random_state(DECODER)
    torch.save(state, tmp_path / "decoder.pth")
    dec = make_decoder(normalised_vgg("relu4_1"), "relu4_1")
    assert {k: tuple(v.shape) for k, v in dec.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}
    assert [type(m).__name__ for m in dec][:5] == ["ReflectionPad2d", "Conv2d", "ReLU", "Upsample", "ReflectionPad2d"]
    spec = weights.get_spec("adain-decoder")
    assert spec.url.endswith("/v0.0.0/decoder.pth") and spec.sha256 is None
    assert weights.get_spec("adain-vgg-normalised").url.endswith("/v0.0.0/vgg_normalised.pth")
    weights.import_file("adain-decoder", tmp_path / "decoder.pth")
    loaded = weights.load_state_dict("adain-decoder")
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    dec = arbitrary.load_decoder(normalised_vgg("relu4_1"), "relu4_1", "adain-decoder")
    assert dec(torch.rand(1, 512, 4, 5)).shape == (1, 3, 32, 40)


def test_unpool_decoder_inverts_pool_positions():
    enc = normalised_vgg("relu2_1")
    dec = make_decoder(enc, "relu2_1", unpool=True)
    x = torch.rand(1, 3, 15, 17)
    f, pools = enc.encode(x, ["relu2_1"], pool_indices=True)
    assert dec(f["relu2_1"], pools).shape == x.shape
    with pytest.raises(ValueError, match="pool indices"):
        dec(f["relu2_1"])


def test_decoders_mirror_the_pixforge_vgg_fallback():
    enc = VGGFeatures("vgg16", ["relu4_1"], normalization="caffe")
    layout = decoder_layout(enc, "relu4_1")
    assert layout == [(512, 256), "M", (256, 256), (256, 256), (256, 128), "M", (128, 128), (128, 64), "M",
                      (64, 64), (64, 3)]
    x = torch.rand(1, 3, 24, 32)
    f, pools = enc.encode(x, ["relu4_1"], pool_indices=True)
    assert make_decoder(enc, "relu4_1", unpool=True)(f["relu4_1"], pools).shape == x.shape
    assert make_decoder(enc, "relu4_1")(f["relu4_1"]).shape == x.shape


# ----- methods, CLI and training -----

@pytest.mark.parametrize("method", ["adain", "wct", "photowct", "swap"])
def test_stylize_cli_writes_images(tmp_path, method):
    g = torch.Generator().manual_seed(0)
    save_image(torch.rand(3, 48, 64, generator=g), tmp_path / "c.png")
    save_image(torch.rand(3, 64, 64, generator=g), tmp_path / "s.png")
    result = CliRunner().invoke(main, ["stylize", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "-o",
                                       str(tmp_path / "o.png"), "--method", method, "--alpha", "0.5", "--size", "64",
                                       "--vgg", "random", "--random-weights", "--device", "cpu",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "o.png").shape == (3, 48, 64)


def test_luminance_only_keeps_the_content_chroma():
    from pixforge.style.color import rgb_to_yiq

    g = torch.Generator().manual_seed(0)
    content = torch.rand(3, 32, 32, generator=g) * 0.5 + 0.25
    opts = methods.StylizeOptions(method="adain", vgg_weights="random", random_weights=True, device="cpu",
                                  preserve_color="luminance")
    out = methods.stylize(content, [torch.rand(3, 32, 32, generator=g)], opts)
    assert torch.allclose(rgb_to_yiq(out)[1:], rgb_to_yiq(content)[1:], atol=1e-4)


def test_preserve_color_and_masks_through_the_registry():
    g = torch.Generator().manual_seed(0)
    content, styles = torch.rand(3, 32, 32, generator=g), [torch.rand(3, 32, 32, generator=g) for _ in range(2)]
    left = torch.zeros(1, 32, 32)
    left[..., :16] = 1
    for extra in ({"preserve_color": "luminance"}, {"preserve_color": "histogram"}, {"masks": [left, 1 - left]},
                  {"style_blend": [0.3, 0.7]}):
        opts = methods.StylizeOptions(method="adain", vgg_weights="random", random_weights=True, device="cpu", **extra)
        out = methods.stylize(content, styles, opts)
        assert out.shape == content.shape and torch.isfinite(out).all()
    with pytest.raises(methods.ConfigError):
        methods.stylize(content, styles, methods.StylizeOptions(method="adain", vgg_weights="random", random_weights=True,
                                                                masks=[left]))


def test_tiled_adain(tmp_path):
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(3, 40, 56, generator=g), torch.rand(3, 32, 32, generator=g)
    base = dict(method="adain", vgg_weights="random", random_weights=True, device="cpu", alpha=0.7)
    torch.manual_seed(0)
    whole = methods.stylize(content, [style], methods.StylizeOptions(**base))
    torch.manual_seed(0)
    one_tile = methods.stylize(content, [style], methods.StylizeOptions(**base, tile=64))
    assert torch.allclose(whole, one_tile, atol=1e-4)
    torch.manual_seed(0)
    tiled = methods.stylize(content, [style], methods.StylizeOptions(**base, tile=16))
    assert tiled.shape == whole.shape and torch.isfinite(tiled).all()
    boxes = arbitrary.tile_boxes(40, 56, 16, 8)
    covered = torch.zeros(40, 56)
    for _, _, iy, ix in boxes:
        covered[iy, ix] += 1
    assert torch.equal(covered, torch.ones(40, 56))


@pytest.fixture
def image_dirs(tmp_path):
    """Tiny content and style folders (the built-in scikit-image sets take seconds to load)."""
    g = torch.Generator().manual_seed(0)
    for kind, n in (("content", 3), ("style", 2)):
        (tmp_path / kind).mkdir()
        for i in range(n):
            save_image(torch.rand(3, 40, 48, generator=g), tmp_path / kind / f"{i}.png")
    return tmp_path / "content", tmp_path / "style"


def test_train_adain_lowers_the_loss(tmp_path, image_dirs):
    cfg = AdaINTrainConfig(content=str(image_dirs[0]), style=str(image_dirs[1]), size=32, load_size=48, batch_size=2,
                           lr=1e-3, vgg_weights="random",
                           loop=LoopConfig(steps=1, out=str(tmp_path), device="cpu"))
    torch.manual_seed(0)
    task = AdaINTask(cfg, torch.device("cpu"))
    fixed = task.batch(0)
    before = float(task.losses(*fixed)[0]["loss"])
    task.batch = lambda step: fixed  # the real train_step, on one batch so the loss is comparable
    for step in range(15):
        task.train_step(step)
    assert float(task.losses(*fixed)[0]["loss"]) < 0.8 * before


def test_train_cli_writes_decoders_in_reference_layout(tmp_path, image_dirs):
    runner = CliRunner()
    out = tmp_path / "adain"
    result = runner.invoke(main, ["train", "adain", "--content", str(image_dirs[0]), "--style", str(image_dirs[1]),
                                  "--steps", "2", "--out", str(out), "--size", "32", "--amp",
                                  "--batch-size", "2", "--vgg", "random", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    state = weights.load_file(out / "decoder.safetensors")
    assert {k: tuple(v.shape) for k, v in state.items()} == {f"{i}.{p}": (s if p == "weight" else s[:1])
                                                             for i, s in DECODER.items() for p in ("weight", "bias")}
    result = runner.invoke(main, ["train", "wct-decoders", "--images", str(image_dirs[0]), "--steps", "1",
                                  "--out", str(tmp_path / "wct"), "--size",
                                  "16", "--batch-size", "1", "--levels", "relu2_1,relu1_1", "--unpool", "--vgg",
                                  "random", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    keys = weights.load_file(tmp_path / "wct" / "wct_decoders.safetensors")
    assert {k.split(".")[0] for k in keys} == {"relu2_1", "relu1_1"}


def test_builtin_training_images():
    images = TrainImages("builtin", 16, load_size=32, builtin=TEXTURES)
    crops = torch.stack([images[0, 0], images[2, 1]])
    assert len(images) == 3 and crops.shape == (2, 3, 16, 16) and 0 <= crops.min() and crops.max() <= 1


@pytest.mark.parametrize("method", ["adain", "swap"])  # (random 5-level WCT decoders clamp to black)
def test_bf16_autocast_stays_close_to_fp32(method):
    """--bf16 runs the networks in bfloat16 but keeps feature statistics in fp32: same picture within a few levels."""
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(3, 32, 32, generator=g), torch.rand(3, 32, 32, generator=g)
    outs = []
    for bf16 in (False, True):
        torch.manual_seed(0)  # the same random networks
        opts = methods.StylizeOptions(method=method, vgg_weights="random", random_weights=True, device="cpu",
                                      bf16=bf16)
        outs.append(methods.stylize(content, [style], opts))
    assert outs[1].dtype == torch.float32
    assert not torch.equal(outs[0], outs[1])  # bf16 really ran
    assert (outs[0] - outs[1]).abs().mean() < 0.02
