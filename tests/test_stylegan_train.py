"""StyleGAN2 / PGGAN training end to end through the CLI (tiny 8 px networks): exact resume, lazy Adam, sampling."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from gan_fakes import cli, install, same, train_ddp

from pixforge.losses.regularizers import lazy_adam
from pixforge.train import load_checkpoint

TINY = ["--data", "tiny", "image_size=8", "z_dim=8", "n_mlp=2", "channel_base=64", "channel_max=16",
        "--batch-size", "8", "loop.progress=false", "loop.tensorboard=false", "loop.sample_every=0"]


@pytest.fixture(autouse=True)
def _setup(monkeypatch, one_thread):
    install(monkeypatch)


def test_stylegan2_resume_is_bit_identical_and_regularisers_run_lazily(tmp_path):
    extra = [*TINY, "r1_every=2", "pl_every=3", "ema_kimg=0.05", "ema_rampup=0.05", "loop.log_every=1",
             "loop.ckpt_every=3"]
    cli("train", "stylegan2", "--steps", 6, "--out", tmp_path / "full", *extra)
    cli("train", "stylegan2", "--steps", 3, "--out", tmp_path / "split", *extra)  # "interrupted" at step 3
    cli("train", "stylegan2", "--out", tmp_path / "split", "--steps", 6, "--resume")
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"]
    assert set(full["modules"]) == {"G", "D", "G_ema"} and same(full, split)
    assert full["extra"]["pl_mean"] > 0  # the running path length is checkpointed
    assert not torch.equal(full["modules"]["G"]["w_avg"], torch.zeros(8))  # w_avg tracked ...
    assert torch.equal(full["modules"]["G"]["w_avg"], full["modules"]["G_ema"]["w_avg"])  # ... and copied to G_ema

    rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    logged = {name: [r.split(",")[header.index(name)] != "" for r in rows[1:]] for name in ("r1", "path_length")}
    assert logged["r1"] == [True, False, True, False, True, False]  # steps 0, 2, 4
    assert logged["path_length"] == [True, False, False, True, False, False]  # steps 0, 3

    opt = full["optimizers"]  # Adam corrected for the extra regularisation steps (c = k / (k + 1))
    lr_g, betas_g = lazy_adam(0.002, (0.0, 0.99), 3)
    lr_d, betas_d = lazy_adam(0.002, (0.0, 0.99), 2)
    assert opt["G"]["param_groups"][0]["lr"] == pytest.approx(lr_g) and opt["D"]["param_groups"][0]["lr"] == pytest.approx(lr_d)
    assert tuple(opt["G"]["param_groups"][0]["betas"]) == pytest.approx(betas_g)
    assert tuple(opt["D"]["param_groups"][0]["betas"]) == pytest.approx((0.0, 0.99 ** (2 / 3)))


def test_stylegan2_sampling_with_truncation_in_w_and_onnx_export(tmp_path):
    out = tmp_path / "run"
    cli("train", "stylegan2", "--steps", 2, "--out", out, *TINY)
    cli("sample", out, "-n", 5, "-o", tmp_path / "a.npy", "--truncation", 0.0)
    import numpy as np

    x = np.load(tmp_path / "a.npy")
    assert x.shape == (5, 1, 8, 8)
    # psi 0: every latent maps to w_avg; only the per-pixel noise differs between the images
    spread = np.abs(x - x.mean(0)).mean()
    cli("sample", out, "-n", 5, "-o", tmp_path / "b.npy")
    assert spread < np.abs(np.load(tmp_path / "b.npy") - np.load(tmp_path / "b.npy").mean(0)).mean()
    cli("sample", out, "-n", 4, "-o", tmp_path / "grid.png", "--no-ema")
    assert (tmp_path / "grid.png").stat().st_size > 0
    for psi in (0.0, 1.0):
        cli("interpolate", out, "-o", tmp_path / f"lerp{psi}.npy", "--rows", 2, "--steps", 3, "--truncation", psi)
    frames, free = np.load(tmp_path / "lerp0.0.npy"), np.load(tmp_path / "lerp1.0.npy")
    assert frames.shape == (6, 1, 8, 8)  # psi 0 in W: every frame is the average image (up to the noise)
    assert np.abs(frames - frames.mean(0)).mean() < np.abs(free - free.mean(0)).mean()
    cli("stylemix", out, "-o", tmp_path / "mix.npy", "--rows", 2, "--cols", 3, "--truncation", 0.7)
    assert np.load(tmp_path / "mix.npy").shape == (12, 1, 8, 8)
    r = cli("stylemix", out, "-o", tmp_path / "mix.png", "--crossover", 9, ok=False)
    assert r.exit_code == 2 and "--crossover must be in 1..3" in r.output

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")  # the run exports to ONNX
    from pixforge.tasks.gan import load_generator

    result = cli("export", out, "-o", tmp_path / "g.onnx")
    assert "family gan" in result.output and "z_dim 8" in result.output
    z, psi = torch.randn(3, 8), torch.tensor([1.0, 0.5, 0.5])
    got = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"z": z.numpy(), "truncation": psi.numpy()})[0]
    g = load_generator(out)[0].eval()  # the EMA generator, as `pixforge sample` takes it
    with torch.no_grad():
        expected = torch.cat([g(z[:1], noise="const"), g(z[1:], truncation=0.5, noise="const")])
    assert got.shape == (3, 1, 8, 8)
    assert torch.allclose(torch.from_numpy(got), ((expected + 1) / 2).clamp(0, 1), atol=1e-4)


def test_stylegan2_channels_last_steps_equal_contiguous_ones():
    """The default channels-last layout (4-D weights and batches; the 5-D modulated weights stay) is a speed
    setting only: the same seed gives the same losses and weights as contiguous tensors, to float rounding."""
    from gan_fakes import tiny_images

    from pixforge.tasks.stylegan2 import StyleGAN2Config, StyleGAN2Task

    cfg = StyleGAN2Config(image_size=8, z_dim=8, n_mlp=2, channel_base=64, channel_max=16, batch_size=8, r1_every=2,
                          pl_every=2, sample_shape=[1, 8, 8])
    images = tiny_images()[0]
    runs = []
    for channels_last in (True, False):
        torch.manual_seed(0)
        task = StyleGAN2Task(dataclasses.replace(cfg, channels_last=channels_last), images, None, torch.device("cpu"))
        logs = [task.train_step(step) for step in range(3)]
        runs.append((task, logs))
    (cl, cl_logs), (plain, plain_logs) = runs
    w4 = cl.d.final_conv[0].weight  # a 4-D weight (3x3, 17 input channels)
    assert w4.is_contiguous(memory_format=torch.channels_last) and not w4.is_contiguous()
    assert cl.g.convs[0].conv.weight.dim() == 5 and plain.d.final_conv[0].weight.is_contiguous()
    for a, b in zip(cl_logs, plain_logs):
        assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    for (name, p), q in zip(cl.g.named_parameters(), plain.g.parameters()):
        assert torch.allclose(p, q, atol=1e-5), name


def test_stylegan2_ema_ramp_up_as_nvidias():
    from pixforge.tasks.stylegan2 import StyleGAN2Config

    cfg = StyleGAN2Config(batch_size=32, ema_kimg=10.0, ema_rampup=0.05)
    # half-life min(10 000, 5% of the images seen before the step): a copy at step 0, 160 images at step 100
    assert cfg.ema_decay(0) == 0.0
    assert cfg.ema_decay(100) == pytest.approx(0.5 ** (32 / 160))
    assert cfg.ema_decay(10_000) == cfg.ema == pytest.approx(0.5 ** (32 / 10_000))
    assert StyleGAN2Config(batch_size=32, ema_kimg=10.0).ema_decay(100) == pytest.approx(0.5 ** (32 / 10_000))
    assert StyleGAN2Config(ema_kimg=0).ema_decay(5) == 0.0


def test_stylegan2_config_errors(tmp_path):
    r = cli("train", "stylegan2", "--out", tmp_path / "x", *TINY, "image_size=12", ok=False)
    assert r.exit_code == 2 and "power of two >= 8" in r.output
    r = cli("train", "stylegan2", "--out", tmp_path / "x", *TINY, "mixing=1.5", ok=False)
    assert r.exit_code == 2 and "mixing" in r.output


def test_pggan_schedule():
    from pixforge.tasks.pggan import schedule

    # 3 stages (16 px), 16 images per phase at batch 8: 2 steps per phase
    got = [schedule(step, 8, 0.016, 3) for step in range(10)]
    assert got == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0)]


def test_pggan_resume_through_growth_stages_is_bit_identical(tmp_path):
    tiny = [t for t in TINY if not t.startswith(("n_mlp", "image_size"))] + ["image_size=16", "stage_kimg=0.016",
                                                                            "loop.log_every=1", "loop.ckpt_every=3"]
    cli("train", "pggan", "--steps", 8, "--out", tmp_path / "full", *tiny)
    cli("train", "pggan", "--steps", 3, "--out", tmp_path / "split", *tiny)  # interrupted while fading in 8 px
    cli("train", "pggan", "--out", tmp_path / "split", "--steps", 8, "--resume")
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"]
    assert same(full, split)
    assert full["modules"]["G_ema"]["_extra_state"] == {"stage": 2, "alpha": 0.5}
    rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    assert [float(r.split(",")[rows[0].split(",").index("resolution")]) for r in rows[1:]] == [4, 4, 8, 8, 8, 8, 16, 16]
    cli("sample", tmp_path / "full", "-n", 3, "-o", tmp_path / "s.npy")
    import numpy as np

    assert np.load(tmp_path / "s.npy").shape == (3, 1, 16, 16)


def test_stylegan_v1_schedule_as_nvidias_lod_schedule():
    from pixforge.tasks.stylegan2 import StyleGANConfig

    # 32 px from 8 px (stage 1), 16 images at a resolution and 8 to fade the next in, batch 8
    cfg = StyleGANConfig(image_size=32, batch_size=8, lod_training_kimg=0.016, lod_transition_kimg=0.008)
    assert [cfg.growth(step) for step in range(9)] == [(1, 1.0), (1, 1.0), (2, 0.0), (2, 1.0), (2, 1.0), (3, 0.0),
                                                       (3, 1.0), (3, 1.0), (3, 1.0)]
    paper = StyleGANConfig(image_size=1024, batch_size=32)  # 600k + 600k images per resolution from 8 px
    assert paper.growth(600_000 // 32 - 1) == (1, 1.0) and paper.growth(900_000 // 32) == (2, 0.5)
    assert paper.growth(8 * 1_200_000 // 32) == (8, 1.0) == paper.growth(10 ** 7)
    assert StyleGANConfig(image_size=32, progressive=False).growth(0) == (3, 1.0)
    # a batch per resolution (NVIDIA's minibatch_dict): 8 px at 8, 16 px at 4, 32 px at 2 (the base batch is 8)
    cfg = dataclasses.replace(cfg, minibatch_dict={16: 4, "32": 2}, lrate_dict={32: 0.003})
    spans = [cfg.batch_span(step) for step in range(12)]
    assert spans == [(0, 8), (8, 8), (16, 4), (20, 4), (24, 4), (28, 4), (32, 4), (36, 4), (40, 2), (42, 2),
                     (44, 2), (46, 2)]
    assert [cfg.growth(step) for step in (7, 8, 9, 12)] == [(2, 1.0), (3, 0.0), (3, 0.25), (3, 1.0)]
    assert (cfg.lr_at(2), cfg.lr_at(3)) == (0.001, 0.003)
    from pixforge.train.data import StepBatches

    order = StepBatches(10, cfg.batch_span, seed=1)  # the data follow: batch 9 = items 42, 43 of the stream
    assert order.batch(9).tolist() == torch.cat([torch.randperm(10, generator=torch.Generator().manual_seed(
        1_000_003 + e)) for e in (4,)])[2:4].tolist()
    for bad in ("lod_initial_resolution=12", "lod_initial_resolution=64", "lod_training_kimg=0"):
        r = cli("train", "stylegan", "--out", "unused", *TINY, bad, ok=False)
        assert r.exit_code == 2 and bad.split("=")[0] in r.output


def test_stylegan_v1_grows_with_eager_r1_resumes_exactly_across_a_stage_and_samples(tmp_path):
    from pixforge.models.stylegan import StyleGANGenerator
    from pixforge.tasks.gan import load_generator

    (tmp_path / "per_resolution.yaml").write_text("minibatch_dict: {16: 4}\nlrate_dict: {16: 0.0005}\n")
    extra = [*[t for t in TINY if not t.startswith("image_size")], "image_size=16", "r1=1.0", "ema_kimg=0.05",
             "lod_training_kimg=0.016", "lod_transition_kimg=0.016", "loop.log_every=1", "loop.ckpt_every=3",
             "--config", tmp_path / "per_resolution.yaml"]
    cli("train", "stylegan", "--steps", 5, "--out", tmp_path / "full", *extra)
    cli("train", "stylegan", "--steps", 3, "--out", tmp_path / "split", *extra)  # interrupted fading in 16 px
    cli("train", "stylegan", "--out", tmp_path / "split", "--steps", 5, "--resume")
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    assert set(full["modules"]) == {"G", "D", "G_ema"} and same(full, load_checkpoint(
        tmp_path / "split" / "checkpoints" / "last.pt")["task"])
    assert any(".adain." in k for k in full["modules"]["G"])  # the v1 generator, PGGAN's D (fromRGB per stage)
    assert "from_rgbs.2.0.weight" in full["modules"]["D"]
    assert full["modules"]["G_ema"]["_extra_state"] == full["modules"]["D"]["_extra_state"] == {"stage": 2,
                                                                                               "alpha": 0.5}
    # R1 in every D step, inside the D loss: Adam's settings are not corrected for a lazy step; no path length;
    # 16 px has its own learning rate (and batch: 8 px at 8, then 4 images per step)
    assert full["optimizers"]["D"]["param_groups"][0]["lr"] == full["optimizers"]["G"]["param_groups"][0]["lr"] == 0.0005
    # Adam's moments start afresh when 16 px starts fading in (step 2; NVIDIA's reset_opt_for_new_lod)
    assert all(float(s["step"]) == 3 for s in full["optimizers"]["D"]["state"].values())
    rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert [r.split(",")[header.index("r1")] != "" for r in rows[1:]] == [True] * 5
    assert [(float(r.split(",")[header.index("resolution")]), float(r.split(",")[header.index("alpha")]))
            for r in rows[1:]] == [(8, 1), (8, 1), (16, 0), (16, 0.25), (16, 0.5)]
    assert "path_length" not in header
    g, _ = load_generator(tmp_path / "full")
    assert isinstance(g, StyleGANGenerator) and g.resolution == 16
    import numpy as np

    s = {}
    for name, args in {"all": ["--truncation-cutoff", 6], "v1": [], "two": ["--truncation-cutoff", 2]}.items():
        torch.manual_seed(0)  # the same noise maps (drawn fresh by `sample`) in each
        cli("sample", tmp_path / "full", "-n", 3, "-o", tmp_path / f"{name}.npy", "--truncation", 0.0, *args)
        s[name] = np.load(tmp_path / f"{name}.npy")
    assert s["all"].shape == (3, 1, 16, 16) and np.array_equal(s["all"], s["v1"])  # 6 layers: cutoff 8 = all
    spread = {k: np.abs(v - v.mean(0)).mean() for k, v in s.items()}  # psi 0 below the cutoff: the average w
    assert spread["all"] < spread["two"]
    cli("stylemix", tmp_path / "full", "-o", tmp_path / "mix.npy", "--rows", 2, "--cols", 2)
    assert np.load(tmp_path / "mix.npy").shape == (9, 1, 16, 16)
    r = cli("train", "stylegan", "--out", tmp_path / "x", *TINY, "arch=stylegan2", ok=False)
    assert r.exit_code == 2 and "arch" in r.output
    cli("train", "gan", "--steps", 1, "--out", tmp_path / "dcgan", "--data", "tiny", "loop.progress=false",
        "loop.tensorboard=false", "loop.sample_every=0", "--batch-size", "8")
    r = cli("sample", tmp_path / "dcgan", "-o", tmp_path / "d.npy", "--truncation-cutoff", 2, ok=False)
    assert r.exit_code == 2 and "--truncation-cutoff needs a StyleGAN generator" in r.output


@pytest.mark.slow
def test_pggan_ddp_two_cpu_processes_grow_identically(tmp_path):
    # 5 steps at 16 px: 4 px, the 8 px fade-in and stabilisation (layers unused at first: DDP must allow it)
    r0, r1 = train_ddp(tmp_path, "pggan", {"data": "tiny", "image_size": "16", "z_dim": "8", "channel_base": "64",
                                           "channel_max": "16", "batch_size": "8", "stage_kimg": "0.016",
                                           "loop.steps": "5", "loop.sample_every": "0"})
    assert same(r0, r1) and r0["G"]["_extra_state"] == {"stage": 1, "alpha": 1.0}
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["task"]["modules"]
    assert same(saved["G"], r0["G"]) and same(saved["D"], r0["D"])  # rank 0's checkpoint


@pytest.mark.slow
def test_stylegan_v1_ddp_two_cpu_processes_grow_identically_with_a_batch_per_resolution(tmp_path):
    # 5 steps at 16 px from 8 px: 8 images per step at 8 px, then 4 (2 per process) while 16 px fades in
    r0, r1 = train_ddp(tmp_path, "stylegan", {"data": "tiny", "image_size": "16", "z_dim": "8", "n_mlp": "2",
                                              "channel_base": "64", "channel_max": "16", "batch_size": "8",
                                              "minibatch_dict": {16: 4}, "lod_training_kimg": "0.016",
                                              "lod_transition_kimg": "0.016", "loop.steps": "5",
                                              "loop.sample_every": "0"})
    # w_avg follows each process's own batches between DDP's buffer broadcasts (NVIDIA's consistency check
    # ignores it too: check_ddp_consistency(ignore_regex=r'.*\.w_avg')); everything else is identical
    w_avg = [r["G"].pop("w_avg") for r in (r0, r1)]
    assert same(r0, r1) and r0["G"]["_extra_state"] == {"stage": 2, "alpha": 0.5}
    assert torch.allclose(*w_avg, atol=0.05)


def test_shipped_high_fidelity_recipes_load_into_their_tasks_and_build():
    """configs/<task>_<data>32.yaml and <task>_paper.yaml (biggan: _imagenet128) load into the task's config;
    the 32 px ones name their dataset and their generators build at 32 px."""
    from pathlib import Path

    import pixforge
    from pixforge.config import load_config
    from pixforge.registry import TASKS
    from pixforge.tasks.gan import resolve

    files = {p.stem: p for p in (Path(pixforge.__file__).parent / "configs").glob("*.yaml")
             if p.stem.split("_")[0] in ("biggan", "stylegan", "stylegan2", "pggan")}
    for data in ("mnist", "fashion-mnist", "faces"):
        assert {f"{t}_{data}32" for t in ("biggan", "stylegan2", "pggan")} <= files.keys()
    assert {"stylegan_mnist32", "stylegan_paper", "stylegan2_paper", "pggan_paper", "biggan_imagenet128"} <= files.keys()
    for name, path in sorted(files.items()):
        task = TASKS.get(name.split("_")[0])
        cfg = load_config(task.Config, path)
        assert cfg.loop.steps > 0
        if not name.endswith("32"):
            continue
        data = name.split("_", 1)[1][:-2]
        assert cfg.data == {"mnist": "mnist5k"}.get(data, data) and cfg.image_size == 32, name
        cfg = dataclasses.replace(cfg, sample_shape=[1, 32, 32])
        g = task.build_generator(resolve(cfg, (1, 32, 32), 10) if name.startswith("biggan") else cfg)
        assert g(torch.randn(2, cfg.z_dim), torch.tensor([0, 1]) if g.num_classes else None).shape == (2, 1, 32, 32)
