"""GAN training end to end through the CLI: checkpoints, exact resume, NaN guard, sampling, DDP, coverage."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gan_fakes import cli, install, same, train_ddp
from torch import nn

from pixforge.losses.adversarial import gan_losses
from pixforge.train import load_checkpoint

FAST = ["--batch-size", "32", "width=16", "z_dim=8", "loop.progress=false", "loop.tensorboard=false"]


@pytest.fixture(autouse=True)
def _setup(monkeypatch, one_thread):
    install(monkeypatch)


def train(out, steps, *extra, ok=True):
    return cli("train", "gan", "--data", "grid25", "--steps", steps, "--out", out, *FAST, *extra, ok=ok)


def modules(out):
    return load_checkpoint(out / "checkpoints" / "last.pt")["task"]


@pytest.mark.parametrize("data,loss", [("grid25", "wgan-gp"), ("grid25", "nonsaturating"), ("tiny", "hinge")])
def test_resume_after_interruption_is_bit_identical(tmp_path, data, loss):
    # tiny: a DCGAN on 8x8 images, with bf16 autocast where the CPU supports it
    extra = ["--data", data, "--loss", loss, "ema=0.9", "ema_start=0", "loop.ckpt_every=4", "loop.sample_every=0"]
    train(tmp_path / "full", 8, *extra[:-1], "loop.sample_every=4")  # sampling must not change the training
    train(tmp_path / "split", 5, *extra)  # "interrupted" after 5 steps
    cli("train", "gan", "--out", tmp_path / "split", "--steps", 8, "--resume")  # rest from OUT/config.yaml
    full, split = modules(tmp_path / "full"), modules(tmp_path / "split")
    assert set(full["modules"]) == {"G", "D", "G_ema"}
    assert same(full["modules"], split["modules"]) and same(full["optimizers"], split["optimizers"])
    train(tmp_path / "other", 8, *extra, "--seed", 1)
    assert not same(full["modules"]["G"], modules(tmp_path / "other")["modules"]["G"])
    assert (tmp_path / "full" / "samples" / "step0000008.png").stat().st_size > 1000
    assert (tmp_path / "full" / "config.yaml").is_file()


def test_divergence_stops_with_clear_message_and_keeps_last_good(tmp_path, monkeypatch):
    r = train(tmp_path / "lr", 50, "--loss", "lsgan", "lr_d=1e30", "lr_g=1e30", ok=False)  # a huge lr
    assert r.exit_code == 2 and "training diverged at step 1" in r.output and "Lower the learning rate" in r.output

    import dataclasses

    from pixforge.registry import LOSSES

    base, calls = LOSSES.get("lsgan"), []

    def poisoned(fake):  # a NaN from the 8th generator step on
        calls.append(1)
        return base.g(fake) * (float("nan") if len(calls) >= 8 else 1.0)

    monkeypatch.setattr(LOSSES.entry("lsgan"), "target", dataclasses.replace(base, g=poisoned))
    out = tmp_path / "div"
    r = train(out, 50, "--loss", "lsgan", "loop.ckpt_every=5", ok=False)
    assert r.exit_code == 2 and "diverged at step 8 (g_loss=nan)" in r.output
    assert f"last good checkpoint is {out / 'checkpoints' / 'last.pt'}" in r.output
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["step"] == 5
    for part in state["task"]["modules"].values():
        assert all(torch.isfinite(v).all() for v in part.values())


def test_sample_npy_png_and_options(tmp_path):
    out = tmp_path / "run"
    train(out, 3, "ema=0.9")
    cli("sample", out, "-n", 300, "-o", tmp_path / "s.npy")
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (300, 2) and x.dtype == np.float32
    cli("sample", out / "checkpoints" / "last.pt", "-n", 300, "-o", tmp_path / "s.png", "--no-ema")
    assert (tmp_path / "s.png").stat().st_size > 1000
    r = cli("sample", out, "-o", tmp_path / "s.txt", ok=False)
    assert r.exit_code == 2 and ".npy or .png" in r.output
    r = cli("sample", out, "-o", tmp_path / "s.npy", "--class", 1, ok=False)
    assert "conditional" in r.output


def test_image_gan_conditional_sample_truncation_interpolate(tmp_path):
    out = tmp_path / "img"
    cli("train", "gan", "--data", "tiny", "--loss", "hinge", "--steps", 2, "--out", out, *FAST,
        "conditional=true", "attention=true", "ema=0.9", "r1=1", "ortho=1e-4")
    cli("sample", out, "-n", 10, "-o", tmp_path / "x.npy", "--truncation", 0.5, "--class", 2)
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    cli("sample", out, "-n", 9, "-o", tmp_path / "x.png")
    cli("interpolate", out, "-o", tmp_path / "strip.png", "--steps", 5, "--rows", 2)
    from pixforge.io import read_image

    assert read_image(tmp_path / "strip.png").shape[-1] == 5 * 8 + 6 * 2  # 5 frames of 8 px, 2 px padding
    r = cli("sample", out, "-o", tmp_path / "x.npy", "--class", 7, ok=False)
    assert "out of range" in r.output


def test_the_recipe_for_data_and_loss_is_the_default_and_overridable(tmp_path):
    import yaml

    from pixforge.tasks.gan import CONFIGS, config_from, recipe_file

    path = recipe_file("grid25", "hinge")
    recipe = yaml.safe_load(path.read_text())
    out = tmp_path / "r"
    r = cli("train", "gan", "--data", "grid25", "--loss", "hinge", "--steps", 2, "--out", out, "width=16",
            "loop.progress=false", "loop.tensorboard=false")
    assert f"pixforge: recipe {path}" in r.stderr and "pixforge: recipe" not in r.stdout
    used = yaml.safe_load((out / "config.yaml").read_text())
    assert (used["z_dim"], used["batch_size"], used["ema"]) == (recipe["z_dim"], recipe["batch_size"], recipe["ema"])
    assert (used["width"], used["loop"]["steps"]) == (16, 2)  # the command line wins
    plain = tmp_path / "plain.yaml"
    plain.write_text("data: grid25\nloss: hinge\n")
    r = cli("train", "gan", "--config", plain, "--steps", 2, "--out", tmp_path / "p", "width=16", "batch_size=8",
            "loop.progress=false", "loop.tensorboard=false")
    assert "pixforge: recipe" not in r.stderr  # an explicit config replaces the recipe
    assert yaml.safe_load((tmp_path / "p" / "config.yaml").read_text())["z_dim"] == 64
    assert recipe_file("digits", "hinge") is None and recipe_file(str(CONFIGS / "grid25"), "hinge") is None
    assert config_from(None, {"data": "grid25", "loss": "hinge", "z_dim": "5"}).z_dim == 5
    assert config_from(None, {"data": "grid25", "loss": "hinge"}).batch_size == recipe["batch_size"]
    for yaml_file in sorted(CONFIGS.glob("*_*.yaml")):  # every recipe is named after its data and loss
        cfg = config_from(yaml_file)
        assert yaml_file.stem == f"{cfg.data}_{cfg.loss}" and recipe_file(cfg.data, cfg.loss) == yaml_file


PAPER = {"wgan-gp": ("adam", 1e-4, (0.5, 0.9), 5, 10.0, 0.0, "layer", False),
         "wgan": ("rmsprop", 5e-5, None, 5, 0.0, 0.01, "batch", False),
         "hinge": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, 0.0, "none", True),
         "lsgan": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, 0.0, "batch", False),
         "nonsaturating": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, 0.0, "batch", False),
         "minimax": ("adam", 2e-4, (0.5, 0.999), 1, 0.0, 0.0, "batch", False)}
LR_D = {"minimax": 5e-5}  # D's learning rate where it is not G's (the saturating G loss needs a slower D)


@pytest.mark.parametrize("data", ["stacked-mnist", "mnist5k"])
def test_image_recipes_carry_each_papers_settings(data):
    from pixforge.tasks.gan import build_models, config_from, recipe_file, resolve

    for loss, (opt, lr_g, betas, n_critic, gp, clip, d_norm, sn) in PAPER.items():
        assert recipe_file(data, loss) is not None, (data, loss)
        cfg = resolve(config_from(None, {"data": data, "loss": loss}), (3 if data == "stacked-mnist" else 1, 28, 28))
        assert (cfg.arch, cfg.optimizer, cfg.lr_g, cfg.n_critic, cfg.gp, cfg.clip) == ("dcgan", opt, lr_g, n_critic,
                                                                                       gp, clip), loss
        assert (betas is None or cfg.betas == betas) and (cfg.d_norm, cfg.spectral_norm) == (d_norm, sn), loss
        assert cfg.lr_d == LR_D.get(loss, lr_g), loss
        _, d = build_models(cfg)
        norms = {type(m).__name__ for m in d.modules()} & {"BatchNorm2d", "GroupNorm"}
        assert norms == {"batch": {"BatchNorm2d"}, "layer": {"GroupNorm"}, "none": set()}[d_norm], loss
    # the command line still wins over the recipe
    assert config_from(None, {"data": data, "loss": "wgan-gp", "d_norm": "batch"}).d_norm == "batch"


def test_stacked_mnist_training_starts_from_its_recipe(tmp_path):
    import yaml

    from pixforge.tasks.gan import recipe_file

    out = tmp_path / "s"
    r = cli("train", "gan", "--data", "stacked-mnist", "--loss", "wgan-gp", "--steps", 1, "--out", out, "width=8",
            "max_items=64", "loop.progress=false", "loop.tensorboard=false", "loop.sample_every=0")
    assert f"pixforge: recipe {recipe_file('stacked-mnist', 'wgan-gp')}" in r.stderr
    used = yaml.safe_load((out / "config.yaml").read_text())
    assert (used["d_norm"], used["betas"], used["n_critic"], used["ema"]) == ("layer", [0.5, 0.9], 5, 0.999)
    assert used["sample_shape"] == [3, 28, 28] and used["width"] == 8


def test_bad_config_is_one_line_error(tmp_path):
    r = train(tmp_path / "bad", 2, "--loss", "nope", ok=False)
    assert r.exit_code == 2 and "unknown GAN loss 'nope'" in r.output
    r = train(tmp_path / "bad", 2, "frobnicate=1", ok=False)
    assert "unknown config key frobnicate" in r.output


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_identical_generators(tmp_path):
    r0, r1 = train_ddp(tmp_path, "gan", {"data": "grid25", "loss": "wgan-gp", "n_critic": "2", "width": "16",
                                         "z_dim": "8", "batch_size": "32", "loop.steps": "4"})
    g0, g1 = r0["G"], r1["G"]
    assert same(g0, g1)
    init = modules(tmp_path)  # rank 0's checkpoint matches too
    assert same(init["modules"]["G"], g0)


@pytest.mark.slow
def test_short_grid25_run_improves_mode_coverage(tmp_path, monkeypatch):
    from pixforge.metrics.modes import mixture_modes

    out = tmp_path / "cov"
    base = ["train", "gan", "--data", "grid25", "--loss", "lsgan", "--out", out, "loop.progress=false",
            "loop.tensorboard=false"]  # the MLP and the loss's paper optimiser settings
    cli(*base, "--steps", 1)
    cli("sample", out, "-n", 2000, "-o", tmp_path / "init.npy")
    cli(*base, "--steps", 800, "--resume")
    cli("sample", out, "-n", 2000, "-o", tmp_path / "end.npy")
    before, after = (mixture_modes(np.load(tmp_path / f), "grid25")["modes"] for f in ("init.npy", "end.npy"))
    assert before <= 2 and after >= before + 4, (before, after)


def test_image_folder_data_and_shipped_configs(tmp_path):
    from pixforge.tasks.gan import config_from
    from pixforge.io import save_image

    folder = tmp_path / "imgs"
    for i in range(4):
        save_image(torch.rand(3, 12, 10), folder / f"{i}.png")
    out = tmp_path / "run"
    cli("train", "gan", "--data", folder, "--steps", 2, "--out", out, *FAST, "image_size=8", "bf16=false")
    cli("sample", out, "-n", 3, "-o", tmp_path / "f.npy")
    assert np.load(tmp_path / "f.npy").shape == (3, 3, 8, 8)
    from pathlib import Path

    for yaml_file in sorted((Path(__file__).parents[1] / "pixforge" / "configs").glob("gan_*.yaml")):
        cfg = config_from(yaml_file)
        assert cfg.loss in gan_losses() and cfg.loop.steps > 0


def test_eval_takes_a_run_folder_as_image_source(tmp_path, monkeypatch):
    """`pixforge eval fid RUN OTHER` samples the run's generator (seed 0), like `pixforge sample -n N`."""
    from pixforge.metrics import features
    from pixforge.models.classifier import ClassifierConfig, DigitClassifier, save_classifier

    out = tmp_path / "img"
    cli("train", "gan", "--data", "tiny", "--steps", 2, "--out", out, *FAST)
    monkeypatch.setattr(features, "CHECKPOINT_SAMPLES", 20)
    source = features.open_source(out)
    cli("sample", out, "-n", 20, "-o", tmp_path / "x.npy")
    assert torch.equal(torch.as_tensor(np.asarray(source.data)), torch.from_numpy(np.load(tmp_path / "x.npy")))
    clf = tmp_path / "clf.safetensors"
    save_classifier(DigitClassifier(ClassifierConfig(image_size=8)), clf)
    r = cli("eval", "fid", out, out / "checkpoints" / "last.pt", "--features", f"classifier:{clf}", "--json")
    assert abs(json.loads(r.output)["value"]) < 1e-6  # same generator, same samples


