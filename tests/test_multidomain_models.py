"""MUNIT/UNIT, StarGAN, StarGAN v2 and U-GAT-IT networks: parameter counts counted by hand from the reference
definitions (NVlabs/MUNIT networks.py with configs/edges2shoes_folder.yaml; yunjey/stargan model.py at its CelebA
defaults; clovaai/stargan-v2 core/model.py at its defaults; znxlwm/UGATIT-pytorch networks.py at main.py's
defaults), AdaLIN/LIN and CAM against hand-computed values, rho clipping, style-code swapping, domain-label
conditioning, and the released-checkpoint loaders on state dicts whose keys and shapes are written out here from
the reference code (not from pixforge's modules)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pixforge.errors import WeightsError
from pixforge.models import munit, parameter_count, stargan, stargan2, ugatit
from pixforge.nn.norms import LIN, AdaLIN, clip_rho_
from pixforge.registry import ARCHS

pytestmark = pytest.mark.usefixtures("one_thread")


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def lin(cin: int, cout: int, bias: bool = True) -> int:
    return cin * cout + (cout if bias else 0)


# ------------------------------------------------------------------------------------------------ counts
def munit_generator(c=3, dim=64, style=8, down=2, res=4, mlp=256, adain=True) -> int:
    w = dim * 2 ** down
    content = conv(c, dim, 7) + sum(conv(dim * 2 ** i, dim * 2 ** (i + 1), 4) for i in range(down)) \
        + res * 2 * conv(w, w, 3)
    decoder = res * 2 * conv(w, w, 3) + sum(conv(w // 2 ** i, w // 2 ** (i + 1), 5) + 2 * (w // 2 ** (i + 1))
                                            for i in range(down)) + conv(dim, c, 7)
    if not adain:  # UNIT's VAEGen: the same encoder and decoder, instance norm without parameters
        return content + decoder
    style_enc = conv(c, dim, 7) + conv(dim, 2 * dim, 4) + conv(2 * dim, 4 * dim, 4) + 2 * conv(4 * dim, 4 * dim, 4) \
        + conv(4 * dim, style, 1)
    return style_enc + content + decoder + lin(style, mlp) + lin(mlp, mlp) + lin(mlp, 2 * 2 * res * w)


def munit_discriminator(c=3, dim=64, layers=4, scales=3) -> int:
    widths = [dim * 2 ** i for i in range(layers)]
    return scales * (conv(c, dim, 4) + sum(conv(a, b, 4) for a, b in zip(widths, widths[1:])) + conv(widths[-1], 1, 1))


def stargan_generator(c_dim=5, dim=64, blocks=6) -> int:
    return (conv(3 + c_dim, dim, 7, False) + 2 * dim + conv(dim, 2 * dim, 4, False) + 4 * dim
            + conv(2 * dim, 4 * dim, 4, False) + 8 * dim + blocks * 2 * (conv(4 * dim, 4 * dim, 3, False) + 8 * dim)
            + conv(4 * dim, 2 * dim, 4, False) + 4 * dim + conv(2 * dim, dim, 4, False) + 2 * dim
            + conv(dim, 3, 7, False))


def stargan_discriminator(size=128, dim=64, c_dim=5, layers=6) -> int:
    widths = [dim * 2 ** i for i in range(layers)]
    return (conv(3, dim, 4) + sum(conv(a, b, 4) for a, b in zip(widths, widths[1:])) + conv(widths[-1], 1, 3, False)
            + conv(widths[-1], c_dim, size // 2 ** layers, False))


def resblk(a: int, b: int, norm: bool) -> int:
    return conv(a, a, 3) + conv(a, b, 3) + (4 * a if norm else 0) + (a * b if a != b else 0)


def adain_resblk(a: int, b: int, style: int = 64) -> int:
    return conv(a, b, 3) + conv(b, b, 3) + lin(style, 2 * a) + lin(style, 2 * b) + (a * b if a != b else 0)


def stargan2_widths(levels: int, dim: int = 64, top: int = 512) -> list[int]:
    widths = [dim]
    for _ in range(levels):
        widths.append(min(widths[-1] * 2, top))
    return widths


def stargan2_generator() -> int:
    w = stargan2_widths(5)  # 256 px, w_hpf 1: log2(256) - 4 + 1 levels
    pairs = list(zip(w, w[1:]))
    return (conv(3, 64, 3) + sum(resblk(a, b, True) for a, b in pairs) + 2 * resblk(512, 512, True)
            + sum(adain_resblk(b, a) for a, b in pairs) + 2 * adain_resblk(512, 512) + 2 * 64 + conv(64, 3, 1))


def stargan2_trunk() -> int:
    w = stargan2_widths(6)  # log2(256) - 2 down-sampling blocks to 4x4
    return conv(3, 64, 3) + sum(resblk(a, b, False) for a, b in zip(w, w[1:])) + conv(512, 512, 4)


def ugatit_generator(ngf=64, blocks=4, size=256, light=False) -> int:
    c = 4 * ngf
    fc_in = c if light else (size // 4) ** 2 * c
    return (conv(3, ngf, 7, False) + conv(ngf, 2 * ngf, 3, False) + conv(2 * ngf, c, 3, False)
            + blocks * 2 * conv(c, c, 3, False) + 2 * c + conv(2 * c, c, 1) + lin(fc_in, c, False)
            + 3 * lin(c, c, False) + blocks * (2 * conv(c, c, 3, False) + 2 * c)
            + conv(c, c // 2, 3, False) + 3 * c // 2 + conv(c // 2, ngf, 3, False) + 3 * ngf + conv(ngf, 3, 7, False))


def ugatit_discriminator(ndf=64, layers=5) -> int:
    widths = [ndf * 2 ** i for i in range(layers - 1)]
    w = widths[-1]
    return conv(3, ndf, 4) + sum(conv(a, b, 4) for a, b in zip(widths, widths[1:])) + 2 * w + conv(2 * w, w, 1) \
        + conv(w, 1, 4, False)


@pytest.mark.parametrize("name, kwargs, expected, published", [
    ("munit-generator", {}, munit_generator(), 15_026_187),
    ("munit-discriminator", {}, munit_discriminator(), 8_271_171),
    ("unit-generator", {}, munit_generator(adain=False), 11_140_483),
    ("stargan-generator", {}, stargan_generator(), 8_430_528),            # StarGAN's solver prints these two
    ("stargan-discriminator", {}, stargan_discriminator(), 44_762_048),
    ("stargan2-generator", {}, stargan2_generator(), 43_467_395),         # StarGAN v2's solver prints these four
    ("stargan2-mapping", {}, lin(16, 512) + 3 * lin(512, 512) + 2 * (3 * lin(512, 512) + lin(512, 64)), 2_438_272),
    ("stargan2-style-encoder", {}, stargan2_trunk() + 2 * lin(512, 64), 20_916_928),
    ("stargan2-discriminator", {}, stargan2_trunk() + conv(512, 2, 1), 20_852_290),
    ("ugatit-generator", {}, ugatit_generator(), 278_959_808),
    ("ugatit-generator-light", {}, ugatit_generator(light=True), 10_589_888),
    ("ugatit-discriminator-global", {}, ugatit_discriminator(layers=7), 53_130_176),
    ("ugatit-discriminator-local", {}, ugatit_discriminator(layers=5), 3_290_560),
])
def test_parameter_counts_match_the_reference_definitions(name, kwargs, expected, published):
    with torch.device("meta"):
        net = ARCHS.create(name, **kwargs)
    assert ARCHS.meta(name)["family"] == "translation"
    assert parameter_count(net) == expected == published


def test_shapes_at_the_reference_sizes():
    with torch.device("meta"):
        d = ARCHS.create("munit-discriminator")
        assert [tuple(o.shape) for o in d(torch.empty(2, 3, 256, 256))] == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 4, 4)]
        src, cls = ARCHS.create("stargan-discriminator")(torch.empty(2, 3, 128, 128))
        assert src.shape == (2, 1, 2, 2) and cls.shape == (2, 5)
        out, cam, heat = ARCHS.create("ugatit-discriminator-local")(torch.empty(1, 3, 256, 256))
        assert out.shape == (1, 1, 30, 30) and cam.shape == (1, 2) and heat.shape == (1, 1, 31, 31)


# ------------------------------------------------------------------------------------------------ layers
def test_adalin_and_lin_against_hand_computed_values():
    # x: one sample, 2 channels of 2 pixels: channel 0 = (1, 3), channel 1 = (0, 4)
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 4.0]]]])
    inst = torch.tensor([[[[-1, 1]], [[-1, 1]]]]) / math.sqrt(2)  # unbiased var 2 and 8
    layer = (x - 2) / math.sqrt(10 / 3)  # mean 2, unbiased var (1 + 1 + 4 + 4) / 3
    norm = AdaLIN(2, eps=0)
    gamma, beta = torch.tensor([[2.0, 0.5]]), torch.tensor([[0.0, 1.0]])
    expected = (0.9 * inst + 0.1 * layer) * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(norm(x, gamma, beta), expected, atol=1e-6)
    lin_norm = LIN(2, eps=0)  # rho 0: layer norm, gamma 1, beta 0
    assert lin_norm.rho.flatten().tolist() == [0, 0] and lin_norm.gamma.shape == (1, 2, 1, 1)
    assert torch.allclose(lin_norm(x), layer, atol=1e-6)


def test_rho_is_clipped_to_the_unit_interval():
    g = ugatit.ResnetGenerator(3, 3, 4, 1, 16, light=True)
    norms = [m for m in g.modules() if isinstance(m, AdaLIN)]
    assert len(norms) == 2 + 2  # two AdaLIN per block, two LIN in the upsampling
    assert all(torch.all(m.rho == (0.0 if isinstance(m, LIN) else 0.9)) for m in norms)
    with torch.no_grad():
        norms[0].rho.fill_(1.7)
        norms[-1].rho.fill_(-0.4)
    clip_rho_(g)
    assert torch.all(norms[0].rho == 1) and torch.all(norms[-1].rho == 0)


def test_class_activation_map_against_hand_computed_values():
    x = torch.tensor([[[[1.0, 3.0]], [[-2.0, 2.0]]]])  # (1, 2, 1, 2)
    gap_fc, gmp_fc = torch.nn.Linear(2, 1, bias=False), torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        gap_fc.weight.copy_(torch.tensor([[0.5, -1.0]]))
        gmp_fc.weight.copy_(torch.tensor([[2.0, 1.0]]))
    features, logits = ugatit.class_activation(x, gap_fc, gmp_fc)
    # means (2, 0), maxima (3, 2)
    assert logits.tolist() == [[0.5 * 2 - 1.0 * 0, 2.0 * 3 + 1.0 * 2]]
    assert features.tolist() == [[[[0.5, 1.5]], [[2.0, -2.0]], [[2.0, 6.0]], [[-2.0, 2.0]]]]
    # under spectral norm the logits use the normalised weight, the features the stored one (as the reference)
    sn = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(2, 1, bias=False)).eval()
    raw = sn.parametrizations.weight.original.detach()
    feats, logit = ugatit.class_activation(x, sn, sn)
    assert torch.allclose(feats[:, :2], x * raw[0][:, None, None])
    assert torch.allclose(logit[0, 0], (sn.weight @ x.mean((2, 3))[0]).squeeze(), atol=1e-6)


def test_ugatit_generator_outputs_logits_and_heatmap():
    g = ugatit.ResnetGenerator(3, 3, 4, 2, 16)
    out, cam, heat = g(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert out.shape == (2, 3, 16, 16) and out.abs().max() <= 1 and cam.shape == (2, 2) and heat.shape == (2, 1, 4, 4)
    with pytest.raises(RuntimeError):
        g(torch.zeros(1, 3, 20, 20))  # the full model's FC reads exactly img_size inputs


def test_munit_adain_parameters_are_assigned_in_the_reference_order():
    gen = munit.AdaINGen(1, dim=4, style_dim=3, n_downsample=1, n_res=2, mlp_dim=8)
    style = torch.randn(2, 3, 1, 1)
    params = gen.mlp(style)
    seen = []
    for m in gen.dec.modules():
        if isinstance(m, munit.AdaptiveInstanceNorm2d):
            # clone: the block's in-place ReLU overwrites the output after the hook
            m.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out.clone())))
    gen.decode(gen.enc_content(torch.randn(2, 1, 8, 8)), style)
    # the reference walks the AdaIN layers in module order, each taking (mean, std) = the next 2C values
    assert len(seen) == 4
    offset = 0
    for x, out in seen:
        c = x.shape[1]
        mean, std = params[:, offset:offset + c], params[:, offset + c:offset + 2 * c]
        offset += 2 * c
        xhat = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
        assert torch.allclose(out, xhat * std[:, :, None, None] + mean[:, :, None, None], atol=1e-5)
    assert offset == params.shape[1]


def test_munit_style_codes_swap():
    torch.manual_seed(0)
    gen = munit.AdaINGen(3, dim=4, style_dim=8, n_downsample=2, n_res=1, mlp_dim=16).eval()
    x1, x2 = torch.rand(2, 1, 3, 16, 16) * 2 - 1
    (c1, s1), (_, s2) = gen.encode(x1), gen.encode(x2)
    assert s1.shape == (1, 8, 1, 1) and c1.shape == (1, 16, 4, 4)
    assert torch.equal(gen.decode(c1, s1), gen(x1))
    swapped = gen.decode(c1, s2)
    assert not torch.allclose(swapped, gen.decode(c1, s1))
    assert torch.allclose(swapped, gen.dec(c1, gen.mlp(s2)))
    assert torch.allclose(gen.decode(c1, s2.flatten(1)), swapped)  # (N, D) codes as well


def test_munit_layer_norm_is_the_references():
    ln = munit.LayerNorm(2)
    x = torch.randn(3, 2, 4, 4)
    flat = x.flatten(1)
    expected = (x - flat.mean(1)[:, None, None, None]) / (flat.std(1)[:, None, None, None] + 1e-5)
    assert torch.allclose(ln(x), expected * ln.gamma[None, :, None, None] + ln.beta[None, :, None, None], atol=1e-6)


def test_stargan_generator_sees_the_tiled_domain_label():
    g = stargan.Generator(conv_dim=4, c_dim=3, repeat_num=1).eval()
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    c = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    seen = []
    g.main[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    out = g(x, c)
    assert seen[0].shape == (2, 6, 8, 8) and torch.equal(seen[0][:, :3], x)
    assert torch.equal(seen[0][:, 3:], c[:, :, None, None].expand(-1, -1, 8, 8))
    assert not torch.allclose(out, g(x, c.flip(0)))
    # instance statistics in eval mode too (the reference's test runs in training mode), buffers untouched
    before = g.main[1].running_mean.clone()
    assert torch.allclose(g.eval()(x, c), g.train()(x, c), atol=1e-6)
    g.eval()(x, c)
    assert not torch.equal(g.main[1].running_mean, before)  # updated by the training-mode call only
    kept = g.main[1].running_mean.clone()
    g.eval()(x, c)
    assert torch.equal(g.main[1].running_mean, kept)


def test_stargan2_domain_heads_follow_the_label():
    f = stargan2.MappingNetwork(latent_dim=4, style_dim=3, num_domains=3, hidden=8)
    e = stargan2.StyleEncoder(16, style_dim=3, num_domains=3, max_conv_dim=8, dim_in=4)
    d = stargan2.Discriminator(16, num_domains=3, max_conv_dim=8, dim_in=4)
    z, x, y = torch.randn(4, 4), torch.randn(4, 3, 16, 16), torch.tensor([2, 0, 1, 2])
    for net, inp in ((f, z), (e, x), (d, x)):
        every = net(inp)
        assert every.shape[:2] == (4, 3)
        assert torch.equal(net(inp, y), every[torch.arange(4), y])
    h = f.shared(z)
    assert torch.allclose(f(z, y)[1], f.unshared[0](h)[1])
    g = stargan2.Generator(16, style_dim=3, max_conv_dim=8, w_hpf=0, dim_in=4)
    s = f(z, y)
    assert g(x, s).shape == x.shape and not torch.allclose(g(x, s), g(x, s.roll(1, 0)))


# ------------------------------------------------------------------------------------------------ loaders
def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def munit_block(prefix: str, cin: int, cout: int, k: int, norm: str = "none") -> dict[str, torch.Tensor]:
    """NVlabs/MUNIT's Conv2dBlock: ``conv``, and the norm's tensors (InstanceNorm2d(track_running_stats=True),
    AdaptiveInstanceNorm2d's dummy buffers, LayerNorm's gamma/beta)."""
    s = {f"{prefix}.conv.weight": randn(cout, cin, k, k), f"{prefix}.conv.bias": randn(cout)}
    if norm in ("in", "adain"):
        s[f"{prefix}.norm.running_mean"], s[f"{prefix}.norm.running_var"] = torch.zeros(cout), torch.ones(cout)
    if norm == "in":
        s[f"{prefix}.norm.num_batches_tracked"] = torch.tensor(7)
    if norm == "ln":
        s[f"{prefix}.norm.gamma"], s[f"{prefix}.norm.beta"] = torch.rand(cout), randn(cout)
    return s


def munit_gen_state(c=3, dim=8, style=8, down=2, res=2, mlp=16, unit=False) -> dict[str, torch.Tensor]:
    """AdaINGen's (or VAEGen's) state dict, written from NVlabs/MUNIT networks.py."""
    enc = "enc" if unit else "enc_content"
    s = munit_block(f"{enc}.model.0", c, dim, 7, "in")
    for i in range(down):
        s.update(munit_block(f"{enc}.model.{i + 1}", dim * 2 ** i, dim * 2 ** (i + 1), 4, "in"))
    w = dim * 2 ** down
    for b in range(res):
        for j in (0, 1):
            s.update(munit_block(f"{enc}.model.{down + 1}.model.{b}.model.{j}", w, w, 3, "in"))
            s.update(munit_block(f"dec.model.0.model.{b}.model.{j}", w, w, 3, "in" if unit else "adain"))
    for i in range(down):  # model.(2i+1) is the Upsample
        s.update(munit_block(f"dec.model.{2 * i + 2}", w // 2 ** i, w // 2 ** (i + 1), 5, "ln"))
    s.update(munit_block(f"dec.model.{2 * down + 1}", dim, c, 7))
    if not unit:
        s.update(munit_block("enc_style.model.0", c, dim, 7))
        for i, (a, b) in enumerate([(dim, 2 * dim), (2 * dim, 4 * dim), (4 * dim, 4 * dim), (4 * dim, 4 * dim)]):
            s.update(munit_block(f"enc_style.model.{i + 1}", a, b, 4))
        s["enc_style.model.6.weight"], s["enc_style.model.6.bias"] = randn(style, 4 * dim, 1, 1), randn(style)
        for i, (a, b) in enumerate([(style, mlp), (mlp, mlp), (mlp, 4 * res * w)]):
            s[f"mlp.model.{i}.fc.weight"], s[f"mlp.model.{i}.fc.bias"] = randn(b, a), randn(b)
    return s


def assert_loaded(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = net.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k].float(), state[k].float()) for k in state)


@pytest.mark.parametrize("unit", [False, True])
def test_load_munit_gen_checkpoint(tmp_path, unit):
    a, b = munit_gen_state(unit=unit), munit_gen_state(c=1, unit=unit)
    path = tmp_path / "gen_00010000.pt"
    torch.save({"a": a, "b": b}, path)
    nets = munit.load_munit(path)
    assert isinstance(nets["a"], munit.VAEGen if unit else munit.AdaINGen) and not nets["a"].training
    assert_loaded(nets["a"], a)
    assert_loaded(nets["b"], b)
    if not unit:
        c, s = nets["a"].encode(torch.zeros(1, 3, 16, 16))
        assert nets["b"].decode(c[:, :, :, :], torch.zeros(1, 8, 1, 1)).shape == (1, 1, 16, 16)
    old = {k: v for k, v in a.items() if not k.endswith("num_batches_tracked")}  # saved by PyTorch < 0.4
    munit.generator_from_state_dict(old)
    torch.save({"a": a}, path)
    with pytest.raises(WeightsError, match="gen_"):
        munit.load_munit(path)


def unique_count(*nets: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for n in nets for p in n.parameters()}.values())


def test_unit_weight_sharing_uses_the_same_modules():
    """share_unit_layers: gen_b's last n encoder and first n decoder residual blocks are gen_a's objects; the pair
    then holds 2n residual blocks (two 3x3 convs of width dim * 2^down each) fewer parameters."""
    torch.manual_seed(0)
    gen_a, gen_b = (munit.VAEGen(3, dim=4, n_downsample=1, n_res=3) for _ in "ab")
    munit.share_unit_layers(gen_a, gen_b, 2)
    enc_a, enc_b = gen_a.enc.model[-1].model, gen_b.enc.model[-1].model
    dec_a, dec_b = gen_a.dec.model[0].model, gen_b.dec.model[0].model
    assert [enc_a[i] is enc_b[i] for i in range(3)] == [False, True, True]  # the encoders' last (high-level) ones
    assert [dec_a[i] is dec_b[i] for i in range(3)] == [True, True, False]  # the decoders' first ones
    one = munit_generator(3, 4, down=1, res=3, adain=False)
    assert unique_count(gen_a) == unique_count(gen_b) == one
    assert unique_count(gen_a, gen_b) == 2 * one - 2 * 2 * 2 * conv(8, 8, 3) == 2 * one - 4672
    assert gen_a.state_dict().keys() == gen_b.state_dict().keys()  # each still loads alone
    munit.share_unit_layers(*(munit.VAEGen(3, dim=4, n_downsample=1, n_res=3) for _ in "ab"), 0)  # nothing shared
    with pytest.raises(ValueError, match="0..3"):
        munit.share_unit_layers(gen_a, gen_b, 4)
    # the discriminators: each scale's last n stride-2 blocks and the 1x1 output conv
    dis_a, dis_b = (munit.MsImageDis(3, dim=4, n_layer=3, num_scales=2) for _ in "ab")
    munit.share_dis_layers(dis_a, dis_b, 1)
    assert [[a is b for a, b in zip(ca, cb)] for ca, cb in zip(dis_a.cnns, dis_b.cnns)] == [[False, False, True, True]] * 2
    assert unique_count(dis_a, dis_b) == 2 * munit_discriminator(3, 4, 3, 2) - 2 * (conv(8, 16, 4) + conv(16, 1, 1))
    with pytest.raises(ValueError, match="0..2"):
        munit.share_dis_layers(dis_a, dis_b, 3)


def test_shared_blocks_get_one_gradient_from_both_domains():
    torch.manual_seed(0)
    gen_a, gen_b = (munit.VAEGen(3, dim=4, n_downsample=1, n_res=2) for _ in "ab")
    munit.share_unit_layers(gen_a, gen_b, 1)
    shared, own_b = gen_a.enc.model[-1].model[1].model[0].conv.weight, gen_b.enc.model[-1].model[0].model[0].conv.weight
    x_a, x_b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)

    def losses():
        return gen_a.dec(gen_a.enc(x_a)).square().mean(), gen_b.dec(gen_b.enc(x_b)).abs().mean()

    loss_a, loss_b = losses()
    g_a, g_b = torch.autograd.grad(loss_a, shared), torch.autograd.grad(loss_b, shared)[0]
    assert g_a[0].abs().sum() > 0 and g_b.abs().sum() > 0
    loss_a, loss_b = losses()
    (loss_a + loss_b).backward()
    assert torch.allclose(shared.grad, g_a[0] + g_b, atol=1e-7)  # both domains' losses reach the one tensor
    assert own_b.grad is not None and gen_a.enc.model[-1].model[0].model[0].conv.weight.grad is not None


def stargan_states(c_dim=5, dim=8, blocks=2, size=32, layers=3) -> tuple[dict, dict]:
    """``*-G.ckpt`` and ``*-D.ckpt`` state dicts, written from yunjey/stargan model.py."""
    def norm(p: str, ch: int) -> dict:
        return {f"{p}.weight": randn(ch), f"{p}.bias": randn(ch), f"{p}.running_mean": torch.zeros(ch),
                f"{p}.running_var": torch.ones(ch), f"{p}.num_batches_tracked": torch.tensor(0)}

    g = {"main.0.weight": randn(dim, 3 + c_dim, 7, 7), **norm("main.1", dim),
         "main.3.weight": randn(2 * dim, dim, 4, 4), **norm("main.4", 2 * dim),
         "main.6.weight": randn(4 * dim, 2 * dim, 4, 4), **norm("main.7", 4 * dim)}
    for i in range(blocks):
        p = f"main.{9 + i}.main"
        g.update({f"{p}.0.weight": randn(4 * dim, 4 * dim, 3, 3), **norm(f"{p}.1", 4 * dim),
                  f"{p}.3.weight": randn(4 * dim, 4 * dim, 3, 3), **norm(f"{p}.4", 4 * dim)})
    at = 9 + blocks
    g.update({f"main.{at}.weight": randn(4 * dim, 2 * dim, 4, 4), **norm(f"main.{at + 1}", 2 * dim),
              f"main.{at + 3}.weight": randn(2 * dim, dim, 4, 4), **norm(f"main.{at + 4}", dim),
              f"main.{at + 6}.weight": randn(3, dim, 7, 7)})
    d, width = {}, 3
    for i in range(layers):
        d[f"main.{2 * i}.weight"], d[f"main.{2 * i}.bias"] = randn(dim * 2 ** i, width, 4, 4), randn(dim * 2 ** i)
        width = dim * 2 ** i
    d["conv1.weight"] = randn(1, width, 3, 3)
    d["conv2.weight"] = randn(c_dim, width, size // 2 ** layers, size // 2 ** layers)
    return g, d


def test_load_stargan_checkpoints(tmp_path):
    g_state, d_state = stargan_states()
    torch.save(g_state, tmp_path / "200000-G.ckpt")
    torch.save(d_state, tmp_path / "200000-D.ckpt")
    g, d = stargan.load_stargan(tmp_path / "200000-G.ckpt"), stargan.load_stargan(tmp_path / "200000-D.ckpt")
    assert isinstance(g, stargan.Generator) and g.c_dim == 5 and isinstance(d, stargan.Discriminator)
    assert_loaded(g, g_state)
    assert_loaded(d, d_state)
    src, cls = d(g(torch.zeros(1, 3, 32, 32), torch.eye(5)[:1]))
    assert src.shape == (1, 1, 4, 4) and cls.shape == (1, 5)
    torch.save({"something": randn(2)}, tmp_path / "x.ckpt")
    with pytest.raises(WeightsError, match="not a StarGAN"):
        stargan.load_stargan(tmp_path / "x.ckpt")


def stargan2_resblk(p: str, a: int, b: int, norm: bool) -> dict:
    s = {f"{p}.conv1.weight": randn(a, a, 3, 3), f"{p}.conv1.bias": randn(a), f"{p}.conv2.weight": randn(b, a, 3, 3),
         f"{p}.conv2.bias": randn(b)}
    if norm:
        s.update({f"{p}.norm{i}.{t}": randn(a) for i in (1, 2) for t in ("weight", "bias")})
    if a != b:
        s[f"{p}.conv1x1.weight"] = randn(b, a, 1, 1)
    return s


def stargan2_states(img=64, style=64, latent=16, domains=3, w_hpf=0) -> dict[str, dict]:
    """The ``nets_ema`` dict, written from clovaai/stargan-v2 core/model.py (first width 2^14 / img_size)."""
    dim = 2 ** 14 // img
    levels = int(math.log2(img)) - 4 + (1 if w_hpf else 0)
    w = stargan2_widths(levels, dim)
    gen = {"from_rgb.weight": randn(dim, 3, 3, 3), "from_rgb.bias": randn(dim), "to_rgb.0.weight": randn(dim),
           "to_rgb.0.bias": randn(dim), "to_rgb.2.weight": randn(3, dim, 1, 1), "to_rgb.2.bias": randn(3)}
    blocks = list(zip(w, w[1:])) + [(w[-1], w[-1])] * 2
    for i, (a, b) in enumerate(blocks):
        gen.update(stargan2_resblk(f"encode.{i}", a, b, True))
    for i, (out, inp) in enumerate(reversed(blocks)):  # decode.0 is the last bottleneck, decode[-1] the top level
        p = f"decode.{i}"  # AdainResBlk(inp -> out) mirrors ResBlk(out -> inp)
        gen.update({f"{p}.conv1.weight": randn(out, inp, 3, 3), f"{p}.conv1.bias": randn(out),
                    f"{p}.conv2.weight": randn(out, out, 3, 3), f"{p}.conv2.bias": randn(out),
                    f"{p}.norm1.fc.weight": randn(2 * inp, style), f"{p}.norm1.fc.bias": randn(2 * inp),
                    f"{p}.norm2.fc.weight": randn(2 * out, style), f"{p}.norm2.fc.bias": randn(2 * out)})
        if out != inp:
            gen[f"{p}.conv1x1.weight"] = randn(out, inp, 1, 1)
    mapping = {}
    for i, (a, b) in enumerate([(latent, 512), (512, 512), (512, 512), (512, 512)]):
        mapping[f"shared.{2 * i}.weight"], mapping[f"shared.{2 * i}.bias"] = randn(b, a), randn(b)
    for d in range(domains):
        for i, b in enumerate([512, 512, 512, style]):
            mapping[f"unshared.{d}.{2 * i}.weight"], mapping[f"unshared.{d}.{2 * i}.bias"] = randn(b, 512), randn(b)
    t = stargan2_widths(int(math.log2(img)) - 2, dim)
    enc = {"shared.0.weight": randn(dim, 3, 3, 3), "shared.0.bias": randn(dim)}
    for i, (a, b) in enumerate(zip(t, t[1:])):
        enc.update(stargan2_resblk(f"shared.{i + 1}", a, b, False))
    last = len(t) + 1  # after the blocks: LeakyReLU, then the 4x4 conv
    enc[f"shared.{last}.weight"], enc[f"shared.{last}.bias"] = randn(t[-1], t[-1], 4, 4), randn(t[-1])
    for d in range(domains):
        enc[f"unshared.{d}.weight"], enc[f"unshared.{d}.bias"] = randn(style, t[-1]), randn(style)
    return {"generator": gen, "mapping_network": mapping, "style_encoder": enc}


@pytest.mark.parametrize("w_hpf, domains", [(0, 3), (1, 2)])  # AFHQ-like, CelebA-HQ-like
def test_load_stargan2_nets_ema(tmp_path, w_hpf, domains):
    states = stargan2_states(domains=domains, w_hpf=w_hpf)
    path = tmp_path / "100000_nets_ema.ckpt"
    torch.save({**states, "style_encoder": {f"module.{k}": v for k, v in states["style_encoder"].items()}}, path)
    nets = stargan2.load_nets(path)
    assert set(nets) == {"generator", "mapping_network", "style_encoder"}
    for name, net in nets.items():
        assert_loaded(net, states[name])
    g = nets["generator"]
    assert (g.decode[0].w_hpf > 0) == bool(w_hpf) and hasattr(g, "hpf") == bool(w_hpf)
    s = nets["style_encoder"](torch.zeros(2, 3, 64, 64), torch.tensor([0, domains - 1]))
    assert s.shape == (2, 64) and g(torch.zeros(2, 3, 16, 16), s).shape == (2, 3, 16, 16)  # fully convolutional
    torch.save({"generator": {"x": randn(1)}}, path)
    with pytest.raises(WeightsError, match="StarGAN v2"):
        stargan2.load_nets(path)


def sn_state(p: str, weight: torch.Tensor, bias: torch.Tensor | None = None) -> dict:
    """``torch.nn.utils.spectral_norm``'s keys: weight_orig, weight_u (out), weight_v (in * k * k)."""
    s = {f"{p}.weight_orig": weight, f"{p}.weight_u": F.normalize(randn(weight.shape[0]), dim=0),
         f"{p}.weight_v": F.normalize(randn(weight[0].numel()), dim=0)}
    return {**s, f"{p}.bias": bias} if bias is not None else s


