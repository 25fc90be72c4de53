"""Gatys optimisation: loss formulas, content/style reconstruction, mask routing, colour, CLI, reproducibility."""
from __future__ import annotations

import warnings

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixforge.cli import main
from pixforge.io import save_image
from pixforge.nn.vgg import VGGFeatures
from pixforge.style import color
from pixforge.style.gatys import Objective, build_gatys, stylize_gatys
from pixforge.style.optimise import optimise, schedule
from pixforge.losses.perceptual import blend_grams, content_loss, gram, style_loss
from pixforge.losses.pixel import total_variation
from pixforge.style.methods import StylizeOptions

SHALLOW = ["relu1_1", "relu2_1"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def random_vgg(layers) -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures("vgg16", layers).to(memory_format=torch.channels_last)


def texture(rgb, seed, hw=(32, 32)) -> torch.Tensor:
    """A tinted noise texture (1, 3, H, W)."""
    g = torch.Generator().manual_seed(seed)
    n = torch.rand(1, 1, *hw, generator=g)
    return (torch.tensor(rgb).view(1, 3, 1, 1) * (0.5 + 0.5 * n)).clamp(0, 1)


# ---------------------------------------------------------------- formulas on hand-computed values
def test_gram_hand_computed_plain_masked_and_channels_last():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    assert torch.allclose(gram(f)[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    assert torch.allclose(gram(f, mask)[0], torch.tensor([[1.0, 3.0], [3.0, 9.0]]) / 2)  # / (C * sum m^2)
    x = torch.randn(2, 5, 3, 4)
    assert torch.allclose(gram(x.contiguous(memory_format=torch.channels_last)), gram(x), atol=1e-6)


def test_losses_hand_computed():
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    assert float(content_loss(a, b)) == pytest.approx(30 / 4)
    img = torch.tensor([[0.0, 1.0], [3.0, 3.0]]).view(1, 1, 2, 2)
    # vertical |3-0|,|3-1| mean 2.5 ; horizontal |1-0|,|3-3| mean 0.5
    assert float(total_variation(img)) == pytest.approx(3.0)
    feats = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)}
    target = {"a": torch.zeros(1, 2, 2)}
    expected = ((torch.tensor([5.0, 11.0, 11.0, 25.0]) / 4) ** 2).mean()
    assert float(style_loss(feats, target, {"a": 3.0})) == pytest.approx(3 * float(expected))
    g1, g2 = {"a": torch.ones(2, 2)}, {"a": torch.zeros(2, 2)}
    assert torch.allclose(blend_grams([g1, g2], [3, 1])["a"], torch.full((2, 2), 0.75))


def test_schedule_halves_sizes_and_splits_steps():
    levels = schedule((200, 300), scales=3, steps=100)
    assert [lv.hw for lv in levels] == [(50, 75), (100, 150), (200, 300)]
    assert [lv.steps for lv in levels] == [33, 33, 34]
    assert len(schedule((40, 40), scales=4, steps=10)) == 1  # never below 32 px


# ---------------------------------------------------------------- optimisation behaviour
def test_content_only_optimisation_reproduces_content():
    torch.manual_seed(1)
    content = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6), size=(32, 32), mode="bilinear")
    vgg = random_vgg(SHALLOW)
    opts = StylizeOptions(content_layer="relu1_1", style_layers=SHALLOW, style_weight=0.0, tv_weight=0.0)
    objective = Objective(vgg, content, [content], opts)
    start = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = optimise(objective, start, 30)
    before, after = ((start - content) ** 2).mean(), ((out - content) ** 2).mean()
    assert after < before / 50 and after < 1e-3


def test_style_only_optimisation_lowers_style_loss_tenfold():
    style = texture([0.9, 0.3, 0.1], seed=3)
    vgg = random_vgg(SHALLOW)
    opts = StylizeOptions(style_layers=SHALLOW, content_weight=0.0, style_weight=1.0, tv_weight=0.0)
    objective = Objective(vgg, torch.zeros(1, 3, 32, 32), [style], opts)
    start = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    before = objective(start)[1]["style"]
    after = objective(optimise(objective, start, 40))[1]["style"]
    assert after < before / 10