# ------------------------------------------------------------------------------------ resume, run folders, values
def test_resume_applies_changed_learning_rates_and_says_so(tmp_path):
    out = tmp_path / "run"
    train(out, 3)
    r = cli("train", "gan", "--out", out, "--steps", 5, "--resume", "lr_g=0.005", "lr_d=0.007")
    assert "resumed from step 3" in r.output
    assert "resume: G lr 0.001 -> 0.005" in r.output and "resume: D lr 0.001 -> 0.007" in r.output  # from the recipe
    assert "trained 2 steps (steps 4-5)" in r.output
    state = modules(out)
    assert [g["lr"] for g in state["optimizers"]["G"]["param_groups"]] == [0.005]
    assert [g["lr"] for g in state["optimizers"]["D"]["param_groups"]] == [0.007]
    r = cli("train", "gan", "--out", out, "--steps", 5, "--resume")
    assert "no steps trained: the run is already at step 5" in r.output and "trained 5" not in r.output


def test_resume_refuses_a_changed_loss_unless_forced(tmp_path):
    out = tmp_path / "run"
    train(out, 2, "--loss", "wgan-gp")
    r = cli("train", "gan", "--out", out, "--steps", 3, "--resume", "--loss", "hinge", ok=False)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "loss wgan-gp -> hinge" in r.output and "--force" in r.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2
    r = cli("train", "gan", "--out", out, "--steps", 3, "--resume", "--loss", "hinge", "--force")
    assert "trained 1 step (step 3)" in r.output


