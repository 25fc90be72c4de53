"""StyleGAN-family layers (nn/stylegan.py, nn/conv.py) and networks (models/stylegan2.py)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pixforge.errors import ConfigError
from pixforge.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, channels_at
from pixforge.nn.conv import EqualConv2d, EqualLinear, FusedLeakyReLU, ModulatedConv2d, Upsample, fused_leaky_relu
from pixforge.nn.stylegan import ConstantInput, MinibatchStdDev, NoiseInjection, ToRGB
from pixforge.registry import ARCHS

pytestmark = pytest.mark.usefixtures("one_thread")


def count(m) -> int:
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------- layers
def test_equalised_learning_rate_makes_adam_steps_relative_to_the_layer_scale():
    """The point of the equalised LR: one Adam step changes every layer's effective weights by the same fraction of
    their scale, whatever the fan-in (weights stored N(0, 1), multiplied by 1/sqrt(fan_in) at run time)."""
    torch.manual_seed(0)
    relative = []
    for cin in (4, 64):
        conv = EqualConv2d(cin, 8, 3, padding=1, bias=False)
        before = (conv.weight * conv.scale).detach().clone()
        opt = torch.optim.Adam(conv.parameters(), lr=0.01)
        conv(torch.randn(2, cin, 6, 6)).pow(2).sum().backward()
        opt.step()
        step = (conv.weight * conv.scale).detach() - before
        assert torch.allclose(step.abs() / conv.scale, torch.full_like(step, 0.01), rtol=1e-3)  # Adam's 1st step
        relative.append((step.norm() / before.norm()).item())
    assert relative[0] == pytest.approx(relative[1], rel=0.1)  # same relative speed at fan-in 36 and 576
    plain = [torch.nn.Conv2d(cin, 8, 3, bias=False) for cin in (4, 64)]  # for contrast: a plain conv is not
    assert plain[0].weight.std() / plain[1].weight.std() > 3


def test_equalised_linear_scaling_and_learning_rate_multiplier():
    """EqualLinear (the mapping network's layer): stored weights N(0, 1)/lr_mul, used times lr_mul/sqrt(fan_in),
    bias times lr_mul; so Adam's first step moves the used weights by lr·lr_mul/sqrt(fan_in) (hand values)."""
    torch.manual_seed(0)
    fc = EqualLinear(16, 4, bias_init=0.5, lr_mul=0.01)
    assert fc.scale == pytest.approx(0.01 / 4) and fc.weight.std().item() == pytest.approx(100, rel=0.2)
    x = torch.randn(3, 16)
    assert torch.allclose(fc(x), x @ (fc.weight * 0.0025).t() + 0.005, atol=1e-5)  # bias 0.5 · 0.01
    used = (fc.weight * fc.scale).detach().clone()
    opt = torch.optim.Adam(fc.parameters(), lr=0.1)
    fc(x).sum().backward()
    opt.step()
    step = (fc.weight * fc.scale).detach() - used
    assert torch.allclose(step.abs(), torch.full_like(step, 0.1 * 0.0025), rtol=1e-3)  # 100x slower than lr_mul 1
    assert torch.allclose(fc.bias.detach(), torch.full((4,), 0.5 - 0.1), atol=1e-6)  # (used bias moves by 0.001)


def test_r1_of_an_image_critic_by_hand():
    """R1 on image batches: D(x) = Σ c·x² over C, H, W has ∇ = 2c·x, so R1 = mean over samples of 4c²‖x‖²;
    the StyleGAN2 task adds γ/2 · k · R1 on every k-th D step."""
    from pixforge.losses.regularizers import lazy_r1_penalty, r1_penalty

    x = torch.zeros(2, 1, 2, 2)
    x[0, 0, 0, 0], x[0, 0, 1, 1], x[1, 0, 0, 1] = 1.0, 2.0, -3.0  # ‖x‖² = 5 and 9
    critic = lambda v: 0.5 * v.pow(2).sum((1, 2, 3))  # noqa: E731  (c = 0.5: ∇ = x)
    assert r1_penalty(critic, x).item() == pytest.approx((5 + 9) / 2)
    assert lazy_r1_penalty(critic, x, 32, every=16).item() == pytest.approx(16 * 7)
    assert lazy_r1_penalty(critic, x, 33, every=16) is None


def test_fused_leaky_relu_adds_bias_and_keeps_the_second_moment():
    act = FusedLeakyReLU(3)
    with torch.no_grad():
        act.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(4, 3, 5, 5)
    assert torch.allclose(act(x), F.leaky_relu(x + act.bias.view(1, 3, 1, 1), 0.2) * math.sqrt(2))
    big = torch.randn(200_000)
    assert fused_leaky_relu(big).pow(2).mean().item() == pytest.approx(1.04, rel=0.02)  # (1 + 0.2²)/2 * 2
    assert fused_leaky_relu(torch.tensor([-1.0, 2.0])).tolist() == pytest.approx([-0.2 * 2 ** 0.5, 2 * 2 ** 0.5])


@pytest.mark.parametrize("kind", ["plain", "upsample", "downsample"])
def test_demodulation_keeps_unit_output_variance(kind):
    """Unit-variance input -> unit-variance output for any style (the weights have unit norm per output channel);
    without demodulation the output variance follows the style's scale. Up/downsampling convs add a fixed
    factor (the FIR filter and the zero insertion), still independent of the style."""
    torch.manual_seed(0)
    flags = {"upsample": kind == "upsample", "downsample": kind == "downsample"}
    conv = ModulatedConv2d(64, 32, 3, style_dim=8, **flags)
    raw = ModulatedConv2d(64, 32, 3, style_dim=8, demodulate=False, **flags)
    raw.load_state_dict(conv.state_dict())
    x = torch.randn(4, 64, 32, 32)
    style = torch.randn(4, 8) * 3  # far from the initial modulation (bias 1)

    def var(module, s):
        return module(x, s)[..., 3:-3, 3:-3].var((1, 2, 3))  # away from the zero padding

    with torch.no_grad():
        out = conv(x, style)
        v, v_weak = var(conv, style), var(conv, style / 10)
        assert torch.allclose(v, v_weak, rtol=0.08) and torch.allclose(v, v.mean().expand(4), rtol=0.08)
        if kind == "plain":
            assert torch.allclose(v, torch.ones(4), atol=0.08), v
        raw_v, raw_weak = var(raw, style), var(raw, style / 10)
        assert (raw_v / raw_weak).min() > 3  # without demodulation the style scales the output
        conv.fused = True  # the grouped-conv implementation gives the same numbers
        assert torch.allclose(conv(x, style), out, atol=1e-4)


def test_minibatch_stddev_shape_and_value():
    torch.manual_seed(0)
    x = torch.randn(8, 5, 3, 3)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 6, 3, 3) and torch.equal(out[:, :5], x)
    # groups as the reference: samples i, i+2, i+4, i+6 (view(G, -1, ...)): two groups, {0,2,4,6} and {1,3,5,7}
    for member in (0, 1):
        group = x[member::2]
        expected = torch.sqrt(group.var(0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(out[member::2, 5], expected.expand(4, 3, 3), atol=1e-6)
    assert MinibatchStdDev(4)(x[:6]).shape == (6, 6, 3, 3)  # 6 not divisible by 4: groups of 3
    same = MinibatchStdDev(4)(torch.ones(4, 2, 2, 2))
    assert torch.allclose(same[:, 2], torch.full((4, 2, 2), 1e-4))  # identical samples: sqrt(eps)


def test_noise_constant_input_and_to_rgb_skip():
    noise = NoiseInjection()
    x, n = torch.randn(2, 4, 5, 5), torch.randn(2, 1, 5, 5)
    assert torch.equal(noise(x), x)  # strength starts at 0
    with torch.no_grad():
        noise.weight.fill_(0.5)
    assert torch.allclose(noise(x, n), x + 0.5 * n)
    assert ConstantInput(7)(3).shape == (3, 7, 4, 4)

    up = Upsample()
    flat = up(torch.full((1, 3, 8, 8), 2.0))
    assert flat.shape == (1, 3, 16, 16) and torch.allclose(flat[..., 2:-2, 2:-2], torch.full((1, 3, 12, 12), 2.0))
    rgb = ToRGB(6, style_dim=4)
    with torch.no_grad():
        rgb.conv.weight.zero_()
        rgb.bias.fill_(0.25)
    skip, h, w = torch.randn(2, 3, 4, 4), torch.randn(2, 6, 8, 8), torch.randn(2, 4)
    assert torch.allclose(rgb(h, w, skip), up(skip) + 0.25)  # RGB = this scale's + the upsampled lower one
    assert rgb(h, w).shape == (2, 3, 8, 8)


# ----------------------------------------------------------------------------------------------- StyleGAN2
# rosinality/stylegan2-pytorch Generator(8, 16, n_mlp=2, channel_multiplier=1) and Discriminator(8, 1)
ROSINALITY_G8 = [
    "style.1.weight", "style.1.bias", "style.2.weight", "style.2.bias", "input.input", "conv1.conv.weight",
    "conv1.conv.modulation.weight", "conv1.conv.modulation.bias", "conv1.noise.weight", "conv1.activate.bias",
    "to_rgb1.bias", "to_rgb1.conv.weight", "to_rgb1.conv.modulation.weight", "to_rgb1.conv.modulation.bias",
    "convs.0.conv.weight", "convs.0.conv.blur.kernel", "convs.0.conv.modulation.weight",
    "convs.0.conv.modulation.bias", "convs.0.noise.weight", "convs.0.activate.bias", "convs.1.conv.weight",
    "convs.1.conv.modulation.weight", "convs.1.conv.modulation.bias", "convs.1.noise.weight",
    "convs.1.activate.bias", "to_rgbs.0.bias", "to_rgbs.0.upsample.kernel", "to_rgbs.0.conv.weight",
    "to_rgbs.0.conv.modulation.weight", "to_rgbs.0.conv.modulation.bias", "noises.noise_0", "noises.noise_1",
    "noises.noise_2"]
ROSINALITY_D8 = [
    "convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight", "convs.1.conv1.1.bias", "convs.1.conv2.0.kernel",
    "convs.1.conv2.1.weight", "convs.1.conv2.2.bias", "convs.1.skip.0.kernel", "convs.1.skip.1.weight",
    "final_conv.0.weight", "final_conv.1.bias", "final_linear.0.weight", "final_linear.0.bias",
    "final_linear.1.weight", "final_linear.1.bias"]


def test_stylegan2_state_dict_layout_is_rosinalitys():
    g = StyleGAN2Generator(8, 16, n_mlp=2, channel_base=16384)
    assert [k for k in g.state_dict() if k != "w_avg"] == ROSINALITY_G8 and "w_avg" in g.state_dict()
    assert g.state_dict()["convs.0.conv.blur.kernel"].shape == (4, 4)
    assert list(StyleGAN2Discriminator(8, channel_base=16384).state_dict()) == ROSINALITY_D8


def test_stylegan2_parameter_counts_match_the_published_ones():
    with torch.device("meta"):
        g, d = StyleGAN2Generator(1024), StyleGAN2Discriminator(1024)
    assert count(g) == 30_370_060  # NVIDIA's config F, 1024 px ("G Params 30370060")
    assert count(d) == 29_012_513  # rosinality's Discriminator(1024, channel_multiplier=2)
    assert [channels_at(r) for r in (4, 64, 128, 1024)] == [512, 512, 256, 32]
    assert [channels_at(r, 16384) for r in (64, 1024)] == [256, 16]
    assert "stylegan2-generator" in ARCHS.list(family="gan") and "stylegan2-discriminator" in ARCHS


def test_stylegan2_generator_mixing_truncation_and_noise():
    torch.manual_seed(0)
    g = StyleGAN2Generator(16, 32, n_mlp=3, channel_base=256, channel_max=32).eval()
    d = StyleGAN2Discriminator(16, channel_base=256, channel_max=32)
    assert g.n_latent == 6 and g.num_layers == 5
    z, z2 = torch.randn(4, 32), torch.randn(4, 32)
    x = g(z)
    assert x.shape == (4, 3, 16, 16) and d(x).shape == (4,)
    lat = g.latents(z, z2, inject_index=2)
    w, w2 = g.mapping(z), g.mapping(z2)
    assert torch.equal(lat[:, :2], w[:, None].expand(-1, 2, -1)) and torch.equal(lat[:, 2:], w2[:, None].expand(-1, 4, -1))
    with torch.no_grad():
        g.w_avg.copy_(torch.randn(32))
    assert torch.allclose(g.truncate(w, 0.7), g.w_avg + 0.7 * (w - g.w_avg), atol=1e-6)
    same = g(z, truncation=0.0, noise="const")  # psi 0: every z gives the image of w_avg
    assert torch.allclose(same, same[:1].expand_as(same), atol=1e-5)
    with torch.no_grad():
        for conv in g.convs:
            conv.noise.weight.fill_(0.5)
    assert torch.equal(g(z, noise="const"), g(z, noise="const")) and not torch.equal(g(z), g(z))
    before = g.w_avg.clone()
    g.track_w_avg(w)
    assert torch.allclose(g.w_avg, before + 0.005 * (w.mean(0) - before))
    img, latents = g(z, return_latents=True)
    (grad,) = torch.autograd.grad(img.sum(), latents)  # path length needs d image / d per-layer w
    assert grad.shape == (4, 6, 32)
    with pytest.raises(ConfigError, match="power of two >= 8"):
        StyleGAN2Generator(24)


# ----------------------------------------------------------------------------------------------- PGGAN
def test_pggan_parameter_counts_match_the_paper():
    from pixforge.models.pggan import PGGANDiscriminator, PGGANGenerator

    with torch.device("meta"):
        g, d = PGGANGenerator(1024), PGGANDiscriminator(1024)
    assert round(count(g) / 1e5) == 231 and round(count(d) / 1e5) == 231  # Table 2: 23.1M and 23.1M


def test_stylegan_v1_discriminator_blurs_between_its_block_convs():
    """StyleGAN v1's D (PGGAN's with ``blur``): conv, [1, 2, 1] x [1, 2, 1] / 16 low-pass, conv, 2x2 average."""
    from pixforge.models.pggan import PGGANDiscriminator
    from pixforge.nn.conv import Blur
    from pixforge.tasks.stylegan2 import StyleGANTask

    torch.manual_seed(0)
    plain, blurred = PGGANDiscriminator(16, channel_base=64), PGGANDiscriminator(16, channel_base=64, blur=True)
    assert count(plain) == count(blurred)  # the filter is a fixed buffer
    blurred.load_state_dict(plain.state_dict(), strict=False)  # (the second conv moved one place on)
    for a, b in zip(plain.blocks[1:], blurred.blocks[1:]):
        b[2].load_state_dict(a[1].state_dict())
    c = plain.blocks[1][0][0].weight.shape[0]  # 8 channels at 8 px
    h = torch.randn(2, c, 8, 8)
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16).expand(c, 1, 3, 3)
    first, second = plain.blocks[1][0], plain.blocks[1][1]
    with torch.no_grad():
        expected = F.avg_pool2d(second(F.conv2d(first(h), k, padding=1, groups=c)), 2)
        assert torch.allclose(blurred.blocks[1](h), expected, atol=1e-5)
        assert not torch.allclose(plain.blocks[1](h), expected, atol=1e-3)
    d = StyleGANTask.build_discriminator(StyleGANTask.Config(image_size=16, channel_base=64, sample_shape=[1, 16, 16]))
    assert isinstance(d.blocks[1][1], Blur)  # the `stylegan` task's D


def test_pggan_fade_in_at_alpha_0_and_1_equals_the_lower_and_upper_path():
    from pixforge.models.pggan import PGGANDiscriminator, PGGANGenerator

    torch.manual_seed(0)
    g, d = PGGANGenerator(16, 8, channel_base=64), PGGANDiscriminator(16, channel_base=64)
    z, x = torch.randn(4, 8), torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        g.grow(1, 1.0)
        lower = g(z)
        g.grow(2, 0.0)
        assert g(z).shape == (4, 3, 16, 16)
        assert torch.allclose(g(z), F.interpolate(lower, scale_factor=2, mode="nearest"), atol=1e-6)
        g.grow(2, 1.0)
        upper = g(z)
        g.to_rgbs[1].weight.add_(1.0)  # the lower path's output layer no longer matters at alpha 1 ...
        assert torch.equal(g(z), upper)
        g.grow(2, 0.5)  # ... but does while fading in
        assert not torch.allclose(g(z), upper)

        d.grow(1, 1.0)
        lower_d = d(F.avg_pool2d(x, 2))
        d.grow(2, 0.0)
        assert torch.allclose(d(x), lower_d, atol=1e-5)
        d.grow(2, 1.0)
        upper_d = d(x)
        d.from_rgbs[1][0].weight.add_(1.0)
        assert torch.equal(d(x), upper_d)
    g.grow(1, 0.25)
    fresh = PGGANGenerator(16, 8, channel_base=64)
    fresh.load_state_dict(g.state_dict())  # (stage, alpha) travel with the weights
    assert (fresh.stage, fresh.alpha, fresh.resolution) == (1, 0.25, 8)
    with pytest.raises(ConfigError, match="stage 3 is out of range for 16 px"):
        g.grow(3)


def test_style_mixing_grid_takes_coarse_styles_from_rows_and_fine_from_columns():
    from pixforge.tasks.stylegan2 import coarse_layers, style_mixing_grid

    torch.manual_seed(0)
    g = StyleGAN2Generator(16, 16, n_mlp=2, channel_base=256, channel_max=32).eval()
    assert coarse_layers(g) == 4 and coarse_layers(StyleGAN2Generator(8, 8, n_mlp=1)) == 3  # 4-8 px layers
    grid = style_mixing_grid(g, rows=2, cols=3, seed=5).view(3, 4, 3, 16, 16)
    assert torch.equal(grid[0, 0], torch.ones(3, 16, 16))  # blank corner
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(5))
    w = g.mapping(z)
    with torch.no_grad():
        assert torch.allclose(grid[1, 0], g.synthesis(w[0:1, None].expand(-1, 6, -1), "const")[0], atol=1e-5)
        assert torch.allclose(grid[0, 3], g.synthesis(w[4:5, None].expand(-1, 6, -1), "const")[0], atol=1e-5)
        cell = g.synthesis(g.mix(w[1:2], w[3:4], 4), "const")[0]  # row 2 (coarse) x column 2 (fine)
        assert torch.allclose(grid[2, 2], cell, atol=1e-5)
    from pixforge.errors import BadInputError

    with pytest.raises(BadInputError, match="--crossover must be in 1..5"):
        style_mixing_grid(g, crossover=6)


