"""The munit, stargan, stargan2 and ugatit tasks (a few steps on tiny networks, an exact resume), the built-in
mnist-domains set, and ``pixforge translate`` with style images, seeds and target domains on a trained run and on
reference checkpoints."""
from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.config import load_config
from pixforge.data.domains import MNIST_DOMAINS, Domains, domain_data, render_domain
from pixforge.errors import ConfigError
from pixforge.io import read_image, save_image
from pixforge.models import munit
from pixforge.multimodal import Munit, load_model, translate_guided
from pixforge.registry import DATASETS, TASKS
from pixforge.train import run

from gan_fakes import resumes_exactly

pytestmark = pytest.mark.usefixtures("one_thread", "no_loss_plot")


@pytest.fixture
def no_loss_plot(monkeypatch):
    """The loss plot at the end of a run takes longer than these tiny trainings (test_train_loop covers it)."""
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)

TINY = {
    "munit": {"dim": 4, "mlp_dim": 8, "n_res": 1, "style_dim": 4, "dis_dim": 4, "dis_layers": 2, "dis_scales": 2,
              "batch_size": 2, "recon_x_cyc_w": 1.0},
    "unit": {"dim": 4, "n_res": 1, "dis_dim": 4, "dis_layers": 2, "dis_scales": 2, "batch_size": 2},
    "stargan": {"conv_dim": 4, "repeat_num": 1, "d_conv_dim": 4, "d_repeat_num": 2, "batch_size": 4, "n_critic": 2},
    "stargan2": {"dim_in": 4, "max_conv_dim": 8, "mapping_dim": 8, "style_dim": 4, "latent_dim": 4, "batch_size": 3},
    "ugatit": {"ngf": 2, "n_res": 1, "ndf": 2, "global_layers": 4, "local_layers": 3, "light": True, "batch_size": 2},
}


def tiny_domains(count: int, domains: int, channels: int) -> Domains:
    """``count`` 16 px digits (scikit-learn's), domain = index mod ``domains``."""
    from pixforge.data.builtin import digits

    images, labels = digits(size=16, channels=channels)
    images, labels = images[:count], labels[:count]
    return Domains(images, torch.arange(count) % domains, tuple(f"d{i}" for i in range(domains)), labels)


def train(name: str, out, steps: int, resume: bool = False, data: Domains | None = None, **extra):
    cls = TASKS.get(name)
    cfg = load_config(cls.Config, None, {**TINY[name], **extra, "loop.steps": steps, "loop.out": str(out), "loop.resume": resume,
                                          "loop.progress": False, "loop.tensorboard": False, "loop.device": "cpu",
                                          "loop.sample_every": 0, "loop.ckpt_every": 2, "loop.log_every": 1})
    if data is None:
        data = tiny_domains(24, 2 if cls.Config.two_domains else 3, 1 if name == "ugatit" else 3)
    return run(cls, cfg, data=data)


@pytest.mark.parametrize("name", list(TINY))
def test_resume_is_bit_identical(tmp_path, name):
    _, result = resumes_exactly(lambda out, steps, resume: train(name, out, steps, resume), tmp_path)
    assert all(torch.isfinite(torch.tensor(v)) for v in result.last_losses.values())


def test_stargan2_he_init_and_warming_ema():
    """The reference's he_init (Kaiming normal, fan in, biases 0) on all four networks; the EMA copies start at
    the initial weights and average with a decay that warms up to 0.999 (0.1 at step 0)."""
    cls = TASKS.get("stargan2")
    cfg = load_config(cls.Config, None, {**TINY["stargan2"], "dim_in": 16, "max_conv_dim": 32, "mapping_dim": 64,
                                          "loop.device": "cpu"})
    torch.manual_seed(0)
    task = cls.from_config(cfg, torch.device("cpu"), tiny_domains(24, 3, 3))
    checked = 0
    for name in ("generator", "mapping_network", "style_encoder", "discriminator"):
        for m in task.modules[name].modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.weight.numel() >= 2000:
                fan_in = m.weight[0].numel()  # PyTorch's default init has std 1 / sqrt(3 fan_in): 0.41 of this
                assert m.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.1)
                assert m.bias is None or not m.bias.any()
                checked += 1
    assert checked >= 10
    start = [p.clone() for p in task.generator.parameters()]
    task.train_step(0)
    for e, p0, p1 in zip(task.emas["generator"].module.parameters(), start, task.generator.parameters()):
        assert torch.allclose(e, 0.1 * p0 + 0.9 * p1, atol=1e-6)
    assert all(ema.decay_at(10**5) == 0.999 for ema in task.emas.values())


