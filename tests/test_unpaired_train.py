"""CycleGAN, DiscoGAN and DTN training (pixforge.tasks.unpaired): the history pool, the loss weights against hand
computations on tiny networks, few-step runs with bit-identical resume, run folders read by ``pixforge translate``
in both directions, and bad settings as one-line errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from gan_fakes import cli, same

from pixforge.config import load_config
from pixforge.io import read_image, save_image
from pixforge.tasks.unpaired import (CycleGANTask, DiscoGANTask, DTNTask, ImagePool, discogan_feature_matching,
                                     f_constancy)
from pixforge.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = ["--quiet", "loop.tensorboard=false", "loop.workers=0", "loop.sample_every=0"]
TINY = {  # the smallest networks of each task
    "cyclegan": ["size=32", "load_size=36", "netG=resnet_6blocks", "ngf=2", "ndf=2", "batch_size=2", "pool_size=3",
                 "epochs=0", "epochs_decay=0"],
    "discogan": ["size=64", "load_size=64", "ngf=2", "ndf=2", "batch_size=2"],
    "dtn": ["--data", "digits2mnist", "nf=2", "ngf=2", "ndf=2", "features=4", "batch_size=4", "f_steps=3"],
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """An unpaired trainA/ + trainB/ (+ testA/, testB/) folder of random 40 px pictures."""
    root = tmp_path_factory.mktemp("unpaired")
    gen = torch.Generator().manual_seed(0)
    for part, count in (("trainA", 5), ("trainB", 3), ("testA", 2), ("testB", 2)):
        (root / part).mkdir()
        for i in range(count):
            save_image(torch.rand(3, 40, 40, generator=gen), root / part / f"{i}.png")
    return root


def args(kind, folders):
    return TINY[kind] if kind == "dtn" else ["--data", folders, *TINY[kind]]


def task(kind, folders, **overrides):
    """A task built from the recipe with tiny networks (no files written)."""
    cls = {"cyclegan": CycleGANTask, "discogan": DiscoGANTask, "dtn": DTNTask}[kind]
    a = args(kind, folders)
    values = {"data": str(a[1]), **dict(x.split("=") for x in a[2:]), "loop.workers": 0, "loop.device": "cpu",
              **overrides}
    cfg = load_config(cls.Config, cls.default_config(values), values)
    torch.manual_seed(0)
    return cls.from_config(cfg, torch.device("cpu"))


# ------------------------------------------------------------------------------------------------ history pool
def test_history_pool_stores_the_first_images_then_swaps_half():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # the first `size` images come back as they are, and are kept
    assert [float(x) for x in pool.images] == [0.0, 1.0, 2.0]
    swaps = 0
    for value in range(3, 403):
        before = [float(x) for x in pool.images]
        out = float(pool.query(torch.full((1, 1, 1, 1), float(value))))
        after = [float(x) for x in pool.images]
        if out == value:  # not swapped: the pool is unchanged
            assert after == before
        else:  # swapped: an old image comes back and the new one takes its place
            swaps += 1
            i = before.index(out)
            assert after == before[:i] + [value] + before[i + 1:]
    assert 160 < swaps < 240  # ~ half of 400 (binomial std 10)
    restored = ImagePool(3)
    restored.load(pool.state(), torch.device("cpu"))
    assert same(restored.images, pool.images)
    x = torch.randn(2, 1, 2, 2)
    assert ImagePool(0).query(x) is x  # pool_size 0: no pool


# ------------------------------------------------------------------------------------------------ loss wiring
def test_cyclegan_cycle_identity_and_gan_weights_by_hand(folders):
    t = task("cyclegan", folders, lambda_A=2.0, lambda_B=3.0, lambda_identity=0.25)
    assert t.G_A.__class__.__name__ == "ResnetGenerator" and t.D_A.__class__.__name__ == "NLayerDiscriminator"
    a, b = t.batch(0)
    with torch.no_grad():
        terms, fake_b, fake_a = t.generator_losses(a, b)
        mse1 = lambda x: ((x - 1) ** 2).mean()  # noqa: E731 (LSGAN, the reference's MSE to 1)
        l1 = lambda x, y: (x - y).abs().mean()  # noqa: E731
        expected = {"G_A": mse1(t.D_A(t.G_A(a))), "G_B": mse1(t.D_B(t.G_B(b))),
                    "cycle_A": 2.0 * l1(t.G_B(t.G_A(a)), a), "cycle_B": 3.0 * l1(t.G_A(t.G_B(b)), b),
                    "idt_A": 3.0 * 0.25 * l1(t.G_A(b), b),  # G_A(b) ≈ b, weighted λ_B·λ_idt (the reference's)
                    "idt_B": 2.0 * 0.25 * l1(t.G_B(a), a)}
        assert terms.keys() == expected.keys()
        for k, v in expected.items():
            assert torch.allclose(terms[k], v, atol=1e-6), k
        d_a = 0.5 * (mse1(t.D_A(b)) + (t.D_A(fake_b) ** 2).mean())  # D loss halved
        assert torch.allclose(t.gan.d_loss(t.D_A(b), t.D_A(fake_b)), d_a)
    assert "idt_A" not in task("cyclegan", folders, lambda_identity=0).generator_losses(a, b)[0]
    # the reference's networks and parameter counts
    ref = task("cyclegan", folders, **{"netG": "resnet_9blocks", "ngf": 64, "ndf": 64})
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ref.G_A) == count(ref.G_B) == 11_378_179 and count(ref.D_A) == 2_764_737
    assert all(float(m.weight.detach().std()) < 0.03 for m in ref.G_A.modules() if isinstance(m, torch.nn.Conv2d))


def test_cyclegan_step_updates_g_then_d_with_the_pool(folders):
    t = task("cyclegan", folders)
    before = {k: [p.clone() for p in m.parameters()] for k, m in t.modules.items()}
    logs = t.train_step(0)
    assert set(logs) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    for k, m in t.modules.items():
        assert not all(torch.equal(p, q) for p, q in zip(before[k], m.parameters())), k
    assert len(t.pool_fake_B.images) == len(t.pool_fake_A.images) == 2  # batch 2 stored
    t.train_step(1)
    assert len(t.pool_fake_B.images) == 3  # full at pool_size


def test_discogan_feature_matching_rate_and_alternation(folders):
    real = [torch.randn(4, 3, 2, 2), torch.randn(4, 5, 1, 1)]
    fake = [torch.randn(4, 3, 2, 2), torch.randn(4, 5, 1, 1)]
    expected = sum(((r.mean(0) - f.mean(0)) ** 2).mean() for r, f in zip(real, fake))
    assert torch.allclose(discogan_feature_matching(real, fake), expected)
    t = task("discogan", folders, gan_curriculum=5)
    assert (t.rate(4), t.rate(5)) == (0.01, 0.5)
    gens, diss = ("generator_A", "generator_B"), ("discriminator_A", "discriminator_B")
    for step, changed in ((0, diss), (1, gens), (2, gens), (3, diss)):  # D every 3rd step, from step 0
        before = {k: [p.clone() for p in m.parameters()] for k, m in t.modules.items()}
        logs = t.train_step(step)
        for k, m in t.modules.items():
            moved = not all(torch.equal(p, q) for p, q in zip(before[k], m.parameters()))
            assert moved == (k in changed), (step, k)
        assert set(logs) == ({"dis_A", "dis_B"} if changed == diss else
                             {"recon_A", "recon_B", "gen_A", "gen_B", "fm_A", "fm_B"})


def test_dtn_f_constancy_fixed_f_and_ternary_d(folders):
    t = task("dtn", folders)
    x = t.batch(0)[0]
    assert x.shape == (4, 1, 32, 32) and t.D(x).shape == (4, 3)
    code = t.f(x)
    fake = t.g(code)
    loss = f_constancy(t.f, code, fake)
    assert torch.allclose(loss, ((t.f(fake) - code) ** 2).mean())
    loss.backward()  # reaches g through f(g(.)), never f's (fixed) weights
    assert all(p.grad is None for p in t.f.parameters()) and any(p.grad is not None for p in t.g.parameters())
    f_before = [p.clone() for p in t.f.state_dict().values()]
    logs = t.train_step(0)
    assert set(logs) == {"d_loss", "gan", "const", "tid"}
    assert all(torch.equal(p, q) for p, q in zip(f_before, t.f.state_dict().values()))  # f stays fixed
    untrained = task("dtn", folders, f_steps=0)
    assert not same(untrained.f.state_dict(), t.f.state_dict())  # f was pre-trained on the digit labels


# ------------------------------------------------------------------------------------------------ runs
def train(kind, folders, out, steps, *extra, ok=True):
    return cli("train", kind, *args(kind, folders), "--steps", steps, "--out", out, *QUIET, *extra, ok=ok)


@pytest.mark.parametrize("kind", ["cyclegan", "discogan", "dtn"])
def test_few_steps_then_resume_is_bit_identical(tmp_path, folders, kind):
    train(kind, folders, tmp_path / "full", 5, "loop.ckpt_every=5")
    train(kind, folders, tmp_path / "split", 3)  # "interrupted" after 3 steps
    r = cli("train", kind, "--out", tmp_path / "split", "--steps", 5, "--resume")
    assert "resumed from step 3" in r.output
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"]
    assert same(full["modules"], split["modules"]) and same(full["optimizers"], split["optimizers"])
    assert same(full["extra"], split["extra"])  # CycleGAN: the history pools too


def test_run_folders_translate_both_ways_and_sample_grids(tmp_path, folders):
    from pixforge.translate import load_generator

    run = tmp_path / "cg"
    train("cyclegan", folders, run, 2, "loop.sample_every=2", "sample_items=2")
    grid = read_image(run / "samples" / "step0000002.png")
    assert grid.shape[-1] > 3 * 32 and grid.shape[-2] > 4 * 32  # 2 A rows + 2 B rows of input | output | back
    saved = load_checkpoint(run / "checkpoints" / "last.pt")["task"]["modules"]
    assert same(load_generator(run, "AtoB").state_dict(), saved["G_A"])
    assert same(load_generator(run, "BtoA").state_dict(), saved["G_B"])
    save_image(torch.rand(3, 30, 45), tmp_path / "in.png")  # padded to the generator's multiple, cropped back
    cli("translate", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", run, "--direction", "BtoA")
    assert read_image(tmp_path / "out.png").shape == (3, 30, 45)

    disco = tmp_path / "disco"
    train("discogan", folders, disco, 1)
    g = load_generator(disco, "BtoA")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    raw = load_checkpoint(disco / "checkpoints" / "last.pt")["task"]["modules"]["generator_A"]
    assert same(g.net.state_dict(), raw)
    with torch.no_grad():  # the sigmoid generator on [0, 1] images, seen in [-1, 1]
        g.eval()
        assert torch.allclose(g(x), g.net((x + 1) / 2) * 2 - 1)

    dtn = tmp_path / "dtn"
    train("dtn", folders, dtn, 1)
    cli("translate", tmp_path / "in.png", "-o", tmp_path / "digit.png", "--model", dtn)
    assert read_image(tmp_path / "digit.png").shape[-2:] == (30, 45)
    r = cli("translate", tmp_path / "in.png", "-o", tmp_path / "x.png", "--model", dtn, "--direction", "BtoA",
            ok=False)
    assert r.exit_code == 2 and "AtoB" in r.output


@pytest.mark.parametrize("kind,setting,message", [
    ("cyclegan", "lambda_A=-1", "lambda_A: must be >= 0"),
    ("cyclegan", "pool_size=-2", "pool_size: must be >= 0"),
    ("cyclegan", "netG=resnet_3blocks", "netG: 'resnet_3blocks' is not one of"),
    ("cyclegan", "gan_mode=wgan", "gan_mode: 'wgan' is not one of"),
    ("discogan", "update_interval=0", "update_interval: must be > 0"),
    ("discogan", "size=40", "multiples of 16"),
    ("dtn", "size=64", "size: 64 is not one of 32"),
    ("dtn", "alpha=-1", "alpha: must be >= 0"),
])
def test_bad_settings_are_one_line_errors(tmp_path, folders, kind, setting, message):
    r = train(kind, folders, tmp_path / "run", 1, setting, ok=False)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_dtn_needs_a_labelled_source_domain(tmp_path, folders):
    r = cli("train", "dtn", "--data", folders, "--steps", 1, "--out", tmp_path / "run", *QUIET, ok=False)
    assert r.exit_code == 2 and "class labels" in r.output


def test_defaults_are_the_references():
    from pixforge.tasks.translation import CONFIGS

    cg = load_config(CycleGANTask.Config, CONFIGS / "cyclegan.yaml")
    assert (cg.netG, cg.ngf, cg.norm, cg.dropout, cg.netD, cg.gan_mode) == ("resnet_9blocks", 64, "instance", False,
                                                                          "basic", "lsgan")
    assert (cg.lambda_A, cg.lambda_B, cg.lambda_identity, cg.pool_size) == (10, 10, 0.5, 50)
    assert (cg.lr_g, cg.lr_d, tuple(cg.betas), cg.batch_size, cg.load_size, cg.size) == (2e-4, 2e-4, (0.5, 0.999), 1,
                                                                                       286, 256)
    assert (cg.epochs, cg.epochs_decay) == (100, 100)
    dg = load_config(DiscoGANTask.Config, CONFIGS / "discogan.yaml")
    assert (dg.size, dg.batch_size, dg.gan_curriculum, dg.starting_rate, dg.default_rate, dg.update_interval,
            dg.weight_decay) == (64, 64, 10_000, 0.01, 0.5, 3, 1e-5)
    dt = load_config(DTNTask.Config, CONFIGS / "dtn.yaml")
    assert (dt.alpha, dt.beta, dt.size, dt.features, dt.ngf, dt.ndf, dt.nf) == (15, 15, 32, 128, 128, 128, 64)