def test_masks_route_each_style_to_its_region():
    red, blue = texture([0.9, 0.2, 0.1], 5), texture([0.1, 0.2, 0.9], 6)
    left = torch.zeros(1, 32, 32)
    left[..., :16] = 1
    opts = StylizeOptions(size=None, steps=80, style_layers=SHALLOW, content_layer="relu1_1", content_weight=0.0,
                          style_weight=1.0, tv_weight=0.0, masks=[left, 1 - left], init="noise", seed=0,
                          vgg_weights="random", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = build_gatys([red[0], blue[0]], opts)(torch.full((1, 3, 32, 32), 0.5))[0]
    lhs, rhs = out[:, :, 2:14].mean((1, 2)), out[:, :, 18:30].mean((1, 2))
    assert lhs[0] > lhs[2] + 0.3 and rhs[2] > rhs[0] + 0.05


def gatys_tiny(hw=(32, 40), **kw) -> torch.Tensor:
    content = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(7)),
                                              size=hw, mode="bilinear")
    style = texture([0.8, 0.5, 0.1], 8)[0]
    base = dict(size=None, steps=4, style_layers=SHALLOW, content_layer="relu2_1", vgg_weights="random",
                progress=False)
    base.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_gatys([style], StylizeOptions(**base))(content)[0], content[0]


def test_luminance_transfer_keeps_content_chroma():
    out, content = gatys_tiny(preserve_color="luminance", steps=6)
    assert (color.rgb_to_yiq(out)[1:] - color.rgb_to_yiq(content)[1:]).abs().max() < 1e-5
    assert (color.luminance(out) - color.luminance(content)).abs().max() > 1e-3  # the luminance did change


def test_same_seed_same_output_and_other_options_run(tmp_path):
    a, _ = gatys_tiny(init="noise", seed=3)
    b, _ = gatys_tiny(init="noise", seed=3)
    c, _ = gatys_tiny(init="noise", seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    out, _ = gatys_tiny(optimizer="adam", lr=0.05, scales=2, preserve_color="histogram", save_every=2, bf16=True,
                        save_prefix=str(tmp_path / "snap"), init="style", steps=4, hw=(64, 80))  # 2 levels: >= 32 px
    assert out.shape == (3, 64, 80) and 0 <= out.min() and out.max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap_step2.png", "snap_step4.png"]


def test_random_backbone_warns():
    with pytest.warns(UserWarning, match="RANDOM"):
        build_gatys([torch.rand(3, 32, 32)], StylizeOptions(style_layers=SHALLOW, vgg_weights="random",
                                                            content_layer="relu2_1"))


# ---------------------------------------------------------------- CLI and Python API (real weights)
@pytest.fixture
def images(tmp_path):
    content, style = tmp_path / "content.png", tmp_path / "style.jpg"
    save_image(texture([0.3, 0.6, 0.9], 9, hw=(60, 90))[0], content)
    save_image(texture([0.9, 0.4, 0.1], 10, hw=(50, 50))[0], style)
    return content, style


def test_cli_stylize_writes_output_of_requested_size(tmp_path, images, hed_weights):
    content, style = images
    out = tmp_path / "out.png"
    result = CliRunner().invoke(main, ["stylize", str(content), str(style), "-o", str(out), "--size", "64",
                                       "--steps", "5", "--seed", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert max(Image.open(out).size) == 64
    assert stylize_gatys(content, style, size=48, steps=2, progress=False).size == (48, 32)


def test_cli_truncated_image_is_one_line_error(tmp_path, images):
    content, _ = images
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(content.read_bytes()[:100])
    result = CliRunner().invoke(main, ["stylize", str(content), str(bad), "-o", str(tmp_path / "o.png"),
                                       "--size", "32", "--steps", "1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "broken.jpg" in lines[0] and "Traceback" not in result.output
