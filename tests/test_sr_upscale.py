"""pixforge.sr.upscale and `pixforge upscale`: any size and channel layout, tiles equal to whole-image output
away from the borders, other scales, 16-bit grey, and refusals when weights are missing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixforge import weights
from pixforge.cli import main
from pixforge.errors import BadInputError
from pixforge.io import read_image
from pixforge.metrics.sr import psnr
from pixforge.models.sr import SRVGGNetCompact
from pixforge.models.waifu2x import VGG7, CascadedUNet
from pixforge.sr import upscale

pytestmark = pytest.mark.usefixtures("one_thread")


def _net(cls, **kw):
    torch.manual_seed(0)
    return cls(**kw).eval()


@pytest.mark.parametrize("make, h, w", [
    (lambda: _net(VGG7, upconv=True), 37, 29),                                    # unpadded convs + deconv, x2
    (lambda: _net(SRVGGNetCompact, num_feat=8, num_conv=4), 33, 26),    # zero-padded convs, x4
    (lambda: _net(CascadedUNet, scale=1), 41, 30),                      # size multiple 4
])
def test_any_size_gives_exactly_scale_times_the_input(make, h, w):
    net = make()
    out = upscale(torch.rand(3, h, w), net)
    assert out.shape == (3, net.scale * h, net.scale * w) and 0 <= out.min() and out.max() <= 1


def _released(name):
    if not weights.is_present(name):
        pytest.skip(f"{name} weights not in the cache; run `make weights` (done by `make test`)")
    from pixforge.sr import load_model

    return load_model(name)


@pytest.mark.parametrize("make, seams", [
    (lambda: _net(VGG7, upconv=True), False),  # unpadded: each tile reads its border from the image, no overlap needed
    (lambda: _net(SRVGGNetCompact, num_feat=8, num_conv=6), True),
    (lambda: _released("realesr-animevideov3"), True),
])
def test_tiled_output_equals_whole_image_output_away_from_borders(make, seams):
    """Tiles of 16 px with the network's reach as overlap: no seams (the tiles meet inside the image)."""
    net = make()
    x = torch.rand(3, 45, 38)
    whole = upscale(x, net)
    assert (upscale(x, net, tile=16) - whole).abs().max() <= 1 / 255
    assert ((upscale(x, net, tile=16, overlap=0) - whole).abs().max() > 1 / 255) == seams


def test_tiles_batched_together_give_what_one_tile_at_a_time_gives():
    """Tiles of equal size go through the network together (``batch``), images of a batch too; the network
    runs channels-last and is handed back in its own layout."""
    from pixforge.sr import run_network

    net = _net(SRVGGNetCompact, num_feat=8, num_conv=3)
    x = torch.rand(2, 3, 45, 38)
    one = run_network(net, x, tile=16, overlap=6, batch=1)
    assert one.shape == (2, 3, 180, 152)
    assert torch.allclose(run_network(net, x, tile=16, overlap=6, batch=4), one, atol=1e-5)
    assert torch.allclose(run_network(net, x[1:], tile=16, overlap=6, batch=3), one[1:], atol=1e-5)
    assert all(p.is_contiguous() for p in net.parameters())  # run channels-last, handed back as it was


def test_grey_rgba_batches_and_pil_images_keep_their_layout():
    net = _net(SRVGGNetCompact, num_feat=8, num_conv=2, scale=2)
    assert upscale(torch.rand(1, 9, 7), net).shape == (1, 18, 14)
    assert upscale(torch.rand(2, 3, 9, 7), net).shape == (2, 3, 18, 14)
    rgba = torch.rand(4, 9, 7)
    rgba[3] = 0.25
    out = upscale(rgba, net)
    assert out.shape == (4, 18, 14) and torch.allclose(out[3], torch.full((18, 14), 0.25), atol=1e-6)
    grey_alpha = upscale(Image.new("LA", (7, 9), (100, 200)), net)
    assert grey_alpha.shape == (2, 18, 14) and abs(grey_alpha[1].mean().item() - 200 / 255) < 1e-5
    assert upscale(Image.new("RGB", (7, 9)), net).shape == (3, 18, 14)
    with pytest.raises(BadInputError, match="1 to 4 channels"):
        upscale(torch.rand(5, 9, 7), net)


