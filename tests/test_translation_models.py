"""Translation networks (pix2pix, CycleGAN, pix2pixHD, SPADE, DiscoGAN, DTN): parameter counts against the published
ones (or counted by hand from the reference code), receptive fields, and loading state dicts with the exact keys
and shapes the reference repositories save (written out here from their code, not from pixforge's modules)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pixforge.errors import ConfigError, WeightsError
from pixforge.models import discogan, parameter_count, pix2pix, pix2pixhd, spade
from pixforge.registry import ARCHS

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------------ counting by hand
def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def resnet_generator(cin=3, ngf=64, downs=2, blocks=9, bias=True, norm_params=0, final=True) -> int:
    """ResnetGenerator / GlobalGenerator: 7x7 conv, downs, blocks, transposed convs, 7x7 conv (norm_params per
    channel: 0 without affine, 2 with a scale and shift)."""
    n = conv(cin, ngf, 7, bias) + norm_params * ngf
    for d in range(downs):
        n += conv(ngf * 2 ** d, ngf * 2 ** (d + 1), 3, bias) + norm_params * ngf * 2 ** (d + 1)
    c = ngf * 2 ** downs
    n += blocks * 2 * (conv(c, c, 3, bias) + norm_params * c)
    for d in range(downs):
        c = ngf * 2 ** (downs - d)
        n += conv(c, c // 2, 3, bias) + norm_params * c // 2
    return n + (conv(ngf, 3, 7) if final else 0)


def spade_layer(c: int, labels: int) -> int:
    return conv(labels, 128, 3) + 2 * conv(128, c, 3)


def spade_block(fin: int, fout: int, labels: int) -> int:
    mid = min(fin, fout)
    n = conv(fin, mid, 3) + conv(mid, fout, 3) + spade_layer(fin, labels) + spade_layer(mid, labels)
    return n + (conv(fin, fout, 1, bias=False) + spade_layer(fin, labels) if fin != fout else 0)


def patchgan(cin: int, ndf: int = 64, n_layers: int = 3, bias: bool = True, norm_params: int = 0) -> int:
    widths = [ndf * min(2 ** n, 8) for n in range(n_layers + 1)]
    n = conv(cin, ndf, 4)
    for a, b in zip(widths, widths[1:]):
        n += conv(a, b, 4, bias) + norm_params * b
    return n + conv(widths[-1], 1, 4)


NF = 64
SPADE_G = (conv(151, 16 * NF, 3) + 3 * spade_block(16 * NF, 16 * NF, 151)
           + sum(spade_block(16 * NF // 2 ** i, 8 * NF // 2 ** i, 151) for i in range(4)) + conv(NF, 3, 3))


@pytest.mark.parametrize("name, kwargs, expected", [
    ("unet_256", {}, 54_413_955),                                  # pix2pix prints 54.414 M
    ("unet_128", {}, 54_413_955 - conv(512, 512, 4, False) - conv(1024, 512, 4, False) - 2 * 2 * 512),
    ("resnet_9blocks", {}, 11_378_179),                            # CycleGAN prints 11.378 M
    ("resnet_9blocks", {"norm": "instance-affine"}, 11_388_675),   # vintagify's generator
    ("resnet_6blocks", {}, 11_378_179 - 3 * 2 * conv(256, 256, 3)),
    ("patchgan", {}, 2_768_705),                                   # pix2pix D: batch norm, 6 input channels
    ("patchgan", {"in_channels": 3, "norm": "instance"}, 2_764_737),  # CycleGAN D
    ("patchgan", {"n_layers": 1}, patchgan(6, n_layers=1, bias=False, norm_params=2)),
    ("pixelgan", {}, conv(6, 64, 1) + conv(64, 128, 1, False) + 2 * 128 + conv(128, 1, 1, False)),
    ("pix2pixhd-global", {}, resnet_generator(36, 64, 4, 9)),
    ("pix2pixhd-local", {}, resnet_generator(36, 64, 4, 9, final=False) + conv(36, 32, 7) + conv(32, 64, 3)
     + 3 * 2 * conv(64, 64, 3) + conv(64, 32, 3) + conv(32, 3, 7)),
    ("pix2pixhd-discriminator", {}, 2 * (conv(39, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4)
                                         + conv(512, 1, 4))),
    ("pix2pixhd-encoder", {}, resnet_generator(3, 16, 4, 0)),
    ("spade-generator", {}, SPADE_G),
    ("spade-generator", {"use_vae": True}, SPADE_G - conv(151, 16 * NF, 3) + 256 * 16 * NF * 64 + 16 * NF * 64),
    ("spade-discriminator", {}, 2 * (conv(154, 64, 4) + conv(64, 128, 4, False) + conv(128, 256, 4, False)
                                     + conv(256, 512, 4, False) + conv(512, 1, 4))),
    ("spade-encoder", {}, sum(conv(a, b, 3, False) for a, b in ((3, 64), (64, 128), (128, 256), (256, 512),
                                                                 (512, 512), (512, 512))) + 2 * (8192 * 256 + 256)),
    ("discogan-generator", {}, 2 * 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512) + 2 * (128 + 256 + 512)
     + 2 * (256 + 128 + 64)),
    ("discogan-discriminator", {}, 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512) + 2 * (128 + 256 + 512)),
    ("dtn-encoder", {}, conv(3, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + conv(256, 128, 4) + conv(128, 10, 1)
     + 2 * (64 + 128 + 256 + 128)),
    ("dtn-generator", {}, conv(128, 512, 4) + conv(512, 256, 3) + conv(256, 128, 3) + conv(128, 1, 3)
     + 2 * (512 + 256 + 128)),
    ("dtn-discriminator", {}, conv(1, 128, 3) + conv(128, 256, 3) + conv(256, 512, 3) + conv(512, 1, 4)
     + 2 * (128 + 256 + 512)),
])
def test_parameter_counts(name, kwargs, expected):
    with torch.device("meta"):
        net = ARCHS.create(name, **kwargs)
    assert parameter_count(net) == expected
    assert ARCHS.meta(name)["family"] == "translation"


def receptive_field(net: nn.Module, size: int = 96) -> int:
    """Width of the input region that the centre output pixel depends on (nonzero input gradient)."""
    x = torch.randn(1, net_in(net), size, size, requires_grad=True)
    out = net.eval()(x)
    out[..., out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    cols = (x.grad.abs().sum((0, 1, 2)) > 0).nonzero()
    return int(cols.max() - cols.min() + 1)


def net_in(net: nn.Module) -> int:
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d)).in_channels


def test_patchgan_receptive_fields():
    """The pix2pix paper's 1x1 (PixelGAN), 16x16 (n_layers 1) and 70x70 (basic) patches."""
    assert receptive_field(pix2pix.PixelDiscriminator(3, 4)) == 1
    assert receptive_field(pix2pix.NLayerDiscriminator(3, 4, n_layers=1)) == 16
    assert receptive_field(pix2pix.NLayerDiscriminator(3, 4, n_layers=3), 160) == 70