def ugatit_states(ngf=8, blocks=2, size=32, light=False, ndf=8) -> dict[str, dict]:
    """``genA2B`` and ``disGA``/``disLA``, written from znxlwm/UGATIT-pytorch networks.py."""
    c = 4 * ngf
    g = {"DownBlock.1.weight": randn(ngf, 3, 7, 7), "DownBlock.5.weight": randn(2 * ngf, ngf, 3, 3),
         "DownBlock.9.weight": randn(c, 2 * ngf, 3, 3)}
    for i in range(blocks):
        g[f"DownBlock.{12 + i}.conv_block.1.weight"] = randn(c, c, 3, 3)
        g[f"DownBlock.{12 + i}.conv_block.5.weight"] = randn(c, c, 3, 3)
        g.update({f"UpBlock1_{i + 1}.conv{j}.weight": randn(c, c, 3, 3) for j in (1, 2)})
        g.update({f"UpBlock1_{i + 1}.norm{j}.rho": torch.rand(1, c, 1, 1) for j in (1, 2)})
    g.update({"gap_fc.weight": randn(1, c), "gmp_fc.weight": randn(1, c), "conv1x1.weight": randn(c, 2 * c, 1, 1),
              "conv1x1.bias": randn(c), "FC.0.weight": randn(c, c if light else (size // 4) ** 2 * c),
              "FC.2.weight": randn(c, c), "gamma.weight": randn(c, c), "beta.weight": randn(c, c),
              "UpBlock2.2.weight": randn(c // 2, c, 3, 3), "UpBlock2.7.weight": randn(ngf, c // 2, 3, 3),
              "UpBlock2.11.weight": randn(3, ngf, 7, 7)})
    for at, ch in ((3, c // 2), (8, ngf)):
        g.update({f"UpBlock2.{at}.rho": torch.rand(1, ch, 1, 1), f"UpBlock2.{at}.gamma": randn(1, ch, 1, 1),
                  f"UpBlock2.{at}.beta": randn(1, ch, 1, 1)})

    def disc(layers: int) -> dict:
        widths = [3] + [ndf * 2 ** i for i in range(layers - 1)]
        d = {}
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            d.update(sn_state(f"model.{3 * i + 1}", randn(b, a, 4, 4), randn(b)))
        w = widths[-1]
        d.update(sn_state("gap_fc", randn(1, w)))
        d.update(sn_state("gmp_fc", randn(1, w)))
        d.update({"conv1x1.weight": randn(w, 2 * w, 1, 1), "conv1x1.bias": randn(w)})
        d.update(sn_state("conv", randn(1, w, 4, 4)))
        return d

    return {"genA2B": g, "disGA": disc(5), "disLA": disc(3)}


@pytest.mark.parametrize("light", [False, True])
def test_load_ugatit_params(tmp_path, light):
    states = ugatit_states(light=light)
    path = tmp_path / "selfie2anime_params_0100000.pt"
    torch.save(states, path)
    nets = ugatit.load_ugatit(path)
    assert set(nets) == {"genA2B", "disGA", "disLA"}
    g = nets["genA2B"]
    assert g.light == light and g.n_blocks == 2 and (light or g.img_size == 32)
    assert_loaded(g, states["genA2B"])
    out, cam, heat = g(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and cam.shape == (1, 2)
    d = nets["disGA"]
    first = states["disGA"]
    w = first["model.1.weight_orig"]
    sigma = first["model.1.weight_u"] @ w.flatten(1) @ first["model.1.weight_v"]
    assert torch.allclose(d.model[1].weight, w / sigma, rtol=1e-4, atol=1e-5)  # the reference's normalised weight (eval)
    assert len([m for m in nets["disLA"].model if isinstance(m, torch.nn.Conv2d)]) == 2
    assert d(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1, 2, 2)
    torch.save({"genA2B": {"FC.0.weight": randn(1)}}, path)
    with pytest.raises(WeightsError, match="U-GAT-IT"):
        ugatit.load_ugatit(path)