def test_ugatit_keeps_rho_in_the_unit_interval(tmp_path):
    task, _ = train("ugatit", tmp_path / "u", 1)
    with torch.no_grad():
        for p in task.genA2B.UpBlock1_1.norm1.parameters():
            p.fill_(3.0)
    task.optimizers["G"].param_groups[0]["lr"] = 10.0  # a large step pushes rho far out of [0, 1]
    task.train_step(1)
    rhos = torch.cat([m.rho.flatten() for g in (task.genA2B, task.genB2A) for m in g.modules() if hasattr(m, "rho")])
    assert rhos.min() >= 0 and rhos.max() <= 1 and (rhos == 1).any()


def test_unit_kl_and_translation(tmp_path):
    from pixforge.tasks.multidomain import kl_to_unit_gaussian

    assert kl_to_unit_gaussian(torch.tensor([[1.0, -2.0], [0.0, 3.0]])).item() == 3.5  # mean of 1, 4, 0, 9
    task, _ = train("unit", tmp_path / "unit", 2)
    model = load_model(tmp_path / "unit", "cpu")
    assert model.kind == "UNIT" and model.names == ("d0", "d1")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():  # no noise at inference: the code is the encoder's output
        expected = task.gen_a.eval().decode(task.gen_b.eval().encode(x * 2 - 1)[0])
    assert torch.allclose(translate_guided(x, model, direction="BtoA")[0], ((expected + 1) / 2).clamp(0, 1)[0],
                          atol=1e-6)


SHARED = {"n_res": 2, "share_layers": 1, "share_dis_layers": 1}


def test_unit_weight_sharing_steps_once_and_resumes_exactly(tmp_path):
    """share_layers / share_dis_layers: the tied modules are one set of parameters in the optimiser (a first Adam
    step moves each by at most lr, not twice that), they stay tied after a resume, which is bit-identical, and the
    run translates as its networks do."""
    cls = TASKS.get("unit")
    task = cls.from_config(load_config(cls.Config, None, {**TINY["unit"], **SHARED, "loop.device": "cpu"}),
                           torch.device("cpu"), tiny_domains(8, 2, 3))
    shared = task.gen_a.enc.model[-1].model[1]
    assert task.gen_b.enc.model[-1].model[1] is shared and task.gen_b.dec.model[0].model[0] is task.gen_a.dec.model[0].model[0]
    assert task.dis_b.cnns[0][-1] is task.dis_a.cnns[0][-1] and task.dis_b.cnns[0][0] is not task.dis_a.cnns[0][0]
    for opt, nets in ((task.optimizers["gen"], (task.gen_a, task.gen_b)), (task.optimizers["dis"], (task.dis_a, task.dis_b))):
        params = [p for group in opt.param_groups for p in group["params"]]
        assert len({id(p) for p in params}) == len(params) == len({id(p) for n in nets for p in n.parameters()})
    before = {n: p.detach().clone() for n, p in shared.named_parameters()}
    task.train_step(0)
    lr = task.cfg.lr
    for n, p in shared.named_parameters():
        step = (p.detach() - before[n]).abs().max().item()
        assert 0.5 * lr < step <= lr * 1.001, (n, step)  # one Adam step (|update| <= lr), not two
        assert task.optimizers["gen"].state[p]["step"].item() == 1
    split, _ = resumes_exactly(lambda out, steps, resume: train("unit", out, steps, resume, **SHARED), tmp_path)
    assert split.gen_b.enc.model[-1].model[1] is split.gen_a.enc.model[-1].model[1]
    assert split.dis_b.cnns[1][-2] is split.dis_a.cnns[1][-2]
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expected = split.gen_b.eval().decode(split.gen_a.eval().encode(x * 2 - 1)[0])
    out = translate_guided(x, load_model(tmp_path / "split", "cpu"), direction="AtoB")[0]
    assert torch.allclose(out, ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    ({"share_layers": 3}, "share_layers: must be at most n_res (2)"),
    ({"share_layers": -1}, "share_layers: must be >= 0"),
    ({"share_dis_layers": 2}, "share_dis_layers: must be below dis_layers (2"),
])
def test_unit_sharing_config_is_validated(tmp_path, bad, message):
    settings = [f"{k}={v}" for k, v in {**TINY["unit"], "n_res": 2, **bad}.items()]
    result = CliRunner().invoke(main, ["train", "unit", *settings, "--out", str(tmp_path / "u")])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "u").exists()