def test_existing_run_folder_is_refused_without_resume_or_overwrite(tmp_path):
    out = tmp_path / "run"
    train(out, 2)
    r = train(out, 2, ok=False)
    assert r.exit_code == 2 and "already holds a training run" in r.output and "--overwrite" in r.output
    train(out, 1, "--overwrite")
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 1
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step0000001.png"]


@pytest.mark.parametrize("args, message", [
    (["lr_g=-1"], "lr_g: must be > 0, got -1.0"),
    (["--batch-size", "0"], "batch_size: must be > 0"),
    (["ema=1.5"], "ema: must be in [0, 1)"),
    (["loop.lr_schedule=sometimes"], "lr_schedule: 'sometimes' is not one of"),
    (["--steps", "-3"], "loop.steps: must be > 0"),
    (["--arch", "vit"], "arch: 'vit' is not one of auto, mlp, dcgan, resnet"),
])
def test_bad_values_stop_before_anything_is_written(tmp_path, args, message):
    r = cli("train", "gan", "--data", "grid25", "--out", tmp_path / "run", *args, ok=False)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    config = tmp_path / "bad.yaml"
    config.write_text("batch_size: -4\nloop:\n  steps: 5\n")
    r = cli("train", "gan", "--config", config, "--out", tmp_path / "run", ok=False)
    assert r.exit_code == 2 and "batch_size: must be > 0, got -4" in r.output
    assert not (tmp_path / "run").exists()


