"""The one Python API: pixforge.stylize/upscale/translate/sample/evaluate take a path, a PIL image, an array or a
tensor and give the same kind back (io.as_batch / io.restore), with the library's own numbers."""
from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pixforge
from pixforge.errors import BadInputError, ConfigError
from pixforge.io import ImageKind, as_batch, restore
from pixforge.models.pix2pix import ResnetGenerator
from pixforge.models.sr import SRVGGNetCompact

pytestmark = pytest.mark.usefixtures("one_thread")


def photo(h: int = 40, w: int = 52) -> np.ndarray:
    from skimage import data

    return data.chelsea()[60:60 + h, 150:150 + w].copy()  # uint8 (h, w, 3)


@pytest.mark.parametrize("make, kind", [
    (lambda a: a, "numpy"), (lambda a: a[..., 0], "numpy"), (lambda a: np.stack([a, a]), "numpy"),
    (lambda a: (a / 255).astype(np.float64), "numpy"), (lambda a: (a.astype(np.uint16) * 257), "numpy"),
    (lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255, "tensor"),
    (lambda a: torch.from_numpy(a).permute(2, 0, 1).contiguous(), "tensor"),
    (lambda a: torch.from_numpy(np.stack([a, a])).permute(0, 3, 1, 2) / 255, "tensor"),
    (lambda a: Image.fromarray(a), "pil"), (lambda a: Image.fromarray(a[..., 0]), "pil")])
def test_as_batch_then_restore_gives_the_input_back(make, kind):
    image = make(photo())
    batch, k = as_batch(image, keep_alpha=True)
    assert k.type == kind and batch.dim() == 4 and batch.dtype == torch.float32 and 0 <= batch.min() <= batch.max() <= 1
    back = restore(batch, k)
    if kind == "pil":
        assert np.array_equal(np.array(back), np.array(image))
    elif kind == "numpy":
        assert back.dtype == image.dtype and back.shape == image.shape and np.allclose(back, image, atol=1e-6)
    else:
        assert back.dtype == image.dtype and torch.allclose(back.float(), image.float(), atol=1e-6)
    rgb, _ = as_batch(image)  # without keep_alpha: always RGB
    assert rgb.shape[1] == 3


def test_as_batch_composites_alpha_on_white_and_refuses_what_is_not_an_image(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128  # half-transparent red
    batch, _ = as_batch(rgba)
    assert torch.allclose(batch[0, :, 0, 0], torch.tensor([1.0, 127 / 255, 127 / 255]), atol=1e-6)
    assert as_batch(rgba, keep_alpha=True)[0].shape[1] == 4
    for bad, message in ((np.zeros((4, 4, 7)), "NumPy image"), (torch.rand(5), "image tensor"),
                         (np.zeros((4, 4), bool), "not supported"), ([1, 2], "not list"),
                         (tmp_path / "missing.png", "no such file")):
        with pytest.raises(BadInputError, match=message):
            as_batch(bad)
    path = tmp_path / "p.png"
    Image.fromarray(photo()).save(path)
    batch, kind = as_batch(path)
    assert kind == ImageKind("pil") and isinstance(restore(batch, kind), Image.Image)


def test_translate_is_a_module_and_the_function():
    """``pixforge.translate`` is the module (every import form keeps working) and calls its translate()."""
    import pixforge.translate as module
    from pixforge.translate import Translator, translate

    assert module is pixforge.translate and callable(pixforge.translate) and Translator is module.Translator
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1).eval()
    image = photo(20, 24)
    out = pixforge.translate(image, model=net)
    assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == np.uint8
    expected = translate(torch.from_numpy(image).permute(2, 0, 1).float() / 255, model=net)
    assert np.array_equal(out, (expected.permute(1, 2, 0) * 255).round().byte().numpy())
    assert importlib.reload(module) is module and callable(pixforge.translate)
    code = ("import pixforge.translate as t, pixforge; from pixforge.translate import translate; "
            "assert t is pixforge.translate and callable(t) and t.translate is translate")
    subprocess.run([sys.executable, "-c", code], check=True)  # a fresh interpreter, the module imported first


def test_upscale_keeps_the_kind_and_matches_the_sr_library():
    from pixforge.sr import upscale

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, scale=2).eval()
    image = photo(20, 24)
    out = pixforge.upscale(image, net, tile=None)
    assert isinstance(out, np.ndarray) and out.shape == (40, 48, 3) and out.dtype == np.uint8
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    assert torch.allclose(pixforge.upscale(x, net), upscale(x, net))
    grey = pixforge.upscale(Image.fromarray(image).convert("LA"), net)
    assert isinstance(grey, Image.Image) and grey.mode == "LA" and grey.size == (48, 40)  # grey + alpha kept
    with pytest.raises(ConfigError, match="denoising variants exist for"):
        pixforge.upscale(image, "realesr-animevideov3", denoise=1)