def test_munit_domain_invariant_vgg_loss_of_one_step(monkeypatch):
    """vgg_w: each translation against its source (x_ba vs x_b, x_ab vs x_a), in the step's loss; UNIT has it too;
    no pretrained VGG16 offline is refused."""
    cls = TASKS.get("munit")
    settings = {**TINY["munit"], "vgg_w": 2.0, "vgg_weights": "random", "loop.device": "cpu"}
    data = tiny_domains(8, 2, 3)
    task = cls.from_config(load_config(cls.Config, None, settings), torch.device("cpu"), data)
    before = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    torch.manual_seed(4)
    logs = task.train_step(0)
    gen_a, gen_b = (task.generator() for _ in "ab")
    gen_a.load_state_dict(before["gen_a"])
    gen_b.load_state_dict(before["gen_b"])
    torch.manual_seed(4)
    x_a, x_b = task.batch(0, 0), task.batch(1, 0)
    styles = [torch.randn(2, 4, 1, 1) for _ in range(4)]  # D's two draws, then G's
    x_ba, x_ab = gen_a.decode(gen_b.enc_content(x_b), styles[2]), gen_b.decode(gen_a.enc_content(x_a), styles[3])
    expected = task.vgg(x_ba, x_b) + task.vgg(x_ab, x_a)
    assert logs["vgg"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert logs["vgg"].item() != pytest.approx((task.vgg(x_ba, x_a) + task.vgg(x_ab, x_b)).item(), rel=1e-3)
    unit = TASKS.get("unit")
    cfg = load_config(unit.Config, None, {**TINY["unit"], "vgg_w": 1.0, "vgg_weights": "random", "loop.device": "cpu"})
    assert torch.isfinite(unit.from_config(cfg, torch.device("cpu"), data).train_step(0)["vgg"])
    assert "vgg" not in cls.from_config(load_config(cls.Config, None, TINY["munit"]), torch.device("cpu"),
                                        data).train_step(0)
    monkeypatch.setattr("pixforge.weights.is_present", lambda name: False)
    monkeypatch.setattr("pixforge.weights.offline", lambda: True)
    with pytest.raises(Exception, match="pixforge weights fetch vgg16-hed"):
        cls.from_config(load_config(cls.Config, None, {**settings, "vgg_weights": "auto"}), torch.device("cpu"), data)


def test_two_domain_tasks_refuse_more_domains(tmp_path):
    with pytest.raises(ConfigError, match="two domains"):
        train("munit", tmp_path / "m", 1, data=tiny_domains(12, 3, 3))
    with pytest.raises(ConfigError, match="d_repeat_num"):
        cls = TASKS.get("stargan")
        cls(load_config(cls.Config, None, {"d_repeat_num": 6}), torch.device("cpu"), tiny_domains(12, 3, 3))


def test_mnist_domains():
    data = domain_data("mnist-domains")
    assert data.images.shape == (5000, 3, 32, 32) and data.names == MNIST_DOMAINS
    assert torch.bincount(data.domains).tolist() == [1250] * 4
    assert data.classes is not None and len(data.classes) == 5000
    images, labels = DATASETS.get("mnist-domains")()
    assert torch.equal(images, data.images) and torch.equal(labels, data.domains)
    x01 = (data.images + 1) / 2
    red = x01[data.domains == 0]
    assert red[:, 0].sum() > 5 * red[:, 1].sum()  # red strokes
    stroke = torch.zeros(1, 1, 8, 8)
    stroke[..., 4, 2:6] = 1
    assert render_domain(stroke, "bold").sum() > render_domain(stroke, "blue").sum() * 2  # bold: dilated and white
    assert torch.equal(render_domain(stroke, "green")[:, 1], stroke[:, 0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    with torch.random.fork_rng(), pytest.MonkeyPatch.context() as mp:
        mp.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        for name in ("munit", "stargan2"):
            train(name, root / name, 2)
        torch.set_num_threads(threads)
    return root


def test_translate_latent_and_reference_guided(runs, tmp_path):
    x = torch.rand(3, 16, 16)
    model = load_model(runs / "munit", "cpu")
    assert isinstance(model, Munit) and model.names == ("d0", "d1")
    outs = translate_guided(x, model, seed=3, n=4)
    assert outs.shape == (4, 3, 16, 16) and outs.min() >= 0 and outs.max() <= 1
    assert torch.equal(outs, translate_guided(x, model, seed=3, n=4))  # a seed fixes the styles
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs, translate_guided(x, model, seed=4, n=4))
    ref = torch.rand(3, 20, 20)
    by_ref = translate_guided(x, model, style_image=ref)
    a, b = model.nets["a"], model.nets["b"]
    with torch.no_grad():
        expected = b.decode(a.enc_content(x[None] * 2 - 1), b.enc_style(ref[None] * 2 - 1))
    assert torch.allclose(by_ref[0], ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-6)
    odd = translate_guided(torch.rand(3, 18, 22), model, direction="BtoA")  # padded to 4 and cropped back
    assert odd.shape == (1, 3, 18, 22)

    v2 = load_model(runs / "stargan2", "cpu")
    assert v2.names == ("d0", "d1", "d2")
    grid = translate_guided(x, v2, target_domain="d2", seed=0, n=2)
    assert grid.shape == (2, 3, 16, 16) and torch.equal(grid, translate_guided(x, v2, target_domain=2, seed=0, n=2))
    assert not torch.allclose(grid, translate_guided(x, v2, target_domain=0, seed=0, n=2))
    assert translate_guided(x, v2, target_domain=1, style_image=torch.rand(3, 40, 30)).shape == (1, 3, 16, 16)
    with pytest.raises(ConfigError, match="target-domain"):
        translate_guided(x, v2)
    with pytest.raises(ConfigError, match="unknown target domain"):
        translate_guided(x, v2, target_domain="d7")
    with pytest.raises(ConfigError, match="--direction"):
        translate_guided(x, model, target_domain=1)


def test_stargan2_reference_style_codes_swap(runs):
    """Reference-guided StarGAN v2: the style encoder's code of the reference (in the target domain's head) drives
    the generator; swapping the references swaps the outputs."""
    v2 = load_model(runs / "stargan2", "cpu")
    g, e = v2.nets["generator"], v2.nets["style_encoder"]
    x, refs = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    outs = v2(x, style=refs, target=1)  # (2 inputs, 2 references)
    with torch.no_grad():
        codes = e(refs * 2 - 1, torch.tensor([1, 1]))
        expected = torch.stack([g(x * 2 - 1, c[None].expand(2, -1)) for c in codes], 1)
    assert torch.allclose(outs, ((expected + 1) / 2).clamp(0, 1), atol=1e-6)
    assert torch.allclose(v2(x, style=refs.flip(0), target=1), outs.flip(1), atol=1e-6)
    assert not torch.allclose(outs[:, 0], outs[:, 1])
    assert not torch.allclose(v2(x, style=refs, target=0), outs)  # the domain head matters


def test_translate_cli(runs, tmp_path):
    src = save_image(torch.rand(3, 16, 16), tmp_path / "in.png")
    save_image(torch.rand(3, 16, 16), tmp_path / "ref.png")
    cli = CliRunner()
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "grid.png"), "--model", str(runs / "munit"),
                               "--seed", "1", "--n", "3"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "grid.png").shape == (3, 16 + 4, 4 * 16 + 5 * 2)  # input | 3 outputs
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "two.png"), "--model", str(runs / "munit"),
                               "--style-image", str(tmp_path / "ref.png"), "--style-image", str(src)])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "two.png").shape == (3, 16 + 4, 3 * 16 + 4 * 2)  # input | one output per reference
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "one.png"), "--model",
                               str(runs / "stargan2"), "--target-domain", "d1", "--style-image",
                               str(tmp_path / "ref.png")])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "one.png").shape == (3, 16, 16)
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "x.png"), "--model", str(runs / "stargan2")])
    assert result.exit_code == 2 and "needs --target-domain" in result.output
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "x.png"), "--model", "cyclegan-vintage",
                               "--n", "4"])
    assert result.exit_code == 2 and "need a MUNIT" in result.output
    result = cli.invoke(main, ["translate", str(src), "-o", str(tmp_path / "x.png"), "--model", "stargan-generator",
                               "--random-weights"])
    assert result.exit_code == 2 and "an architecture" in result.output


def test_translate_with_a_released_munit_file(tmp_path):
    torch.manual_seed(0)
    a, b = (munit.AdaINGen(3, dim=4, style_dim=8, n_downsample=2, n_res=1, mlp_dim=8) for _ in "ab")
    for net in (a, b):  # running statistics as a trained model has them
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
    torch.save({"a": a.state_dict(), "b": b.state_dict()}, tmp_path / "gen_01000000.pt")
    x = torch.rand(1, 3, 16, 16)
    out = translate_guided(x, tmp_path / "gen_01000000.pt", seed=5, n=2, device="cpu")
    styles = torch.randn(2, 8, 1, 1, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():  # the reference's test.py: eval(), so the content encoder uses its running statistics
        expected = b.eval().decode(a.eval().enc_content(x * 2 - 1), styles[1:])
    assert torch.allclose(out[0, 1], ((expected + 1) / 2).clamp(0, 1)[0], atol=1e-6)