def test_generators_keep_any_multiple_size_and_init_as_the_reference():
    torch.manual_seed(0)
    for net, size in ((pix2pix.ResnetGenerator(ngf=8, n_blocks=2), (20, 28)),
                      (pix2pix.UnetGenerator(num_downs=5, ngf=4), (32, 64)),
                      (pix2pixhd.LocalEnhancer(ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1,
                                               in_channels=3), (32, 48)),
                      (spade.SPADEGenerator(label_nc=5, ngf=4), (64, 96))):
        x = torch.rand(2, net_in(net), *size) * 2 - 1
        out = net.eval()(x)
        assert out.shape == (2, 3, *size) and out.abs().max() <= 1
        assert all(s % net.size_multiple == 0 for s in size)
    convs = [m.weight for m in pix2pix.ResnetGenerator().modules() if isinstance(m, nn.Conv2d)]
    w = torch.cat([c.flatten() for c in convs])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001  # N(0, 0.02)
    bn = pix2pix.UnetGenerator(num_downs=5, ngf=8).model.model[1].model[2]
    assert isinstance(bn, nn.BatchNorm2d) and abs(bn.weight.mean().item() - 1) < 0.02 and bn.bias.abs().sum() == 0
    with pytest.raises(ConfigError, match="unknown norm 'layer'; known: batch, instance"):
        pix2pix.UnetGenerator(norm="layer")
    assert not any(p.numel() for m in pix2pix.ResnetGenerator(ngf=4, n_blocks=1).modules()
                   if isinstance(m, nn.InstanceNorm2d) for p in m.parameters())  # the reference's instance norm