def test_exploding_loss_stops_like_nan_and_keeps_last_good(tmp_path, monkeypatch):
    import dataclasses

    from pixforge.registry import LOSSES

    base, calls = LOSSES.get("lsgan"), []

    def exploding(fake):  # finite, but 1e30 from the 8th generator step on
        calls.append(1)
        return base.g(fake) * (1e30 if len(calls) >= 8 else 1.0)

    monkeypatch.setattr(LOSSES.entry("lsgan"), "target", dataclasses.replace(base, g=exploding))
    out = tmp_path / "div"
    r = train(out, 50, "--loss", "lsgan", "loop.ckpt_every=5", ok=False)
    assert r.exit_code == 2 and "diverged at step 8 (g_loss=" in r.output and "above loop.max_loss=1e+12" in r.output
    assert "Lower the learning rate" in r.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 5
    calls.clear()
    train(tmp_path / "unbounded", 9, "--loss", "lsgan", "loop.max_loss=0")  # the bound is configurable


def test_train_help_lists_tasks_keys_defaults_and_examples():
    r = cli("train", "--help")
    for task in ("gan", "fast-style", "cin", "adain", "wct-decoders", "classifier"):
        assert f"\n  {task} " in r.output
    r = cli("train", "gan", "--help")
    assert "Examples:" in r.output and "pixforge train gan --data grid25 --loss wgan-gp" in r.output
    assert "lr_g" in r.output and "loop.steps" in r.output and "int, default 1000" in r.output
    assert "loop.lr_schedule" in r.output and "--overwrite" in r.output
    r = cli("train", "nope", ok=False)
    assert r.exit_code == 2 and "unknown training task 'nope'; known: " in r.output and "wct-decoders" in r.output