# ----------------------------------------------------------------------------------------------- StyleGAN v1
def test_stylegan_v1_generator():
    from pixforge.models.stylegan import StyleGANGenerator
    from pixforge.nn.stylegan import StyleAdaIN

    with torch.device("meta"):
        big, fixed = StyleGANGenerator(1024), StyleGANGenerator(1024, progressive=False)
    # NVIDIA's printed total, with a ToRGB per resolution; at a fixed resolution the 8 lower-resolution ToRGBs
    # (3 (C + 1) for C = 512, 512, 512, 512, 256, 128, 64, 32: 7,608) are left out
    assert count(big) == 26_219_627 and count(fixed) == 26_219_627 - 7_608
    assert count(big.style) == 8 * (512 * 512 + 512)
    torch.manual_seed(0)
    g = StyleGANGenerator(16, 16, n_mlp=2, channel_base=256, channel_max=32).eval()
    z = torch.randn(3, 16)
    assert g(z).shape == (3, 3, 16, 16) and len(g.layers) == g.n_latent == 6
    assert torch.equal(g(z, noise="const"), g(z, noise="const"))
    mixed = g(z, z2=torch.randn(3, 16), inject_index=2, noise="const")
    assert not torch.allclose(mixed, g(z, noise="const"))

    ada = StyleAdaIN(4, style_dim=5)
    x, w = torch.randn(2, 4, 6, 6) * 3 + 1, torch.randn(2, 5)
    scale, shift = ada.style(w).view(2, 2, 4, 1, 1).unbind(1)
    norm = (x - x.mean((2, 3), keepdim=True)) / x.var((2, 3), unbiased=False, keepdim=True).add(1e-8).sqrt()
    assert torch.allclose(ada(x, w), norm * (1 + scale) + shift, atol=1e-5)