def test_multiscale_discriminators_return_features_per_scale_and_feed_the_losses():
    from pixforge.losses.adversarial import feature_matching_loss, get_loss

    for d, cin in ((pix2pixhd.MultiscaleDiscriminator(7, ndf=8), 7), (spade.SPADEDiscriminator(7, ndf=8), 7)):
        real, fake = d(torch.randn(1, cin, 64, 64)), d(torch.randn(1, cin, 64, 64))
        assert len(real) == 2 and [len(s) for s in real] == [5, 5]
        assert real[0][-1].shape[1] == 1 and real[1][-1].shape[-1] < real[0][-1].shape[-1]
        assert get_loss("hinge").d_loss(real, fake).ndim == 0
        assert feature_matching_loss(real, fake) > 0


# ------------------------------------------------------------------------------------------------ reference layouts
def add(state: dict, prefix: str, **shapes) -> None:
    for leaf, shape in shapes.items():
        value = torch.randn(shape) if leaf != "running_var" else torch.rand(shape) + 0.5
        state[f"{prefix}.{leaf}"] = value if shape != () else torch.tensor(7)


def conv_keys(state, prefix, cout, cin, k, bias=True, transposed=False):
    add(state, prefix, weight=(cin, cout, k, k) if transposed else (cout, cin, k, k), **({"bias": (cout,)} if bias else {}))


def bn_keys(state, prefix, c, step=True):
    add(state, prefix, weight=(c,), bias=(c,), running_mean=(c,), running_var=(c,), **({"num_batches_tracked": ()} if step else {}))


def old_instance_keys(state, prefix, c):
    """InstanceNorm2d saved by PyTorch < 0.4: running statistics, no affine parameters."""
    add(state, prefix, running_mean=(c,), running_var=(c,))


def cyclegan_resnet(ngf=8, blocks=9, norm=old_instance_keys) -> dict:
    """latest_net_G_A.pth of junyanz/pytorch-CycleGAN-and-pix2pix (ResnetGenerator, instance norm)."""
    s = {}
    conv_keys(s, "model.1", ngf, 3, 7)
    norm(s, "model.2", ngf)
    conv_keys(s, "model.4", ngf * 2, ngf, 3)
    norm(s, "model.5", ngf * 2)
    conv_keys(s, "model.7", ngf * 4, ngf * 2, 3)
    norm(s, "model.8", ngf * 4)
    for b in range(10, 10 + blocks):
        for c, n in ((1, 2), (5, 6)):
            conv_keys(s, f"model.{b}.conv_block.{c}", ngf * 4, ngf * 4, 3)
            norm(s, f"model.{b}.conv_block.{n}", ngf * 4)
    i = 10 + blocks
    conv_keys(s, f"model.{i}", ngf * 2, ngf * 4, 3, transposed=True)
    norm(s, f"model.{i + 1}", ngf * 2)
    conv_keys(s, f"model.{i + 3}", ngf, ngf * 2, 3, transposed=True)
    norm(s, f"model.{i + 4}", ngf)
    conv_keys(s, f"model.{i + 7}", 3, ngf, 7)
    return s