# ------------------------------------------------------------------------------------ data, hooks, lazy R1
def test_image_folder_is_streamed_and_resumes_exactly(tmp_path):
    from pixforge.io import save_image
    from pixforge.tasks.gan import GanTask, config_from
    from pixforge.train import ImageBatches, run

    folder = tmp_path / "imgs"
    g = torch.Generator().manual_seed(0)
    for i in range(10):
        save_image(torch.rand(3, 12, 10, generator=g), folder / f"{i}.png")
    extra = ["--data", folder, "image_size=8", "bf16=false", "loop.workers=2", "loop.sample_every=0"]
    train(tmp_path / "full", 6, *extra)
    train(tmp_path / "split", 4, *extra)
    cli("train", "gan", "--out", tmp_path / "split", "--steps", 6, "--resume")
    assert same(modules(tmp_path / "full")["modules"], modules(tmp_path / "split")["modules"])
    cfg = config_from(None, {"data": str(folder), "image_size": "8", "loop.steps": "1", "loop.out": str(tmp_path / "t"),
                             "loop.progress": "false", "loop.tensorboard": "false", "loop.workers": "0"})
    task, _ = run(GanTask, cfg)
    assert isinstance(task.data, ImageBatches)  # files are read per batch, not held in memory


@pytest.mark.parametrize("workers", [0, 2])
def test_labelled_image_folder_gives_each_image_its_class(tmp_path, workers):
    """labelled=true: one class per subfolder (sorted names), streamed; every batch's labels are its images'."""
    from pixforge.io import save_image
    from pixforge.tasks.gan import GanTask, config_from
    from pixforge.train import run

    for k, name in enumerate(["cat", "dog", "owl"]):  # class k's images are all k/2 bright
        for i in range(3):
            save_image(torch.full((3, 8, 8), k / 2), tmp_path / "imgs" / name / f"{i}.png")
    cfg = config_from(None, {"data": str(tmp_path / "imgs"), "image_size": "8", "labelled": "true",
                             "conditional": "true", "batch_size": "4", "loop.steps": "1", "loop.out": str(tmp_path / "t"),
                             "loop.progress": "false", "loop.tensorboard": "false", "loop.workers": str(workers)})
    task, _ = run(GanTask, cfg)
    assert task.cfg.num_classes == 3
    for step in range(4):
        x, y = task.data.batch(step)
        assert torch.equal((x.mean((1, 2, 3)) + 1).round().long(), y)  # brightness k/2, i.e. k - 1 in [-1, 1]
    cfg.max_items, cfg.loop.out = 4, str(tmp_path / "t4")  # a prefix of the files would be cat, cat, cat, dog
    task, _ = run(GanTask, cfg)
    assert sorted(task.data.labels.tolist()) == [0, 0, 1, 2] and len(task.data) == 4
    for step in range(2):
        x, y = task.data.batch(step)
        assert torch.equal((x.mean((1, 2, 3)) + 1).round().long(), y)
    no_labels = ["--data", tmp_path / "imgs" / "cat", "image_size=8", "conditional=true"]
    assert "labelled=true" in train(tmp_path / "x", 1, *no_labels, ok=False).output
    assert "not a folder" in train(tmp_path / "y", 1, "labelled=true", ok=False).output