def test_stylegan_v1_fade_in_at_alpha_0_and_1_equals_the_lower_and_upper_path():
    from pixforge.models.stylegan import StyleGANGenerator

    torch.manual_seed(0)
    g = StyleGANGenerator(16, 16, n_mlp=2, channel_base=256, channel_max=32).eval()
    z, z2 = torch.randn(3, 16), torch.randn(3, 16)
    with torch.no_grad():
        g.grow(1, 1.0)
        assert g.layers_in_use == 4 and len(g.constant_noise()) == 4
        lower = g(z, noise="const")
        assert lower.shape == (3, 3, 8, 8)
        g.grow(2, 0.0)  # 16 px blended in with weight 0: the 8 px image, nearest-upsampled
        assert torch.allclose(g(z, noise="const"), F.interpolate(lower, scale_factor=2, mode="nearest"), atol=1e-6)
        g.grow(2, 1.0)
        upper = g(z, noise="const")
        g.to_rgbs[1].weight.add_(1.0)  # the 8 px ToRGB no longer matters at alpha 1 ...
        assert torch.equal(g(z, noise="const"), upper)
        g.grow(2, 0.5)  # ... but does while fading in
        assert not torch.allclose(g(z, noise="const"), upper)
        g.grow(1, 1.0)
        for _ in range(20):  # style mixing crosses over only among the 4 layers in use (NVIDIA's cur_layers)
            lat = g.latents(z, z2)
            k = int((lat[0] == g.mapping(z2)[0]).all(1).float().argmax())
            assert 1 <= k < 4
    g.grow(1, 0.25)
    fresh = StyleGANGenerator(16, 16, n_mlp=2, channel_base=256, channel_max=32)
    fresh.load_state_dict(g.state_dict())  # (stage, alpha) travel with the weights
    assert (fresh.stage, fresh.alpha, fresh.resolution) == (1, 0.25, 8)
    fixed = StyleGANGenerator(16, 16, n_mlp=2, channel_base=256, channel_max=32, progressive=False)
    assert len(fixed.to_rgbs) == 1 and fixed.resolution == 16
    with pytest.raises(ConfigError, match="stage 1 is out of range for 16 px: 2"):
        fixed.grow(1)