def pix2pix_unet(ngf=4, downs=8) -> dict:
    """latest_net_G.pth of a pix2pix unet_256 (batch norm): nested ``model.model.1.model. ...`` blocks."""
    s, p = {}, "model.model"
    conv_keys(s, f"{p}.0", ngf, 3, 4, bias=False)
    conv_keys(s, f"{p}.3", 3, ngf * 2, 4, transposed=True)
    widths = [(ngf, ngf * 2), (ngf * 2, ngf * 4), (ngf * 4, ngf * 8)] + [(ngf * 8, ngf * 8)] * (downs - 4)
    for j, (outer, inner) in enumerate(widths):
        p += ".1.model" if j == 0 else ".3.model"  # the submodule sits after (down,) or (LeakyReLU, down, norm)
        conv_keys(s, f"{p}.1", inner, outer, 4, bias=False)
        if j == len(widths) - 1:  # innermost: LeakyReLU, down, ReLU, up, norm
            conv_keys(s, f"{p}.3", outer, inner, 4, bias=False, transposed=True)
            bn_keys(s, f"{p}.4", outer, step=False)  # saved before PyTorch 0.4.1: no step counters
        else:
            bn_keys(s, f"{p}.2", inner, step=False)
            conv_keys(s, f"{p}.5", outer, inner * 2, 4, bias=False, transposed=True)
            bn_keys(s, f"{p}.6", outer, step=False)
    return s


def loads_exactly(net: nn.Module, state: dict, rename=lambda k: k) -> None:
    own = net.state_dict()
    for key, value in state.items():
        if key.endswith(("running_mean", "running_var")) and rename(key) not in own:
            continue  # dropped pre-0.4 instance-norm statistics
        assert torch.equal(own[rename(key)], value), key


def test_cyclegan_checkpoint_with_pre_0_4_instance_norm_statistics_loads():
    state = cyclegan_resnet()
    net = pix2pix.network_from_state_dict(state)
    assert isinstance(net, pix2pix.ResnetGenerator) and sum(isinstance(m, pix2pix.ResnetBlock) for m in net.model) == 9
    assert not net.model[2].affine and net.model[2].running_mean is None
    loads_exactly(net, state)
    affine = pix2pix.network_from_state_dict(cyclegan_resnet(blocks=6, norm=lambda s, p, c: add(s, p, weight=(c,), bias=(c,))))
    assert affine.model[2].affine and sum(isinstance(m, pix2pix.ResnetBlock) for m in affine.model) == 6
    dropout = cyclegan_resnet(blocks=2, norm=lambda s, p, c: None)
    dropout = {k.replace("conv_block.5", "conv_block.6"): v for k, v in dropout.items()}  # Dropout at index 4
    assert any(isinstance(m, nn.Dropout) for m in pix2pix.network_from_state_dict(dropout).modules())


def test_pix2pix_unet_checkpoint_loads():
    state = pix2pix_unet()
    net = pix2pix.network_from_state_dict(state)
    assert isinstance(net, pix2pix.UnetGenerator) and net.size_multiple == 256
    loads_exactly(net, state)
    assert isinstance(pix2pix.network_from_state_dict(pix2pix_unet(downs=7)), pix2pix.UnetGenerator)
    assert pix2pix.network_from_state_dict(pix2pix_unet(downs=7)).size_multiple == 128


def test_pix2pix_discriminator_checkpoints_load():
    s = {}
    conv_keys(s, "model.0", 8, 6, 4)
    for i, (a, b) in zip((2, 5, 8), ((8, 16), (16, 32), (32, 64))):
        conv_keys(s, f"model.{i}", b, a, 4, bias=False)
        bn_keys(s, f"model.{i + 1}", b)
    conv_keys(s, "model.11", 1, 64, 4)
    d = pix2pix.network_from_state_dict(s)
    assert isinstance(d, pix2pix.NLayerDiscriminator) and receptive_field(d, 160) == 70
    loads_exactly(d, s)
    p = {}
    conv_keys(p, "net.0", 8, 6, 1)
    conv_keys(p, "net.2", 16, 8, 1, bias=False)
    bn_keys(p, "net.3", 16)
    conv_keys(p, "net.5", 1, 16, 1, bias=False)
    loads_exactly(pix2pix.network_from_state_dict(p), p)
    with pytest.raises(WeightsError, match="not a pix2pix / CycleGAN checkpoint"):
        pix2pix.network_from_state_dict({"foo.weight": torch.zeros(1)})


