"""BasicSR-exact PSNR/SSIM, MATLAB imresize, and `pixforge eval psnr|ssim|sr`."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixforge.cli import main
from pixforge.metrics.sr import gaussian_window, imresize, psnr, rgb_to_y, ssim

pytestmark = pytest.mark.usefixtures("one_thread")


def test_psnr_of_known_mse_and_of_identical_images():
    a = torch.zeros(3, 8, 8, dtype=torch.uint8)
    assert psnr(a, a) == math.inf
    b = torch.full((3, 8, 8), 10, dtype=torch.uint8)  # MSE = 100 on the 0-255 scale
    assert psnr(a, b) == 10 * math.log10(255 ** 2 / 100) == pytest.approx(28.1308036086791)
    assert psnr(a.double(), b.double() / 255) == pytest.approx(28.1308036086791, abs=1e-12)  # floats in [0, 1]
    c = b.clone()
    c[:, :2] = 0  # a border of 2 rows equal to a: cropping 2 leaves only the rows that differ by 10
    assert psnr(a, c, crop_border=2) == psnr(a, b)
    assert psnr(a, c) == pytest.approx(10 * math.log10(255 ** 2 / 75))  # 48 of 64 pixels differ


def test_y_channel_is_bt601_on_0_1_rgb_unrounded():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    assert rgb_to_y(rgb.double()).item() == pytest.approx(16 + 65.481)
    grey = torch.full((3, 4, 4), 0.5)
    assert rgb_to_y(grey.double()).mean().item() == pytest.approx(16 + 0.5 * (65.481 + 128.553 + 24.966))
    a, b = torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)
    b[1] = 1 / 255  # green one level up: Y differs by 128.553 / 255
    assert psnr(a, b, y_channel=True) == pytest.approx(10 * math.log10(255 ** 2 / (128.553 / 255) ** 2))


def test_gaussian_window_is_opencvs():
    """cv2.getGaussianKernel(11, 1.5): exp(-(i - 5)^2 / 4.5), normalised; the window is its outer product."""
    k = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    k /= k.sum()
    np.testing.assert_allclose(gaussian_window().numpy(), np.outer(k, k), atol=1e-15)


def test_ssim_matches_scikit_image_with_the_same_definition():
    """skimage's structural_similarity with a Gaussian window (sigma 1.5, 11 taps), population covariances and
    data range 255 computes the same valid-region SSIM, per channel then averaged."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 24, 20)).astype(np.float64) / 255
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).round(6)
    expected = structural_similarity(a * 255, b * 255, data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, channel_axis=0)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-10)
    assert ssim(a, a) == pytest.approx(1.0)
    y = structural_similarity(rgb_to_y(torch.from_numpy(a)).numpy()[0][3:-3, 3:-3],
                              rgb_to_y(torch.from_numpy(b)).numpy()[0][3:-3, 3:-3], data_range=255,
                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(a, b, crop_border=3, y_channel=True) == pytest.approx(y, abs=1e-10)


def test_imresize_matches_matlab_values_derived_from_its_algorithm():
    """MATLAB imresize([1 2 3 4], 0.5) and (.., 2), bicubic (Keys a = -0.5), by hand:

    x0.5: kernel stretched to 8 taps (antialias), source centre u = x / s + (1 - 1/s) / 2 = 1.5, weights
    cubic(d/2)/2 over d = -3.5..3.5: [-3, -9, 29, 111, 111, 29, -9, -3] / 256 on the symmetric-padded
    [3 2 1 | 1 2 3 4 | 4] -> 374/256 = 1.4609375, and 5 - that by symmetry.
    x2: u = 0.75: weights [-3/128, 29/128, 111/128, -9/128] on [2 1 1 2] -> 0.90625; u = 1.25 -> 1.1796875.
    """
    row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    torch.testing.assert_close(imresize(row, 0.5), torch.tensor([[1.4609375, 3.5390625]], dtype=torch.float64))
    up = imresize(row, 2)
    assert up.shape == (2, 8)
    torch.testing.assert_close(up[0, :2], torch.tensor([0.90625, 1.1796875], dtype=torch.float64))
    torch.testing.assert_close(up[0], 5 - up[0].flip(0))  # symmetric data, symmetric result
    assert imresize(torch.rand(3, 10, 7), 1 / 3).shape == (3, 4, 3)  # ceil(size * scale), as MATLAB


@pytest.mark.parametrize("scale", [0.25, 0.5, 2, 3])
def test_imresize_interior_equals_pillow_bicubic(scale):
    """Pillow's BICUBIC (also Keys a = -0.5, antialiased when shrinking) differs only near the borders (it
    renormalises the clipped kernel instead of mirroring): an independent check of the weights."""
    a = np.random.default_rng(0).random((40, 48)).astype(np.float32)
    ours = imresize(torch.from_numpy(a), scale).numpy()
    pil = np.asarray(Image.fromarray(a, "F").resize(ours.shape[::-1], Image.BICUBIC))
    m = 2 if scale < 1 else 2 * int(scale) + 2
    np.testing.assert_allclose(ours[m:-m, m:-m], pil[m:-m, m:-m], atol=1e-6)


def test_eval_psnr_ssim_cli_on_files_and_folders(tmp_path):
    rng = np.random.default_rng(0)
    for d in ("sr", "hr"):
        (tmp_path / d).mkdir()
    for name in ("a", "b"):
        hr = rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)
        sr = np.clip(hr.astype(int) + rng.integers(-3, 4, hr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(hr).save(tmp_path / "hr" / f"{name}.png")
        Image.fromarray(sr).save(tmp_path / "sr" / f"{name}.png")
    runner = CliRunner()
    r = runner.invoke(main, ["eval", "psnr", str(tmp_path / "sr" / "a.png"), str(tmp_path / "hr" / "a.png"),
                             "--crop-border", "2", "--y-channel"])
    assert r.exit_code == 0, r.output
    expected = psnr(np.asarray(Image.open(tmp_path / "sr" / "a.png")).transpose(2, 0, 1) / 255,
                    np.asarray(Image.open(tmp_path / "hr" / "a.png")).transpose(2, 0, 1) / 255, 2, True)
    assert r.output.strip().splitlines()[-1].startswith(f"PSNR {expected:.4f} dB")
    r = runner.invoke(main, ["eval", "ssim", str(tmp_path / "sr"), str(tmp_path / "hr"), "--json"])
    out = json.loads(r.output)
    assert out["metric"] == "ssim" and len(out["images"]) == 2 and 0 < out["value"] < 1
    r = runner.invoke(main, ["eval", "psnr", str(tmp_path / "hr"), str(tmp_path / "hr")])
    assert r.exit_code == 0 and r.output.strip().splitlines()[-1].startswith("PSNR inf dB")
    r = runner.invoke(main, ["eval", "psnr", str(tmp_path / "sr"), str(tmp_path / "hr" / "a.png")])
    assert r.exit_code == 2 and "two image files or two folders" in r.output


def test_eval_sr_reports_model_and_bicubic_per_image_and_mean(tmp_path):
    from skimage import data

    (tmp_path / "hr").mkdir()
    Image.fromarray(data.astronaut()[100:149, 150:200]).save(tmp_path / "hr" / "astronaut.png")  # 49x50: crop
    r = CliRunner().invoke(main, ["eval", "sr", "--model", "waifu2x-upconv7", "--random-weights",
                                  "--data", str(tmp_path / "hr"), "--scale", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    row, mean = out["images"][0], out["mean"]
    assert out["crop_border"] == 2 and row["image"] == "astronaut.png"
    assert 25 < row["bicubic_psnr"] < 40 and row["psnr"] < row["bicubic_psnr"]  # an untrained net loses
    assert mean["bicubic_ssim"] == pytest.approx(row["bicubic_ssim"])
