"""Projection of images into a StyleGAN / StyleGAN2 generator's W / W+ (pixforge/projector.py, `pixforge project`)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gan_fakes import cli, install

from pixforge.losses.perceptual import VGGDistance
from pixforge.models.stylegan2 import StyleGAN2Generator
from pixforge.projector import ProjectConfig, learning_rate, noise_regularization, project

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_generator() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(16, 16, n_mlp=2, channel_base=128, channel_max=16).eval()


def image_of(g: StyleGAN2Generator, seed: int) -> torch.Tensor:
    """An image the generator makes from a known w (its stored noise maps)."""
    z = torch.randn(1, g.style_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return g.synthesis(g.mapping(z)[:, None].expand(-1, g.n_latent, -1), "const")


def test_noise_regularization_by_hand():
    two = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    # shifted by one pixel (wrapping): horizontally mean(1·2, 2·1, 3·4, 4·3) = 7, vertically mean(1·3, 2·4, ...) = 5.5
    assert noise_regularization([two]).item() == pytest.approx(7 ** 2 + 5.5 ** 2)
    checker = (torch.arange(16).view(16, 1) + torch.arange(16).view(1, 16)).remainder(2).float().mul(2).sub(1)
    # 16 px: each shifted product is -1 (2 terms of 1); pooled to 8 px the checkerboard averages to 0
    assert noise_regularization([checker.view(1, 1, 16, 16)]).item() == pytest.approx(2.0)
    constant = torch.full((1, 1, 16, 16), 2.0)  # products 4 at 16 px and at 8 px: 4 terms of 16
    assert noise_regularization([constant, two]).item() == pytest.approx(64 + 49 + 30.25)


def test_learning_rate_ramps_up_then_down_as_stylegan2s_projector():
    cfg = ProjectConfig()  # lr 0.1, up over 5 % of the steps, down (cosine) over the last 25 %
    assert learning_rate(0.0, cfg) == 0.0
    assert learning_rate(0.025, cfg) == pytest.approx(0.05)
    assert learning_rate(0.5, cfg) == pytest.approx(0.1)
    assert learning_rate(0.875, cfg) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.5 * math.pi)))
    assert learning_rate(0.999, cfg) < 1e-5


def test_projection_finds_an_image_the_generator_made():
    g = tiny_generator()
    target = image_of(g, seed=5)
    cfg = ProjectConfig(steps=30, perceptual=0, pixel=1, mean_samples=500)
    result = project(g, target, cfg, frames=3)
    mse = result.history["pixel_mse"]
    assert len(mse) == 30 and mse[-1] < 0.2 * mse[0]  # the start (mean w) is far; 30 steps get close
    assert torch.allclose(((result.image - target) ** 2).mean(), torch.tensor(mse[-1]), rtol=0.5)
    assert result.latent.shape == (1, 16) and result.frame_steps == [0, 14, 29] and len(result.frames) == 3
    assert all(abs(n.mean()) < 1e-5 and n.square().mean() == pytest.approx(1, abs=1e-4) for n in result.noises)
    assert not any(p.requires_grad for p in g.parameters())  # the generator stays fixed

    distance = VGGDistance(None, layers=("relu1_2", "relu2_2"))  # random VGG: the mechanics, not the quality
    result = project(g, target, ProjectConfig(steps=20, w_plus=True, mean_samples=500), distance)
    vgg = result.history["vgg_distance"]
    assert result.latent.shape == (1, g.n_latent, 16) and vgg[-1] < 0.5 * vgg[0]
    assert distance(result.image, target).item() == pytest.approx(vgg[-1], rel=0.5)


def test_projection_into_a_stylegan_v1_generator_with_its_noise_per_layer(tmp_path, monkeypatch):
    from pixforge.models.stylegan import StyleGANGenerator

    torch.manual_seed(0)
    g = StyleGANGenerator(16, 16, n_mlp=2, channel_base=128, channel_max=16, channels=1).eval()
    target = image_of(g, seed=3)
    result = project(g, target, ProjectConfig(steps=30, perceptual=0, pixel=1, mean_samples=500))
    mse = result.history["pixel_mse"]
    assert mse[-1] < 0.3 * mse[0] and len(result.noises) == g.n_latent == 6  # a map per layer, 4 px to 16 px
    assert [n.shape[-1] for n in result.noises] == [4, 4, 8, 8, 16, 16]
    g.grow(1, 1.0)  # a run still at 8 px is fitted at 8 px, with the noise of the 4 layers in use
    result = project(g, torch.nn.functional.avg_pool2d(target, 2), ProjectConfig(steps=5, perceptual=0, pixel=1,
                                                                                  mean_samples=100))
    assert result.image.shape == (1, 1, 8, 8) and len(result.noises) == 4

    install(monkeypatch)  # the command on a v1 run: the outputs are written
    run = tmp_path / "run"
    cli("train", "stylegan", "--steps", 1, "--out", run, "--data", "tiny", "image_size=8", "z_dim=8", "n_mlp=2",
        "channel_base=64", "channel_max=16", "--batch-size", "8", "loop.progress=false", "loop.tensorboard=false",
        "loop.sample_every=0")
    from pixforge.io import save_image

    save_image(torch.rand(1, 8, 8), tmp_path / "digit.png")
    r = cli("project", run, tmp_path / "digit.png", "-o", tmp_path / "p.png", "--steps", 4, "--pixel", 1,
            "--perceptual", 0, "--latent", tmp_path / "p.safetensors", "--quiet")
    assert "pixel_mse" in r.output
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "p.safetensors")
    assert saved["w"].shape == (1, 8) and sorted(k for k in saved if k.startswith("noise_")) == [
        f"noise_{i}" for i in range(4)]
    assert (tmp_path / "p.png").stat().st_size > 0


def test_vgg_distance_is_the_unweighted_normalised_feature_distance():
    d = VGGDistance(None, layers=("relu1_2",))
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    fx, fy = (d.vgg((v + 1) / 2)["relu1_2"] for v in (x, y))
    unit = [f / f.norm(dim=1, keepdim=True) for f in (fx, fy)]
    expected = (unit[0] - unit[1]).pow(2).sum(1).mean((1, 2))
    assert torch.allclose(d(x, y), expected, rtol=1e-4) and torch.equal(d(x, x), torch.zeros(2))
    grey = x[:, :1]
    assert torch.allclose(d(grey, y), d(grey.expand(-1, 3, -1, -1), y))


def test_project_cli_with_a_run_and_a_rosinality_file(tmp_path, monkeypatch):
    install(monkeypatch)
    run = tmp_path / "run"
    cli("train", "stylegan2", "--steps", 2, "--out", run, "--data", "tiny", "image_size=8", "z_dim=8", "n_mlp=2",
        "channel_base=64", "channel_max=16", "--batch-size", "8", "loop.progress=false", "loop.tensorboard=false",
        "loop.sample_every=0")
    from pixforge.io import save_image

    save_image(torch.rand(3, 20, 30), tmp_path / "photo.png")  # RGB, not square: grey, centre-cropped, 8 px
    r = cli("project", run, tmp_path / "photo.png", "-o", tmp_path / "p.png", "--steps", 5, "--pixel", 1,
            "--perceptual", 0, "--strip", tmp_path / "strip.png", "--frames", 3, "--quiet")
    assert "pixel_mse" in r.output and "(1, 8)" in r.output
    assert np.load(tmp_path / "p.npy").shape == (1, 8)
    from PIL import Image

    assert Image.open(tmp_path / "p.png").size == (8, 8)
    assert Image.open(tmp_path / "strip.png").size[0] > 4 * 8  # target + 3 frames

    g = tiny_generator()
    state = {k: v for k, v in g.state_dict().items() if k != "w_avg"}
    torch.save({"g_ema": state, "latent_avg": torch.zeros(16)}, tmp_path / "g.pt")  # rosinality's layout
    save_image(((image_of(g, 1) + 1) / 2)[0].clamp(0, 1), tmp_path / "made.png")
    cli("project", tmp_path / "g.pt", tmp_path / "made.png", "-o", tmp_path / "q.png", "--w-plus", "--steps", 3,
        "--vgg", "random", "--latent", tmp_path / "q.safetensors", "--quiet")
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "q.safetensors")
    assert saved["w"].shape == (1, g.n_latent, 16) and len([k for k in saved if k.startswith("noise_")]) == g.num_layers == 5


def test_project_bad_inputs_exit_2_with_one_line(tmp_path, monkeypatch):
    from pixforge.io import save_image

    save_image(torch.rand(3, 8, 8), tmp_path / "x.png")
    g = tiny_generator()
    torch.save({"g_ema": {k: v for k, v in g.state_dict().items() if k != "w_avg"}}, tmp_path / "g.pt")
    cases = [
        (["nope", tmp_path / "x.png", "-o", tmp_path / "o.png"], "no such run folder"),
        ([tmp_path / "g.pt", tmp_path / "missing.png", "-o", tmp_path / "o.png"], "missing.png: no such file"),
        ([tmp_path / "g.pt", tmp_path / "x.png", "-o", tmp_path / "o.txt"], "unknown image suffix"),
        ([tmp_path / "g.pt", tmp_path / "x.png", "-o", tmp_path / "o.png", "--latent", tmp_path / "l.pt"],
         ".npy (w only) or .safetensors"),
        ([tmp_path / "g.pt", tmp_path / "x.png", "-o", tmp_path / "o.png", "--steps", 0], "--steps"),
        ([tmp_path / "g.pt", tmp_path / "x.png", "-o", tmp_path / "o.png", "--perceptual", 0], "needs a distance"),
        ([tmp_path / "x.png", tmp_path / "x.png", "-o", tmp_path / "o.png"], "cannot load"),
    ]
    for args, message in cases:
        r = cli("project", *args, ok=False)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and r.output.startswith("pixforge: error:")
    import pixforge.tasks.gan as gan
    from pixforge.models.gan import DCGANGenerator

    monkeypatch.setattr(gan, "load_generator", lambda *a: (DCGANGenerator(size=8), None))
    r = cli("project", tmp_path / "g.pt", tmp_path / "x.png", "-o", tmp_path / "o.png", ok=False)
    assert r.exit_code == 2 and "needs a StyleGAN or StyleGAN2 generator, not a DCGANGenerator" in r.output
    assert not (tmp_path / "o.png").exists()