def test_step_batches_of_image_folders_do_not_depend_on_workers_or_restarts(tmp_path):
    from pixforge.errors import BadInputError
    from pixforge.io import save_image
    from pixforge.train import ImageBatches, TrainImages

    g = torch.Generator().manual_seed(0)
    for i in range(5):
        save_image(torch.rand(3, 20, 14, generator=g), tmp_path / f"{i}.png")
    images = TrainImages(tmp_path, 8, load_size=12, flip=True)
    direct = ImageBatches(images, 4, seed=3, device=torch.device("cpu"))
    streamed = ImageBatches(images, 4, seed=3, device=torch.device("cpu"), workers=2)
    want = [direct.batch(s)[0] for s in range(6)]
    assert all(torch.equal(streamed.batch(s)[0], want[s]) for s in range(6))
    assert torch.equal(streamed.batch(2)[0], want[2]) and torch.equal(streamed.batch(3)[0], want[3])  # restarted
    assert not torch.equal(want[0], want[1]) and want[0].shape == (4, 3, 8, 8)
    streamed.close()  # (fit does this when training stops)
    (tmp_path / "3.png").write_bytes(b"not a png")
    broken = ImageBatches(images, 5, seed=3, device=torch.device("cpu"), workers=1)
    with pytest.raises(BadInputError, match=r"3\.png: .*then --resume") as bad:
        broken.batch(0)  # decoded in a worker process, raised here as one line
    broken.close()
    assert "Traceback" not in str(bad.value)


class PairedGan:
    """A toy translation GAN: G maps an input point to a target point, D judges (input, output) pairs."""

    @staticmethod
    def task_class():
        from pixforge.tasks.gan import GanTask

        class Paired(GanTask):
            def real(self, index):
                target, _ = self.data.batch(index)
                return target, target.flip(-1)  # the "input" D and G see beside each target

            def fake(self, inputs, n):
                return self.G(inputs, None), inputs

            def critic(self, d, x, inputs):
                return d(torch.cat([x, inputs], 1), None)

            def generator_losses(self, fake, inputs, real):
                return {"l1": 10 * (fake - real).abs().mean()}

        return Paired

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 2)

        def forward(self, x, y=None):
            return self.net(x)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 1)

        def forward(self, pair, y=None):
            return self.net(pair)


def test_gan_task_hooks_let_a_subclass_change_what_g_and_d_see(tmp_path):
    from pixforge.tasks.gan import config_from
    from pixforge.train import run

    cfg = config_from(None, {"data": "grid25", "loss": "lsgan", "loop.steps": "40", "loop.out": str(tmp_path),
                             "loop.progress": "false", "loop.tensorboard": "false", "loop.sample_every": "0",
                             "lr_g": "0.05"})
    task, result = run(PairedGan.task_class(), cfg, generator=PairedGan.G(), discriminator=PairedGan.D())
    assert set(result.last_losses) == {"d_loss", "g_loss", "l1"}
    with torch.no_grad():  # the L1 term taught G the mapping input -> input.flip(-1)
        x = torch.randn(64, 2)
        assert (task.g(x) - x.flip(-1)).abs().mean() < 0.5 * x.abs().mean()


def test_lazy_r1_runs_every_k_d_steps_weighted_by_k(tmp_path, monkeypatch):
    import pixforge.tasks.gan as gan

    seen = []

    def penalty(critic, x):  # a stand-in whose gradient is the weight the penalty gets in D's loss
        seen.append(torch.ones((), requires_grad=True))
        return seen[-1]

    monkeypatch.setattr(gan, "r1_penalty", penalty)
    train(tmp_path / "lazy", 8, "r1=2", "r1_every=4", "loop.log_every=1")
    assert [float(t.grad) for t in seen] == [4.0, 4.0]  # D steps 0 and 4 of 8, weight r1 / 2 * 4
    import csv

    rows = list(csv.DictReader(open(tmp_path / "lazy" / "metrics.csv")))
    assert [r["step"] for r in rows if r.get("r1")] == ["1.0", "5.0"]


@pytest.mark.parametrize("loss", ["ragan", "ralsgan", "rahinge"])
def test_relativistic_losses_train_with_d_real_in_the_generator_step(tmp_path, loss):
    """The G step hands D(real) to relativistic losses (g_loss raises without it)."""
    out = tmp_path / loss
    train(out, 3, "--loss", loss)
    state = modules(out)
    assert all(torch.isfinite(v).all() for part in state["modules"].values() for v in part.values())