def test_stylize_resizes_like_the_cli_and_keeps_the_kind():
    from pixforge.style import stylize

    image = photo(40, 52)
    style = torch.rand(3, 30, 30)
    out = pixforge.stylize(image, style, method="adain", size=64, random_weights=True, seed=0, vgg_weights="random")
    assert isinstance(out, np.ndarray) and out.shape == (49, 64, 3)
    content = torch.nn.functional.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255,
                                              size=(49, 64), mode="bicubic", antialias=True).clamp(0, 1)[0]
    expected = stylize(content, [pixforge.io.resize_long_side(style, 64)], method="adain", random_weights=True,
                       seed=0, vgg_weights="random")
    assert np.abs(out.astype(float) - (expected.permute(1, 2, 0) * 255).numpy()).max() <= 0.5 + 1e-3
    with pytest.raises(ConfigError, match="--steps is not an option of --method adain"):
        pixforge.stylize(image, style, method="adain", steps=3)


def test_sample_gives_images_of_the_kind_asked(tmp_path):
    from pixforge.models.gan import DCGANGenerator

    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=8, channels=3, size=16, width=8)
    run = tmp_path / "g.pt"
    from pixforge.tasks.gan import GanConfig
    from pixforge.train.checkpoint import save_checkpoint
    from pixforge.train.loop import config_record

    cfg = GanConfig(data="tiny", arch="dcgan", z_dim=8, width=8, sample_shape=[3, 16, 16])
    save_checkpoint(run, {"step": 0, "task": {"modules": {"G": g.state_dict()}}, "config": config_record(cfg)})
    images = pixforge.sample(run, n=3, seed=1)
    assert len(images) == 3 and all(isinstance(i, Image.Image) and i.size == (16, 16) for i in images)
    array = pixforge.sample(run, n=3, seed=1, kind="numpy")
    assert array.shape == (3, 16, 16, 3) and array.dtype == np.uint8 and np.array_equal(array[0], np.array(images[0]))
    tensor = pixforge.sample(run, n=3, seed=1, kind="tensor")
    assert tensor.shape == (3, 3, 16, 16) and torch.allclose(tensor * 255, torch.from_numpy(array).permute(0, 3, 1, 2)
                                                             .float(), atol=0.51)
    assert not torch.equal(tensor, pixforge.sample(run, n=3, seed=2, kind="tensor"))
    with pytest.raises(BadInputError, match="kind must be"):
        pixforge.sample(run, kind="png")


def test_evaluate_gives_the_metrics_numbers():
    from pixforge.metrics.sr import psnr, ssim

    a = photo(32, 32)
    b = np.clip(a.astype(int) + np.random.default_rng(0).integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    scores = pixforge.evaluate([a, b], [b, b], metrics=("psnr", "ssim"))
    assert scores["psnr"] == pytest.approx((psnr(a.transpose(2, 0, 1), b.transpose(2, 0, 1)) + float("inf")) / 2)
    scores = pixforge.evaluate(a, b)
    assert scores == pytest.approx({"psnr": psnr(a.transpose(2, 0, 1), b.transpose(2, 0, 1)),
                                    "ssim": ssim(a.transpose(2, 0, 1), b.transpose(2, 0, 1))})
    with pytest.raises(BadInputError, match="2 images against 1"):
        pixforge.evaluate([a, a], [a])
    with pytest.raises(BadInputError, match="different sizes"):
        pixforge.evaluate(a, a[:16])
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        pixforge.evaluate(a, a, metrics=("nope",))


def test_evaluate_set_metrics_go_through_the_registry(monkeypatch):
    """FID/KID get the two sets as (N, 3, H, W) in [-1, 1] (differing sizes resized to 299) and their numbers
    come back flat (``kid_std``)."""
    import pixforge.metrics.evaluate as ev

    class Features(torch.nn.Module):  # stands in for Inception: colour statistics as features, uniform logits
        input_size = 299

        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))  # (where extract() reads the device)

        def forward(self, x):
            return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1), torch.zeros(len(x), 10)

    seen = []
    monkeypatch.setattr(ev, "_extractor", lambda features, device: seen.append(features) or Features())
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8) for i in range(6)]
    b = [rng.integers(0, 120, (24, 24, 3), dtype=np.uint8) for _ in range(6)]
    scores = pixforge.evaluate(a, b, metrics=("fid", "kid"))
    assert set(scores) == {"fid", "kid", "kid_std"} and scores["fid"] > 0 and seen == ["inception"] * 4
    assert pixforge.evaluate(b, b, metrics=("fid",))["fid"] == pytest.approx(0, abs=1e-6)