def hd_global(cin=5, ngf=4, downs=4, blocks=2, final=True) -> dict:
    """pix2pixHD GlobalGenerator (convs with biases, instance norm without parameters)."""
    s = {}
    conv_keys(s, "model.1", ngf, cin, 7)
    i = 4
    for d in range(downs):
        conv_keys(s, f"model.{i}", ngf * 2 ** (d + 1), ngf * 2 ** d, 3)
        i += 3
    for _ in range(blocks):
        conv_keys(s, f"model.{i}.conv_block.1", ngf * 2 ** downs, ngf * 2 ** downs, 3)
        conv_keys(s, f"model.{i}.conv_block.5", ngf * 2 ** downs, ngf * 2 ** downs, 3)
        i += 1
    for d in range(downs):
        c = ngf * 2 ** (downs - d)
        conv_keys(s, f"model.{i}", c // 2, c, 3, transposed=True)
        i += 3
    if final:
        conv_keys(s, f"model.{i + 1}", 3, ngf, 7)
    return s


def test_pix2pixhd_checkpoints_load():
    state = hd_global()
    g = pix2pixhd.network_from_state_dict(state)
    assert isinstance(g, pix2pix.ResnetGenerator) and g.size_multiple == 16 and g.in_channels == 5
    loads_exactly(g, state)

    local = hd_global(ngf=8, final=False)  # the 1024p model: global part at 2 ngf without its output layers
    conv_keys(local, "model1_1.1", 4, 5, 7)
    conv_keys(local, "model1_1.4", 8, 4, 3)
    for b in range(3):
        conv_keys(local, f"model1_2.{b}.conv_block.1", 8, 8, 3)
        conv_keys(local, f"model1_2.{b}.conv_block.5", 8, 8, 3)
    conv_keys(local, "model1_2.3", 4, 8, 3, transposed=True)
    conv_keys(local, "model1_2.7", 3, 4, 7)
    net = pix2pixhd.network_from_state_dict(local)
    assert isinstance(net, pix2pixhd.LocalEnhancer) and net.size_multiple == 32
    loads_exactly(net, local)

    d = {}
    for i in range(2):
        for j, (a, b) in enumerate(((7, 4), (4, 8), (8, 16), (16, 32), (32, 1))):
            conv_keys(d, f"scale{i}_layer{j}.0", b, a, 4)
    disc = pix2pixhd.network_from_state_dict(d)
    loads_exactly(disc, d)
    # Saved without feature matching: one Sequential per scale, conv positions 0, 2, 5, 8, 11.
    flat = {k.replace(f"scale{i}_layer{j}.0", f"layer{i}.{[0, 2, 5, 8, 11][j]}"): v for k, v in d.items()
            for i in range(2) for j in range(5) if k.startswith(f"scale{i}_layer{j}.")}
    assert len(flat) == len(d)
    loads_exactly(pix2pixhd.network_from_state_dict(flat), d)

    # Scale 1 sees the full-size input (the reference's order); check against plain torch ops.
    x = torch.randn(1, 7, 48, 48)

    def plain(scale: int, h: torch.Tensor) -> torch.Tensor:
        for j in range(5):
            w, b = d[f"scale{scale}_layer{j}.0.weight"], d[f"scale{scale}_layer{j}.0.bias"]
            h = F.conv2d(h, w, b, stride=2 if j < 3 else 1, padding=2)
            if 0 < j < 4:
                h = F.instance_norm(h)
            if j < 4:
                h = F.leaky_relu(h, 0.2)
        return h

    out = disc(x)
    assert torch.allclose(out[0][-1], plain(1, x), atol=1e-5)
    assert torch.allclose(out[1][-1], plain(0, F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)), atol=1e-5)


