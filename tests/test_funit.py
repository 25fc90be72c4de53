"""FUNIT: the networks in the reference layout (parameter counts written out from its definitions), its in-place
shortcut, the class code of K shots, R1 and the losses of one step by hand, an exact resume, and K-shot
translation from a run and from a reference-layout checkpoint."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixforge.config import load_config
from pixforge.data.domains import Domains
from pixforge.errors import ConfigError
from pixforge.models import funit
from pixforge.multimodal import Funit, load_model, translate_guided
from pixforge.registry import TASKS
from pixforge.tasks.funit import r1, spatial_mean
from pixforge.train import run

from gan_fakes import resumes_exactly

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"nf": 4, "n_res_blks": 1, "nf_mlp": 8, "latent_dim": 4, "n_downs_content": 2, "n_downs_class": 2,
        "dis_nf": 4, "dis_res_blks": 4, "batch_size": 3}


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def conv(i: int, o: int, k: int, bias: bool = True) -> int:
    return i * o * k * k + (o if bias else 0)


def test_parameter_counts_of_the_animal_faces_networks():
    class_encoder = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 2 * conv(256, 256, 4) + conv(256, 64, 1)
    content = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + conv(256, 512, 4) + 4 * conv(512, 512, 3)
    decoder = 4 * conv(512, 512, 3) + conv(512, 256, 5) + conv(256, 128, 5) + conv(128, 64, 5) + conv(64, 3, 7)
    mlp = 64 * 256 + 256 + 256 * 256 + 256 + 256 * 4096 + 4096  # 4 AdaIN layers x 512 channels x (shift, scale)
    assert count(funit.FewShotGen()) == class_encoder + content + decoder + mlp == 29_866_435
    stages = sum(2 * conv(w, w, 3) + conv(w, w, 3) + conv(w, 2 * w, 3) + conv(w, 2 * w, 1, bias=False)
                 for w in (64, 128, 256, 512))
    dis = conv(3, 64, 7) + stages + 4 * conv(1024, 1024, 3) + conv(1024, 119, 1)
    assert count(funit.GPPatchMcResDis()) == dis == 54_252_599


def test_act_first_block_and_class_maps():
    torch.manual_seed(0)
    block = funit.ActFirstResBlock(3, 3)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        out = block(x.clone())
        inner = block.conv_1(block.conv_0(x.clone()))
    # the in-place LeakyReLU of conv_0 rewrites the input, so the identity shortcut is LeakyReLU(x), as in FUNIT
    assert torch.allclose(out, F.leaky_relu(x, 0.2) + inner, atol=1e-6)
    wide = funit.ActFirstResBlock(3, 5)
    with torch.no_grad():
        assert torch.allclose(wide(x.clone()), wide.conv_s.conv(x) + wide.conv_1(wide.conv_0(x.clone())), atol=1e-6)
    assert wide.conv_s.conv.bias is None
    d = funit.GPPatchMcResDis(3, 4, 4, num_classes=5)
    y, images = torch.tensor([4, 1]), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        picked, feat = d(images, y)
        raw = d.cnn_f(images)
        every = d.cnn_c(raw.clone())
    assert picked.shape == (2, 8, 8) and every.shape == (2, 5, 8, 8) and feat.shape == (2, 16, 8, 8)
    assert torch.allclose(picked, every[[0, 1], [4, 1]], atol=1e-6)  # class y's map of each image
    assert torch.allclose(feat, F.leaky_relu(raw, 0.2), atol=1e-6)  # features after cnn_c's in-place LeakyReLU


def test_class_code_is_the_mean_of_k_shots():
    g = funit.FewShotGen(3, 4, 1, 8, 4, 3, 2, 2).eval()
    shots = torch.rand(5, 3, 16, 16)
    with torch.no_grad():
        code = g.class_code(shots)
        assert torch.allclose(code, g.enc_class_model(shots).mean(0, keepdim=True))
        x = torch.rand(2, 3, 16, 16)
        assert torch.allclose(g(x, shots), g.decode(g.enc_content(x), code.expand(2, -1, -1, -1)))


def test_r1_by_hand():
    w = torch.tensor([1.0, -2.0, 3.0, 0.5]).view(1, 1, 2, 2)
    x = torch.rand(2, 1, 2, 2, requires_grad=True)
    # d/dx of mean over 2 images of sum(w x) is w / 2 per image; sum of squares over both / 2 = |w|^2 / 4
    assert r1((x * w).sum((1, 2, 3)), x).item() == pytest.approx((w ** 2).sum().item() / 4)


def domains(count: int = 24) -> Domains:
    from pixforge.data.builtin import digits

    images, labels = digits(size=16, channels=3)
    return Domains(images[:count], torch.arange(count) % 3, ("d0", "d1", "d2"), labels[:count])


def config(out="unused", steps: int = 1, resume: bool = False, **extra):
    cls = TASKS.get("funit")
    return load_config(cls.Config, None, {**TINY, **extra, "loop.steps": steps, "loop.out": str(out),
                                          "loop.resume": resume, "loop.progress": False, "loop.tensorboard": False,
                                          "loop.device": "cpu", "loop.sample_every": 0, "loop.ckpt_every": 2,
                                          "loop.log_every": 1})


def test_one_step_by_hand():
    cls = TASKS.get("funit")
    task = cls.from_config(config(), torch.device("cpu"), domains())
    state = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    logs = task.train_step(0)
    other = cls.from_config(config(), torch.device("cpu"), domains())
    for k, m in other.modules.items():
        m.load_state_dict(state[k])
    gen, dis = other.gen, other.dis
    (xa, la), (xb, lb) = other.real.batch(0), other.class_batches.batch(0)
    xb_in = xb.clone().requires_grad_()
    real = dis(xb_in, lb)[0]
    grad = torch.autograd.grad(real.mean(), xb_in)[0]
    with torch.no_grad():
        fake = dis(gen.decode(gen.enc_content(xa), gen.enc_class_model(xb)), lb)[0]
    assert logs["d_real"].item() == pytest.approx(torch.clamp(1 - real, min=0).mean().item(), rel=1e-5)
    assert logs["d_fake"].item() == pytest.approx(torch.clamp(1 + fake, min=0).mean().item(), rel=1e-5)
    assert logs["d_reg"].item() == pytest.approx((grad ** 2).sum().item() / len(xb), rel=1e-4)
    dis.load_state_dict({n: t for n, t in task.dis.state_dict().items()})  # D after its step, as G sees it
    with torch.no_grad():
        c = gen.enc_content(xa)
        xt, xr = gen.decode(c, gen.enc_class_model(xb)), gen.decode(c, gen.enc_class_model(xa))
        (rt, ft), (rr, fr) = dis(xt, lb), dis(xr, la)
        fb, fa = dis(xb, lb)[1], dis(xa, la)[1]
    assert logs["g_adv"].item() == pytest.approx(0.5 * (-rt.mean() - rr.mean()).item(), rel=1e-4)
    assert logs["x_rec"].item() == pytest.approx((xr - xa).abs().mean().item(), rel=1e-5)
    assert logs["m_rec"].item() == pytest.approx((spatial_mean(ft) - spatial_mean(fb)).abs().mean().item(), rel=1e-4)
    assert logs["c_rec"].item() == pytest.approx((spatial_mean(fr) - spatial_mean(fa)).abs().mean().item(), rel=1e-4)
    # the EMA generator's decay warms up to 0.999: 0.1 at step 0, so it moved by 0.9 of G's step
    assert task.ema.decay_at(0) == pytest.approx(0.1) and task.ema.decay_at(10**5) == 0.999
    for e, p0, p1 in zip(task.ema.module.parameters(), other.gen.parameters(), task.gen.parameters()):
        assert torch.allclose(e, 0.1 * p0 + 0.9 * p1, atol=1e-6)
    with pytest.raises(ConfigError, match="dis_res_blks must be even"):
        config(dis_res_blks=3)


def test_resume_is_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    split, _ = resumes_exactly(lambda out, steps, resume: run(TASKS.get("funit"), config(out, steps, resume),
                                                             data=domains()), tmp_path)
    # K-shot translation from the run (its EMA generator) and from a reference-layout gen_*.pt
    model = load_model(tmp_path / "split", "cpu")
    assert isinstance(model, Funit) and model.names == ("d0", "d1", "d2")
    x, shots = torch.rand(1, 3, 16, 16), torch.rand(4, 3, 16, 16)
    out = translate_guided(x, model, style_image=shots)
    g = split.ema.module.eval()
    with torch.no_grad():
        expected = g(x * 2 - 1, shots * 2 - 1)
    assert out.shape == (1, 1, 3, 16, 16) and torch.allclose(out[0, 0], ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-6)
    torch.save({"gen": split.gen.state_dict(), "gen_test": g.state_dict()}, tmp_path / "gen_00000005.pt")
    released = load_model(tmp_path / "gen_00000005.pt", "cpu")
    assert torch.allclose(translate_guided(x, released, style_image=shots), out, atol=1e-6)
    assert translate_guided(torch.rand(3, 18, 22), released, style_image=shots).shape == (1, 3, 18, 22)
    with pytest.raises(ConfigError, match="--style-image"):
        translate_guided(x, released, seed=0, n=2)


def test_mnist_domains_recipe_keeps_a_16px_content_code():
    """At 32 px the recipe's single content downsampling gives the 16x16 code that the reference's three give at
    128 px (three here would leave 4x4, from which G did not learn to keep the digit in 1,000 steps)."""
    from pixforge.tasks.multidomain import recipe

    cls = TASKS.get("funit")
    cfg = load_config(cls.Config, recipe("funit", "mnist-domains"), {"loop.device": "cpu"})
    assert cfg.n_downs_content == 1 and cfg.n_downs_class == 4
    gen = funit.FewShotGen(3, 4, 1, 8, 4, 2, cfg.n_downs_content, cfg.n_downs_class)  # mnist-domains: RGB, 32 px
    assert gen.enc_content(torch.zeros(1, 3, 32, 32)).shape[-2:] == (16, 16)