def test_truncation_cutoff_moves_only_the_first_layers():
    from pixforge.models.stylegan import StyleGANGenerator

    torch.manual_seed(0)
    g = StyleGANGenerator(32, 8, n_mlp=1, channel_base=64, channel_max=8).eval()  # 8 layers, cutoff 8
    g2 = StyleGAN2Generator(16, 8, n_mlp=1, channel_base=64, channel_max=8).eval()
    assert (g.truncation_cutoff, g2.truncation_cutoff) == (8, None)
    z, z2 = torch.randn(2, 8), torch.randn(2, 8)
    for gen in (g, g2):
        with torch.no_grad():
            gen.w_avg.copy_(torch.randn(8))
    w, w2, avg = g.mapping(z), g.mapping(z2), g.w_avg
    # by hand: layers 0-2 take 0.5 avg + 0.5 w, layers 3.. take w; mixed at layer 2: w2 from there on
    expected = torch.stack([0.5 * avg + 0.5 * w] * 2 + [0.5 * avg + 0.5 * w2] + [w2] * 5, 1)
    got = g.latents(z, z2, inject_index=2, truncation=0.5, truncation_cutoff=3)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(g.latents(z, truncation=0.5), (0.5 * avg + 0.5 * w)[:, None].expand(-1, 8, -1), atol=1e-6)
    with torch.no_grad():  # the same through forward: the layers above the cutoff keep z's own styles
        assert torch.allclose(g(z, truncation=0.5, truncation_cutoff=3, noise="const"),
                              g.synthesis(torch.stack([0.5 * avg + 0.5 * w] * 3 + [w] * 5, 1), "const"), atol=1e-5)
    w = g2.mapping(z)  # StyleGAN2: every layer by default
    moved = (g2.w_avg + 0.7 * (w - g2.w_avg))[:, None].expand(-1, 6, -1)
    assert torch.allclose(g2.latents(z, truncation=0.7), moved, atol=1e-6)
    got = g2.latents(z, truncation=0.7, truncation_cutoff=2)
    assert torch.allclose(got[:, 2:], w[:, None].expand(-1, 4, -1)) and torch.allclose(got[:, :2], moved[:, :2])