def test_pix2pixhd_encoder_averages_features_per_instance():
    enc = pix2pixhd.FeatureEncoder(ngf=4, n_downsampling=2)
    inst = torch.zeros(2, 1, 16, 16)
    inst[0, :, :, 8:] = 26001  # a Cityscapes instance id
    inst[1, :, 4:] = 7
    x = torch.randn(2, 3, 16, 16)
    out, raw = enc(x, inst), enc.model(x)
    for b, region in ((0, (slice(None), slice(0, 8))), (0, (slice(None), slice(8, None))),
                      (1, (slice(0, 4), slice(None))), (1, (slice(4, None), slice(None)))):
        block = out[b][(slice(None), *region)]
        mean = raw[b][(slice(None), *region)].mean((1, 2))
        assert torch.allclose(block, mean[:, None, None].expand_as(block), atol=1e-6)
    assert not torch.allclose(out[0, :, 0, 0], out[0, :, 0, 8])


def sn_conv_keys(state, prefix, cout, cin, k, bias=True):
    """torch.nn.utils.spectral_norm (PyTorch >= 1.1): weight_orig, weight_u, weight_v."""
    add(state, prefix, weight_orig=(cout, cin, k, k), weight_u=(cout,), weight_v=(cin * k * k,),
        **({"bias": (cout,)} if bias else {}))


def spade_norm_keys(state, prefix, c, labels):
    add(state, f"{prefix}.param_free_norm", running_mean=(c,), running_var=(c,), num_batches_tracked=())
    conv_keys(state, f"{prefix}.mlp_shared.0", 128, labels, 3)
    conv_keys(state, f"{prefix}.mlp_gamma", c, 128, 3)
    conv_keys(state, f"{prefix}.mlp_beta", c, 128, 3)


def spade_generator(nf=2, labels=5) -> dict:
    s = {}
    conv_keys(s, "fc", 16 * nf, labels, 3)
    blocks = [("head_0", 16, 16), ("G_middle_0", 16, 16), ("G_middle_1", 16, 16), ("up_0", 16, 8), ("up_1", 8, 4),
              ("up_2", 4, 2), ("up_3", 2, 1)]
    for name, fin, fout in blocks:
        fin, fout = fin * nf, fout * nf
        mid = min(fin, fout)
        sn_conv_keys(s, f"{name}.conv_0", mid, fin, 3)
        sn_conv_keys(s, f"{name}.conv_1", fout, mid, 3)
        spade_norm_keys(s, f"{name}.norm_0", fin, labels)
        spade_norm_keys(s, f"{name}.norm_1", mid, labels)
        if fin != fout:
            sn_conv_keys(s, f"{name}.conv_s", fout, fin, 1, bias=False)
            spade_norm_keys(s, f"{name}.norm_s", fin, labels)
    conv_keys(s, "conv_img", 3, nf, 3)
    return s


def spade_key(k: str) -> str:
    return (k.replace(".weight_orig", ".parametrizations.weight.original")
            .replace(".weight_u", ".parametrizations.weight.0._u").replace(".weight_v", ".parametrizations.weight.0._v"))