def test_other_scales_resize_the_output():
    net = _net(VGG7, upconv=True)
    assert upscale(torch.rand(3, 10, 15), net, scale=3).shape == (3, 30, 45)
    assert upscale(torch.rand(3, 10, 15), net, scale=1.5).shape == (3, 15, 22)  # round(22.5) = 22


def test_bf16_runs_close_to_float32():
    net = _net(SRVGGNetCompact, num_feat=8, num_conv=2, scale=2)
    x = torch.rand(3, 12, 12)
    assert (upscale(x, net, bf16=True) - upscale(x, net)).abs().max() < 0.05


@pytest.fixture
def photo(tmp_path):
    """A 48x40 crop of scikit-image's astronaut photo, its 2x bicubic-downscaled copy on disk."""
    from skimage import data

    hr = torch.from_numpy(data.astronaut()[120:168, 170:210].copy()).permute(2, 0, 1).float() / 255
    lr = torch.nn.functional.interpolate(hr[None], scale_factor=0.5, mode="bicubic", antialias=True)[0].clamp(0, 1)
    Image.fromarray((lr * 255).round().byte().permute(1, 2, 0).numpy()).save(tmp_path / "lr.png")
    return hr, tmp_path / "lr.png"


def test_waifu2x_photo_beats_bicubic_on_a_real_photo(photo, tmp_path):
    """The released waifu2x photo x2 weights (cached by `make weights`), through the CLI, on a 24x20 input."""
    if not weights.is_present("waifu2x-photo-x2"):
        pytest.skip("waifu2x-photo-x2 weights not in the cache; run `make weights` (done by `make test`)")
    hr, lr_path = photo
    r = CliRunner().invoke(main, ["upscale", str(lr_path), "-o", str(tmp_path / "sr.png"),
                                  "--model", "waifu2x-photo-x2", "--tile", "16"])
    assert r.exit_code == 0, r.output
    sr, lr = read_image(tmp_path / "sr.png"), read_image(lr_path)[None]
    bicubic = torch.nn.functional.interpolate(lr, scale_factor=2, mode="bicubic")[0].clamp(0, 1)
    assert sr.shape == hr.shape
    assert psnr(sr, hr, 2, y_channel=True) > psnr(bicubic, hr, 2, y_channel=True) + 1.0


def test_cli_folders_grey_16_bit_and_notes(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray((np.arange(99, dtype=np.uint16).reshape(9, 11) * 600)).save(src / "deep.png")
    Image.new("L", (7, 5), 128).save(src / "sub" / "grey.jpg")
    Image.new("RGBA", (6, 6), (10, 20, 30, 40)).save(src / "alpha.png")
    args = ["upscale", str(src), "-o", str(tmp_path / "out"), "--model", "waifu2x-upconv7", "--random-weights"]
    r = CliRunner().invoke(main, args + ["--scale", "3"])
    assert r.exit_code == 0, r.output
    assert "upscales x2; its output is resized to x3" in r.output
    deep = Image.open(tmp_path / "out" / "deep.png")
    assert deep.mode == "I;16" and deep.size == (33, 27)
    grey = Image.open(tmp_path / "out" / "sub" / "grey.png")
    assert grey.mode == "L" and grey.size == (21, 15)
    assert Image.open(tmp_path / "out" / "alpha.png").mode == "RGBA"


def test_cli_refuses_missing_weights_in_one_line(isolated_home, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    r = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                                  "--model", "waifu2x-photo-x2"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "`pixforge weights fetch waifu2x-photo-x2`" in lines[0]
    r = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                                  "--model", "waifu2x-photo-x2", "--denoise", "1", "--random-weights"])
    assert r.exit_code == 0 and (tmp_path / "b.png").is_file()
    r = CliRunner().invoke(main, ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                                  "--model", "realesrgan-x4plus", "--denoise", "1"])
    assert r.exit_code == 2 and "denoising variants exist for waifu2x-" in r.output


def test_cli_video_frame_by_frame(tmp_path, tiny_video):
    from pixforge.style.video import read_frames

    r = CliRunner().invoke(main, ["upscale", str(tiny_video), "-o", str(tmp_path / "big.mp4"),
                                  "--model", "waifu2x-upconv7", "--random-weights"])
    assert r.exit_code == 0 and "wrote 2 frames" in r.output, r.output
    frames, fps = read_frames(tmp_path / "big.mp4")
    assert [f.shape for f in frames] == [(3, 32, 48)] * 2 and fps == 5
