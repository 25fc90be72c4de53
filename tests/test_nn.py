"""Layers of pixforge.nn: conv helpers, StyleGAN2 pieces, norms by name, conditional norms, blocks."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pixforge.errors import ConfigError, WeightsError
from pixforge.nn.blocks import RRDB, InvertedResidual, ResidualBlock, ResidualDenseBlock, unet
from pixforge.nn.conv import (Blur, EqualConv2d, EqualLinear, ModulatedConv2d, pad_to_multiple, tf_same_pad,
                              upfirdn2d)
from pixforge.nn.norms import SPADE, AdaIN, AdaLIN, PixelNorm, adain, group_count, make_norm
from pixforge.weights import load_strict

pytestmark = pytest.mark.usefixtures("one_thread")


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ----- conv helpers -----

def test_pad_to_multiple_reflects_and_crops_back():
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).view(1, 2, 5, 6)
    padded, (h, w) = pad_to_multiple(x, 4)
    assert padded.shape == (1, 2, 8, 8) and (h, w) == (5, 6)
    assert torch.equal(padded[..., :h, :w], x)
    assert torch.equal(padded[..., 5, :6], x[..., 3, :])  # reflection: row 5 mirrors row 3
    same, hw = pad_to_multiple(x[..., :4, :4], 4)
    assert same.shape == (1, 2, 4, 4) and hw == (4, 4)
    tiny, _ = pad_to_multiple(torch.ones(1, 1, 1, 2), 4)  # too small to reflect: edge replication
    assert tiny.shape == (1, 1, 4, 4) and torch.equal(tiny, torch.ones(1, 1, 4, 4))


def test_tf_same_pad_puts_the_odd_pixel_at_the_end():
    # k=3, s=2: n=8 -> ceil(8/2)=4 outputs need (4-1)*2+3-8 = 1 extra pixel (bottom/right); n=7 -> 2 (1 each side)
    assert tf_same_pad(torch.ones(1, 1, 8, 7), 3, 2).shape == (1, 1, 9, 9)
    x = torch.ones(1, 1, 8, 8)
    assert tf_same_pad(x, 3, 2)[0, 0, 0].sum() == 8 and tf_same_pad(x, 3, 2)[0, 0, -1].sum() == 0
    assert tf_same_pad(x, 3, 1).shape == (1, 1, 10, 10)


def _upfirdn2d_reference(x, kernel2d, up, down, pad0, pad1):
    """rosinality's upfirdn2d_native (2-D kernel), written out independently of pixforge's separable version."""
    _, c, h, w = x.shape
    out = x.reshape(-1, h, 1, w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1]).reshape(-1, h * up, w * up, 1)
    out = F.pad(out, [0, 0, max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    out = out[:, max(-pad0, 0):out.shape[1] - max(-pad1, 0), max(-pad0, 0):out.shape[2] - max(-pad1, 0), :]
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, h * up + pad0 + pad1, w * up + pad0 + pad1)
    kh, kw = kernel2d.shape
    out = F.conv2d(out, torch.flip(kernel2d, [0, 1]).view(1, 1, kh, kw))
    out = out[:, :, ::down, ::down]
    return out.reshape(-1, c, out.shape[-2], out.shape[-1])


@pytest.mark.parametrize("up, down, pad", [(1, 1, (2, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (-1, 2))])
def test_upfirdn2d_matches_the_2d_reference(up, down, pad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 7, generator=g)
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k2 = torch.outer(k, k) / 64.0
    ours = upfirdn2d(x, k / 8.0, up=up, down=down, pad=pad)
    assert torch.allclose(ours, _upfirdn2d_reference(x, k2, up, down, *pad), atol=1e-5)


def test_blur_is_the_normalised_1331_filter():
    blur = Blur(pad=(2, 1))
    k = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(blur.kernel, torch.outer(k, k) / 64.0)  # rosinality's 2-D layout
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    out = blur(x)
    assert out.shape == (1, 1, 9, 9)
    assert torch.allclose(out.sum(), torch.tensor(1.0))  # normalised: mass kept
    expected = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
    assert torch.allclose(out[0, 0, 3:7, 3:7], expected)  # an impulse gives the kernel (4x4 around it)
    const = Blur(pad=(0, 0))(torch.full((1, 2, 8, 8), 5.0))
    assert const.shape == (1, 2, 5, 5) and torch.allclose(const, torch.full_like(const, 5.0))
    assert torch.allclose(Blur(upsample_factor=2).kernel.sum(), torch.tensor(4.0))  # 2 per axis, 4 over both


def test_equalised_learning_rate_scales_at_run_time():
    torch.manual_seed(0)
    conv = EqualConv2d(8, 4, 3, padding=1)
    assert conv.scale == pytest.approx(1 / math.sqrt(8 * 9))
    assert abs(conv.weight.std().item() - 1.0) < 0.1  # stored N(0, 1)
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight / math.sqrt(72), conv.bias, padding=1), atol=1e-6)
    lin = EqualLinear(16, 3, bias_init=1.0, lr_mul=0.01)
    assert torch.allclose(lin.weight * lin.scale, lin.weight.detach() * 0.01 / 4)  # scale = lr_mul / sqrt(in)
    assert abs((lin.weight * lin.scale).std().item() - 1 / 4) < 0.06  # effective init N(0, 1/in), whatever lr_mul
    z = torch.randn(5, 16)
    assert torch.allclose(lin(z), z @ (lin.weight * lin.scale).T + 0.01 * lin.bias, atol=1e-6)
    lin(z).sum().backward()  # the stored weight's gradient is the effective weight's times lr_mul / sqrt(in)
    assert torch.allclose(lin.weight.grad, (z.sum(0) * 0.01 / 4).expand(3, -1), atol=1e-6)
    act = EqualLinear(16, 3, activation="fused_lrelu")
    assert torch.allclose(act(z), F.leaky_relu(F.linear(z, act.weight * act.scale) + act.bias, 0.2) * math.sqrt(2))


def test_modulated_conv_equals_per_sample_convolution():
    torch.manual_seed(0)
    mod = ModulatedConv2d(4, 6, 3, style_dim=5)
    x, s = torch.randn(3, 4, 8, 8), torch.randn(3, 5)
    out = mod(x, s)
    assert out.shape == (3, 6, 8, 8)
    styles = mod.modulation(s)  # (N, in): the per-sample, per-input-channel scales
    for i in range(3):
        w = mod.weight[0] * mod.scale * styles[i].view(1, 4, 1, 1)
        w = w / (w.pow(2).sum((1, 2, 3), keepdim=True) + 1e-8).sqrt()  # demodulation
        assert torch.allclose(out[i], F.conv2d(x[i:i + 1], w, padding=1)[0], atol=1e-5)
    w = mod.modulated_weight(s)
    assert torch.allclose(w.pow(2).sum((2, 3, 4)), torch.ones(3, 6), atol=1e-5)  # unit norm per output channel
    assert ModulatedConv2d(4, 6, 3, 5, upsample=True)(x, s).shape == (3, 6, 16, 16)
    assert ModulatedConv2d(4, 6, 3, 5, downsample=True)(x, s).shape == (3, 6, 4, 4)
    plain = ModulatedConv2d(4, 6, 1, 5, demodulate=False)
    assert not torch.allclose(plain.modulated_weight(s).pow(2).sum((2, 3, 4)), torch.ones(3, 6))


# ----- norms -----

def test_make_norm_by_name_and_group_fallback():
    assert isinstance(make_norm("batch", 8), nn.BatchNorm2d)
    inst = make_norm("instance", 8)
    assert isinstance(inst, nn.InstanceNorm2d) and inst.affine
    assert not make_norm("instance", 8, affine=False).affine
    assert make_norm("group", 64).num_groups == 32  # Wu & He's default
    assert make_norm("group", 48).num_groups == 24 and make_norm("group", 3).num_groups == 3
    assert make_norm("group", 64, groups=8).num_groups == 8
    assert group_count(20) == 20 and group_count(100) == 25
    layer = make_norm("layer", 6)
    assert isinstance(layer, nn.GroupNorm) and layer.num_groups == 1
    x = torch.randn(2, 6, 4, 4) * 3 + 1
    y = layer(x)  # each sample normalised over (C, H, W)
    assert torch.allclose(y.mean((1, 2, 3)), torch.zeros(2), atol=1e-5)
    assert isinstance(make_norm("none", 4), nn.Identity)
    with pytest.raises(ConfigError, match="unknown norm 'weird'; known: batch, instance, group, layer, none"):
        make_norm("weird", 4)


def test_adain_op_and_module():
    g = torch.Generator().manual_seed(0)
    c, s = torch.randn(2, 4, 6, 5, generator=g) * 2 + 1, torch.randn(1, 4, 7, 7, generator=g) * 3 - 2
    out = adain(c, s, eps=0)
    assert torch.allclose(out.mean((2, 3)), s.mean((2, 3)).expand(2, -1), atol=1e-5)
    assert torch.allclose(out.std((2, 3), unbiased=False), s.std((2, 3), unbiased=False).expand(2, -1), atol=1e-4)
    mean, std = torch.full((1, 4, 1, 1), 0.5), torch.full((1, 4, 1, 1), 2.0)
    assert torch.allclose(adain(c, (mean, std), eps=0).mean((2, 3)), torch.full((2, 4), 0.5), atol=1e-5)
    module = AdaIN(4, style_dim=3)
    assert torch.allclose(module(c, torch.zeros(2, 3)), F.instance_norm(c), atol=1e-6)  # fresh: plain IN
    e = torch.randn(2, 3, generator=g)
    assert torch.allclose(module(c, e), module(c, e.view(2, 3, 1, 1)))


def test_adalin_mixes_instance_and_layer_norm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g) * 4 + 2
    gamma, beta = torch.rand(2, 3, generator=g) + 0.5, torch.randn(2, 3, generator=g)
    norm = AdaLIN(3, eps=0)
    assert torch.allclose(norm.rho, torch.full((1, 3, 1, 1), 0.9))
    inst = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)  # unbiased, as U-GAT-IT
    layer = (x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True)
    expected = (0.9 * inst + 0.1 * layer) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(norm(x, gamma, beta), expected, atol=1e-5)
    with torch.no_grad():
        norm.rho.fill_(1.7)  # kept in [0, 1]: pure instance norm
    assert torch.allclose(norm(x, gamma, beta), inst * gamma[:, :, None, None] + beta[:, :, None, None], atol=1e-5)


def test_spade_layout_and_modulation():
    spade = SPADE(16, label_channels=5)
    hidden = 128  # Park et al.'s default
    assert count(spade) == (5 * hidden * 9 + hidden) + 2 * (hidden * 16 * 9 + 16)
    assert not any(p.requires_grad for p in spade.param_free_norm.parameters())  # parameter-free
    x = torch.randn(2, 16, 8, 8)
    seg = F.one_hot(torch.randint(0, 5, (2, 32, 32)), 5).permute(0, 3, 1, 2).float()  # 4x larger: resized
    assert spade(x, seg).shape == x.shape
    with torch.no_grad():
        for conv in (spade.mlp_gamma, spade.mlp_beta):
            conv.weight.zero_()
            conv.bias.zero_()
        spade.mlp_beta.bias.fill_(3.0)
    spade.train()
    assert torch.allclose(spade(x, seg), F.batch_norm(x, None, None, training=True) + 3.0, atol=1e-5)


def test_pixel_norm_gives_unit_rms_per_position():
    x = torch.randn(3, 10, 4, 4) * 7
    y = PixelNorm()(x)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(3, 4, 4), atol=1e-4)


# ----- blocks -----

def test_residual_and_inverted_residual_blocks():
    block = ResidualBlock(8, norm=lambda c: AdaIN(c, style_dim=2))
    x, e = torch.randn(1, 8, 6, 6), torch.randn(1, 2)
    assert block(x, e).shape == x.shape  # extra arguments reach both norms
    with torch.no_grad():
        block.in2.gamma.weight.zero_()
        block.in2.gamma.bias.zero_()
        block.in2.beta.weight.zero_()
        block.in2.beta.bias.zero_()
    assert torch.allclose(block(x, e), x)  # the residual branch off: identity
    ir = InvertedResidual(16, 16, 1, 6)
    assert ir.skip and ir(torch.randn(1, 16, 7, 7)).shape == (1, 16, 7, 7)
    down = InvertedResidual(16, 24, 2, 6)
    assert not down.skip and down(torch.randn(1, 16, 7, 7)).shape == (1, 24, 4, 4)  # TF 'SAME': ceil(7/2)


def test_pix2pix_unet_256_parameter_count_and_shape():
    with torch.device("meta"):
        net = unet(3, 3, downs=8)
        out = net(torch.randn(1, 3, 256, 256))
    assert out.shape == (1, 3, 256, 256)
    assert count(net) == 54_413_955  # pix2pix prints "[Network G] Total number of parameters : 54.414 M"
    small = unet(3, 2, downs=5, width=4, norm="instance", dropout=True)
    assert small(torch.rand(2, 3, 32, 32)).shape == (2, 2, 32, 32)
    assert any(isinstance(m, nn.InstanceNorm2d) for m in small.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in unet(3, 3, downs=5, width=4, norm="group").modules())


def test_rrdb_parameter_counts():
    # one dense block: four 3x3 convs 64+32i -> 32 and one 192 -> 64, with biases
    rdb = sum((64 + 32 * i) * 32 * 9 + 32 for i in range(4)) + 192 * 64 * 9 + 64
    assert count(ResidualDenseBlock()) == rdb == 239_808
    assert count(RRDB()) == 3 * rdb
    block = RRDB(8, 4)
    x = torch.randn(1, 8, 6, 6)
    assert block(x).shape == x.shape


def test_load_strict_messages_and_casting():
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    state = {k: v.clone().double() for k, v in net.state_dict().items()}
    state["0.weight"] += 1
    load_strict(net, state, "w.pth")
    assert net[0].weight.dtype == torch.float32 and torch.equal(net[0].weight, state["0.weight"].float())
    with pytest.raises(WeightsError, match=r"w.pth: does not fit Sequential: lacks 0.bias"):
        load_strict(net, {k: v for k, v in state.items() if k != "0.bias"}, "w.pth")
    with pytest.raises(WeightsError, match="unexpected extra.weight"):
        load_strict(net, {**state, "extra.weight": torch.zeros(1)}, "w.pth")
    load_strict(net, {**state, "extra.weight": torch.zeros(1)}, "w.pth", ignore_extra=True)
    with pytest.raises(WeightsError, match=r"0.weight has shape \(3, 2\), expected \(3, 2, 1, 1\)"):
        load_strict(net, {**state, "0.weight": torch.zeros(3, 2)}, "w.pth")
    bn_counter_missing = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    load_strict(net, bn_counter_missing, "old-torch.pth")  # files from older torch lack BN step counters
