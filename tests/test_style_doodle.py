"""CNNMRF patch matching, its semantic version, and neural doodle (Python API and CLI), on tiny inputs."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from pixforge.cli import main
from pixforge.io import read_image, save_image
from pixforge.style.doodle import annotation_classes, doodle
from pixforge.style.mrf import extract_patches, match_patches, mrf_loss, style_patches

RED, BLUE = (0.8, 0.1, 0.1), (0.2, 0.3, 0.95)
COLOUR_A, COLOUR_B = (1.0, 1.0, 0.0), (0.0, 1.0, 1.0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def _rgb(colour) -> torch.Tensor:
    return torch.tensor(colour)[:, None, None]


def test_nearest_patch_is_the_exact_patch_when_target_equals_style():
    torch.manual_seed(0)
    feats = torch.rand(1, 6, 9, 11) + 0.1  # positive like ReLU features
    patches = extract_patches(feats)
    index = match_patches(feats, patches, chunk_elements=50)  # tiny chunks: exercises the chunked max
    assert torch.equal(index, torch.arange(patches.shape[0]))
    assert mrf_loss(feats, patches).item() < 1e-10


def test_matching_is_normalised_cross_correlation():
    torch.manual_seed(1)
    target, style = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 7, 5)
    t = extract_patches(target).flatten(1)
    s = extract_patches(style).flatten(1)
    ncc = F.normalize(t, dim=1) @ F.normalize(s, dim=1).t()
    assert torch.equal(match_patches(target, extract_patches(style), chunk_elements=7), ncc.argmax(1))
    # the loss is the mean squared distance to those matches, and it has a gradient
    target.requires_grad_(True)
    loss = mrf_loss(target, extract_patches(style))
    assert torch.allclose(loss, F.mse_loss(t, s[ncc.argmax(1)]))
    loss.backward()
    assert target.grad.abs().sum() > 0


def test_annotation_forces_a_same_class_match():
    torch.manual_seed(2)
    c, h, w = 8, 6, 12
    style = torch.rand(1, c, h, w)
    guide = torch.zeros(1, 2, h, w)
    guide[:, 0, :, : w // 2] = 1  # class A: left half
    guide[:, 1, :, w // 2:] = 1   # class B: right half
    # the target is a copy of a class-B patch, so by features alone its nearest patch is in B ...
    target = style[..., 1:4, 7:10].clone()
    plain = match_patches(target, style_patches(style))
    cols = w - 2
    assert plain.item() == 1 * cols + 7
    # ... but annotated as class A it must match a patch that lies wholly in the left (A) half
    target_guide = torch.zeros(1, 2, 3, 3)
    target_guide[:, 0] = 1
    semantic = style_patches(style, guide=guide, semantic_weight=1.0)
    index = match_patches(target, semantic, target_guide).item()
    assert index % cols + 3 <= w // 2, f"matched column {index % cols} is not in class A"
    # and annotated as class B it still finds its exact patch
    assert match_patches(target, semantic, target_guide.flip(1)).item() == 1 * cols + 7


def test_annotation_colours_are_quantised_and_assigned_to_the_nearest():
    torch.manual_seed(3)
    smap = torch.cat([_rgb(COLOUR_A).expand(3, 8, 5), _rgb(COLOUR_B).expand(3, 8, 5)], dim=2)
    smap = (smap + 0.01 * torch.randn_like(smap)).clamp(0, 1)  # JPEG-like noise must not make new classes
    tmap = _rgb((0.9, 0.95, 0.1)).expand(3, 4, 4).clone()   # off-palette, nearest to A
    tmap[:, 2:] = _rgb((0.1, 0.9, 0.9))                      # nearest to B
    s, t, palette = annotation_classes(smap, tmap)
    assert palette.shape == (2, 3) and s.shape == (2, 8, 10) and t.shape == (2, 4, 4)
    a = int(torch.cdist(_rgb(COLOUR_A).flatten()[None], palette).argmin())
    assert torch.all(s[a, :, :5] == 1) and torch.all(s[a, :, 5:] == 0)
    assert torch.all(t[a, :2] == 1) and torch.all(t[a, 2:] == 0)


def _two_texture_scene(n: int):
    """Style: red stripes (class A) left, blue dots (class B) right; target map: B on top, A below."""
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    stripes = torch.where((yy // 3) % 2 == 0, _rgb(RED), _rgb(RED) * 0.6)
    dots = torch.where(((yy % 8) - 4) ** 2 + ((xx % 8) - 4) ** 2 <= 4, _rgb(BLUE), _rgb(BLUE) * 0.7)
    left = xx < n // 2
    style = torch.where(left, stripes, dots)
    style_map = torch.where(left, _rgb(COLOUR_A), _rgb(COLOUR_B))
    top = yy < n // 2
    target_map = torch.where(top, _rgb(COLOUR_B), _rgb(COLOUR_A))
    return style, style_map, target_map, top


def test_doodle_follows_the_target_map(hed_weights):
    style, smap, tmap, top = _two_texture_scene(48)
    out = doodle(style, smap, tmap, size=48, steps=25, scales=1, seed=0, layers=["relu2_1", "relu3_1"],
                 vgg_weights=hed_weights, progress=False)
    assert out.shape == (3, 48, 48)
    red_a = style[:, :, :24].mean((1, 2))
    blue_b = style[:, :, 24:].mean((1, 2))
    for region, own, other in ((top, blue_b, red_a), (~top, red_a, blue_b)):
        mean = out[:, region].mean(1)
        assert (mean - own).norm() < (mean - other).norm(), (mean, own, other)


def test_doodle_is_reproducible_and_plain_mrf_needs_content():
    style, smap, tmap, _ = _two_texture_scene(32)
    kw = dict(size=32, steps=3, scales=1, layers=["relu2_1"], vgg_weights="random", progress=False)
    a = doodle(style, smap, tmap, seed=5, **kw)
    b = doodle(style, smap, tmap, seed=5, **kw)
    assert torch.equal(a, b)
    plain = doodle(style, None, None, content=Image.new("RGB", (40, 20), "gray"), **kw)  # CNNMRF, no maps
    assert plain.shape == (3, 16, 32)


def _invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_writes_an_image_of_the_target_maps_shape(tmp_path):
    style, smap, tmap, _ = _two_texture_scene(32)
    paths = [tmp_path / f"{name}.png" for name in ("style", "style_map", "target_map")]
    for image, path in zip((style, smap, tmap[:, :, :24]), paths):
        save_image(image, path)
    out = tmp_path / "out.png"
    code, output = _invoke("doodle", *paths, "-o", out, "--size", 32, "--steps", 2, "--scales", 2,
                           "--layers", "relu2_1", "--vgg", "random", "--quiet")
    assert code == 0, output
    assert read_image(out).shape == (3, 32, 24)


def test_cli_bad_image_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    good = tmp_path / "good.png"
    save_image(torch.rand(3, 16, 16), good)
    code, output = _invoke("doodle", good, bad, good, "-o", tmp_path / "out.png", "--vgg", "random")
    assert code == 2
    assert "bad.png" in output and len(output.strip().splitlines()) == 1


def test_content_is_the_start_image_and_content_loss_pulls_toward_it():
    style, smap, tmap, _ = _two_texture_scene(32)
    content = torch.rand(3, 32, 32)
    kw = dict(size=32, scales=1, layers=["relu2_1"], content_layer="relu2_2", vgg_weights="random", progress=False)
    # one step of an all-zero loss (no gradient) leaves the start image as it is
    start = doodle(style, smap, tmap, content=content, steps=1, mrf_weight=0.0, content_weight=0.0, tv_weight=0.0,
                   **kw)
    assert torch.allclose(start, content, atol=1e-6)
    # from noise, a strong content loss brings the result closer to the content than a zero one
    far = doodle(style, smap, tmap, content=content, steps=8, init="noise", content_weight=0.0, **kw)
    near = doodle(style, smap, tmap, content=content, steps=8, init="noise", content_weight=100.0, **kw)
    assert (near - content).abs().mean() < (far - content).abs().mean()