def test_spade_checkpoints_load():
    g_state = spade_generator()
    g = spade.network_from_state_dict(g_state)
    assert isinstance(g, spade.SPADEGenerator) and g.label_nc == 5 and g.ngf == 2 and not g.use_vae
    loads_exactly(g, g_state, spade_key)
    seg = F.one_hot(torch.randint(0, 5, (1, 64, 64)), 5).permute(0, 3, 1, 2).float()
    assert g.eval()(seg).shape == (1, 3, 64, 64)

    vae = {k: v for k, v in spade_generator().items() if not k.startswith("fc.")}
    add(vae, "fc", weight=(16 * 2 * 8 * 8, 256), bias=(16 * 2 * 8 * 8,))
    g = spade.network_from_state_dict(vae)
    assert g.use_vae and (g.sh, g.sw) == (8, 8) and g.eval()(seg).shape == (1, 3, 256, 256)

    d = {}
    for i in range(2):
        conv_keys(d, f"discriminator_{i}.model0.0", 4, 8, 4)
        for n, (a, b) in enumerate(((4, 8), (8, 16), (16, 32)), 1):
            sn_conv_keys(d, f"discriminator_{i}.model{n}.0.0", b, a, 4, bias=False)
        conv_keys(d, f"discriminator_{i}.model4.0", 1, 32, 4)
    disc = spade.network_from_state_dict(d)
    assert isinstance(disc, spade.SPADEDiscriminator)
    loads_exactly(disc, d, spade_key)

    e = {}
    for i, (a, b) in enumerate(((3, 2), (2, 4), (4, 8), (8, 16), (16, 16), (16, 16)), 1):
        sn_conv_keys(e, f"layer{i}.0", b, a, 3, bias=False)
    add(e, "fc_mu", weight=(256, 16 * 16), bias=(256,))
    add(e, "fc_var", weight=(256, 16 * 16), bias=(256,))
    enc = spade.network_from_state_dict(e)
    loads_exactly(enc, e, spade_key)
    mu, logvar = enc.eval()(torch.randn(1, 3, 100, 100))
    assert mu.shape == logvar.shape == (1, 256)


def test_spectral_norm_keys_give_the_reference_weights():
    """A conv saved with torch.nn.utils.spectral_norm computes the same in eval mode once its keys are mapped onto
    the parametrization; and a PyTorch 1.0 file (a ``weight`` buffer, no ``weight_v``) gets a v that reproduces it."""
    torch.manual_seed(0)
    old = torch.nn.utils.spectral_norm(nn.Conv2d(4, 6, 3))
    for _ in range(3):
        old(torch.randn(1, 4, 8, 8))  # power iterations update u and v
    old.eval()
    x = torch.randn(2, 4, 8, 8)
    expected = old(x)
    new = torch.nn.utils.parametrizations.spectral_norm(nn.Conv2d(4, 6, 3)).eval()
    new.load_state_dict(spade.convert_spectral_keys(old.state_dict()))
    assert torch.allclose(new(x), expected, atol=1e-6)

    saved_1_0 = {k: v for k, v in old.state_dict().items() if k != "weight_v"}
    saved_1_0["weight"] = old.weight.detach().clone()  # the normalised weight PyTorch 1.0 kept as a buffer
    again = torch.nn.utils.parametrizations.spectral_norm(nn.Conv2d(4, 6, 3)).eval()
    again.load_state_dict(spade.convert_spectral_keys(saved_1_0))
    assert torch.allclose(again(x), expected, atol=1e-5)


def test_discogan_and_dtn_shapes():
    g, d = discogan.DiscoGANGenerator(), discogan.DiscoGANDiscriminator()
    x = torch.rand(2, 3, 64, 64)
    y = g.eval()(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1  # sigmoid output, as the reference
    (features,) = d(y)
    assert [f.shape[1] for f in features] == [128, 256, 512, 1] and features[-1].shape == (2, 1, 1, 1)
    assert discogan.DiscoGANGenerator(extra_layers=True).eval()(x).shape == x.shape
    f, gen, disc = discogan.DTNEncoder().eval(), discogan.DTNGenerator().eval(), discogan.DTNDiscriminator().eval()
    svhn, mnist = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 1, 32, 32) * 2 - 1
    assert f(svhn).shape == f(mnist).shape == (3, 128, 1, 1)
    assert gen(f(svhn)).shape == (3, 1, 32, 32) and disc(gen(f(svhn))).shape == (3, 1)
    assert f.classify(svhn).shape == (3, 10)
