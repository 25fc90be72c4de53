"""pix2pix, pix2pixHD and SPADE training (pixforge.tasks.translation): the loss wiring against hand computations on
tiny tensors, few-step training with bit-identical resume, run folders read by ``pixforge translate``."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from gan_fakes import cli, same

from pixforge.config import load_config
from pixforge.errors import ConfigError, WeightsError
from pixforge.io import read_image, save_image
from pixforge.tasks.translation import (Pix2PixHDTask, Pix2PixTask, SPADETask, epoch_schedule, receptive_field,
                                        reference_loss, translation_grid)
from pixforge.train import LoopConfig, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = ["--quiet", "loop.tensorboard=false", "loop.workers=0"]
TINY = {  # the smallest networks of each task, 32 px
    "pix2pix": ["--data", "edges2photos", "size=32", "netG=unet", "ngf=4", "ndf=4", "batch_size=2"],
    "pix2pixhd": ["--data", "labels2shapes", "size=32", "ngf=4", "ndf=4", "n_blocks_global=1", "vgg=0",
                  "batch_size=2"],
    "spade": ["--data", "labels2shapes", "size=32", "ngf=4", "ndf=4", "vgg=0", "batch_size=2"],
}


def task(kind, **overrides):
    """A task built from the CPU recipe with tiny networks (no files written)."""
    cls = {"pix2pix": Pix2PixTask, "pix2pixhd": Pix2PixHDTask, "spade": SPADETask}[kind]
    args = TINY[kind]
    values = {"data": args[1], **dict(a.split("=") for a in args[2:]), "val_items": 4, "sample_items": 2,
              "loop.workers": 0, "loop.device": "cpu", **overrides}
    cfg = load_config(cls.Config, cls.default_config(values), values)
    torch.manual_seed(0)
    return cls.from_config(cfg, torch.device("cpu"))


# ------------------------------------------------------------------------------------------------ loss wiring
def test_reference_gan_losses_match_the_references_formulas():
    real, fake = torch.tensor([[0.3, -1.2], [2.0, 0.1]]), torch.tensor([[-0.4, 0.9], [1.5, -2.2]])
    bce = F.binary_cross_entropy_with_logits
    vanilla = reference_loss("vanilla")  # D: ½(BCE(D(x), 1) + BCE(D(G(a)), 0)); G: BCE(D(G(a)), 1)
    d = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    assert torch.allclose(vanilla.d_loss(real, fake), d)
    assert torch.allclose(vanilla.g_loss(fake), bce(fake, torch.ones_like(fake)))
    lsgan = reference_loss("lsgan")  # D: ½(MSE(D(x), 1) + MSE(D(G(a)), 0)); G: MSE(D(G(a)), 1)
    assert torch.allclose(lsgan.d_loss(real, fake), 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean()))
    assert torch.allclose(lsgan.g_loss(fake), ((fake - 1) ** 2).mean())
    hinge = reference_loss("hinge")  # SPADE: mean(relu(1 - D(x))) + mean(relu(1 + D(G(a)))); G: -mean(D(G(a)))
    assert torch.allclose(hinge.d_loss(real, fake), F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    assert torch.allclose(hinge.g_loss(fake), -fake.mean())
    # pix2pixHD sums over its scales (GANLoss adds the per-scale MSEs), each scale a list of features + output
    scales_real = [[torch.randn(1, 2, 3, 3), real[None, None]], [torch.randn(1, 2, 2, 2), 2 * real[None, None]]]
    scales_fake = [[torch.randn(1, 2, 3, 3), fake[None, None]], [torch.randn(1, 2, 2, 2), -fake[None, None]]]
    summed = reference_loss("lsgan", scales=2)
    g = ((fake - 1) ** 2).mean() + ((-fake - 1) ** 2).mean()
    d = 0.5 * (((real - 1) ** 2).mean() + ((2 * real - 1) ** 2).mean() + (fake ** 2).mean() + (fake ** 2).mean())
    assert torch.allclose(summed.g_loss(scales_fake), g) and torch.allclose(summed.d_loss(scales_real, scales_fake), d)
    assert torch.allclose(reference_loss("vanilla", weight=0.25).g_loss(fake), 0.25 * bce(fake, torch.ones_like(fake)))
    with pytest.raises(ConfigError, match="unknown gan_mode 'wgan'"):
        reference_loss("wgan")


def test_pix2pix_generator_objective_is_cgan_plus_100_l1():
    t = task("pix2pix")
    real, a = t.real(0)
    assert a.shape == (2, 3, 32, 32) and real.shape == (2, 3, 32, 32)
    with torch.no_grad():
        fake, cond = t.fake(a, 2)
        logits = t.critic(t.d, fake, cond)
        got = t.loss.g_loss(logits) + sum(t.extra_losses(fake, cond, real).values())
        expected_logits = t.d(torch.cat([a, fake], 1))  # D sees (input, output) stacked on channels
        expected = (F.binary_cross_entropy_with_logits(expected_logits, torch.ones_like(expected_logits))
                    + 100 * (fake - real).abs().mean())
    assert torch.allclose(got, expected)
    assert set(t.modules) == {"G", "D"}
    l1_only = task("pix2pix", gan=0)
    assert set(l1_only.modules) == {"G"} and set(l1_only.optimizers) == {"G"}
    logs = l1_only.train_step(0)
    assert set(logs) == {"l1"}
    assert task("pix2pix", l1=0).extra_losses(fake, cond, real) == {}
    with pytest.raises(ConfigError, match="both 0"):
        task("pix2pix", gan=0, l1=0)


def test_pix2pix_bf16_on_a_cpu_runs_d_channels_last():
    """loop.amp=true (bf16 autocast): the PatchGAN alone goes channels-last on a CPU; fp32 keeps both contiguous."""
    fp32, bf16 = task("pix2pix"), task("pix2pix", **{"loop.amp": True})
    cl = torch.channels_last
    assert not any(p.is_contiguous(memory_format=cl) and not p.is_contiguous() for p in fp32.d.parameters())
    assert all(p.is_contiguous(memory_format=cl) for p in bf16.d.parameters() if p.dim() == 4)
    assert not any(p.is_contiguous(memory_format=cl) and not p.is_contiguous() for p in bf16.g.parameters())
    logs = bf16.train_step(0)
    assert all(torch.isfinite(v) for v in logs.values()) and set(logs) == {"d_loss", "g_loss", "l1"}
    assert all(p.dtype == torch.float32 for p in bf16.d.parameters())


def test_patchgan_receptive_fields_and_full_image_choice():
    assert [receptive_field(n) for n in (1, 2, 3, 4, 5)] == [16, 34, 70, 142, 286]  # the paper's 16, 70, 286
    def convs(t):
        return len([m for m in t.d.modules() if isinstance(m, torch.nn.Conv2d)])

    assert convs(task("pix2pix", netD="n_layers", n_layers_D=1)) == 3  # 16 px patches: too small for 32 px ...
    assert convs(task("pix2pix", netD="full")) == 4  # ... so "full" takes n_layers 2 (34 px)
    assert type(task("pix2pix", netD="pixel").d).__name__ == "PixelDiscriminator"


def test_pix2pixhd_feature_matching_and_gan_weights_by_hand():
    t = task("pix2pixhd")  # num_D 2, n_layers 3, λ_feat 10
    real, a = t.real(0)
    assert a.shape[1] == 5  # 4 one-hot classes + the instance-edge map
    with torch.no_grad():
        fake, cond = t.fake(a, 2)
        fake_feats = t.critic(t.d, fake, cond)
        fm = t.extra_losses(fake, cond, real)["feat"]
        real_feats = t.d(torch.cat([a, real], 1))
    expected = sum(1 / 2 * 4 / (3 + 1) * 10 * F.l1_loss(f, r)
                   for fs, rs in zip(fake_feats, real_feats) for f, r in zip(fs[:-1], rs[:-1]))
    assert torch.allclose(fm, expected)
    g = sum(F.mse_loss(fs[-1], torch.ones_like(fs[-1])) for fs in fake_feats)  # summed over the 2 scales
    assert torch.allclose(t.loss.g_loss(fake_feats), g)


def test_vgg_loss_layers_and_weights(monkeypatch):
    t = task("pix2pixhd", vgg=10.0, vgg_weights="random")
    real, a = t.real(0)
    fake = torch.rand_like(real) * 2 - 1
    got = t.vgg_term(fake, real)["vgg"]
    assert t._vgg.layer_weights == {"relu1_1": 1 / 32, "relu2_1": 1 / 16, "relu3_1": 1 / 8, "relu4_1": 1 / 4,
                                    "relu5_1": 1.0}
    fx, fy = t._vgg.vgg((fake + 1) / 2), t._vgg.vgg((real + 1) / 2)
    expected = 10 * sum(w * F.l1_loss(fx[k], fy[k]) for k, w in t._vgg.layer_weights.items())
    assert torch.allclose(got, expected)


def test_spade_feature_matching_kl_and_ttur():
    from pixforge.losses.regularizers import kl_normal

    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    by_hand = 0.5 * sum(float(torch.exp(lv) + m ** 2 - 1 - lv) for m, lv in zip(mu[0], logvar[0]))
    assert kl_normal(mu, logvar).item() == pytest.approx(by_hand)
    t = task("spade", use_vae=True)
    assert t.optimizers["G"].param_groups[0]["lr"] == 1e-4 and t.optimizers["D"].param_groups[0]["lr"] == 4e-4
    assert t.optimizers["G"].param_groups[0]["betas"] == (0.0, 0.9)
    encoder = {id(p) for p in t.g.encoder.parameters()}
    assert encoder <= {id(p) for p in t.optimizers["G"].param_groups[0]["params"]}  # E trains with G
    real, a = t.real(0)
    torch.manual_seed(1)
    fake, cond = t.fake(a, 2)
    fake_feats = t.critic(t.d, fake, cond)
    terms = t.extra_losses(fake, cond, real)
    real_feats = t.d(torch.cat([a, real], 1))
    expected = sum(10 / 2 * F.l1_loss(f, r.detach()) for fs, rs in zip(fake_feats, real_feats)
                   for f, r in zip(fs[:-1], rs[:-1]))
    assert torch.allclose(terms["feat"], expected)
    mu, logvar = t.g.encoder(real)
    assert torch.allclose(terms["kld"], 0.05 * kl_normal(mu, logvar))
    assert torch.allclose(t.loss.g_loss(fake_feats), -(fake_feats[0][-1].mean() + fake_feats[1][-1].mean()) / 2)


def test_epoch_schedule_is_the_references_linear_decay():
    loop = epoch_schedule(LoopConfig(), epochs=100, epochs_decay=100, items=400, batch_size=1)  # facades
    assert (loop.steps, loop.lr_decay_start, loop.lr_schedule, loop.lr_final) == (80_000, 40_000, "linear", 0.0)
    assert epoch_schedule(LoopConfig(steps=7), 0, 0, 400, 1).steps == 7


# ------------------------------------------------------------------------------------------------ runs
def train(kind, out, steps, *extra, ok=True):
    return cli("train", kind, *TINY[kind], "--steps", steps, "--out", out, *QUIET, *extra, ok=ok)


@pytest.mark.parametrize("kind,extra", [("pix2pix", []),
                                        pytest.param("spade", ["use_vae=true"], marks=pytest.mark.slow)])
def test_few_steps_then_resume_is_bit_identical(tmp_path, kind, extra):
    args = [*extra, "loop.ckpt_every=3", "loop.val_every=3", "val_items=4", "sample_items=2"]
    train(kind, tmp_path / "full", 6, *args, "loop.sample_every=3")  # samples must not change the training
    train(kind, tmp_path / "split", 4, *args, "loop.sample_every=0")  # "interrupted" after 4 steps
    r = cli("train", kind, "--out", tmp_path / "split", "--steps", 6, "--resume")
    assert "resumed from step 4" in r.output
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"]
    assert same(full["modules"], split["modules"]) and same(full["optimizers"], split["optimizers"])
    assert (tmp_path / "full" / "checkpoints" / "best.pt").is_file()
    grid = read_image(tmp_path / "full" / "samples" / "step0000006.png")
    assert grid.shape[-1] > 3 * 32 and grid.shape[-2] > 2 * 32  # 2 rows of input | output | target
    assert "val_l1" in (tmp_path / "full" / "metrics.csv").read_text()


def test_run_folder_translates_with_the_trained_generator(tmp_path):
    from pixforge.translate import load_generator, translate

    run = tmp_path / "p2p"
    train("pix2pix", run, 2, "loop.sample_every=0")
    g = load_generator(run)
    saved = load_checkpoint(run / "checkpoints" / "last.pt")["task"]["modules"]["G"]
    assert same(g.state_dict(), saved)
    image = torch.rand(3, 40, 52)  # not a multiple of 32: padded and cropped back
    save_image(image, tmp_path / "in.png")
    cli("translate", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", run)
    assert read_image(tmp_path / "out.png").shape == (3, 40, 52)
    torch.manual_seed(0)
    out = translate(image, model=run / "checkpoints" / "best.pt", device="cpu", eval_mode=True)
    with torch.no_grad():
        g.eval()
        from pixforge.nn.conv import pad_to_multiple

        padded, _ = pad_to_multiple(image[None] * 2 - 1, 32)
        g.load_state_dict(load_checkpoint(run / "checkpoints" / "best.pt")["task"]["modules"]["G"])
        expected = ((g(padded)[..., :40, :52] + 1) / 2).clamp(0, 1)[0]
    assert torch.allclose(out, expected, atol=1e-6)
    r = cli("translate", tmp_path / "in.png", "-o", tmp_path / "o2.png", "--model", run, "--direction", "BtoA",
            ok=False)
    assert r.exit_code == 2 and "direction it was trained in" in r.output
    with pytest.raises(WeightsError, match="not the checkpoint of a translation run"):
        gan = tmp_path / "gan"
        cli("train", "gan", "--data", "grid25", "--steps", 2, "--out", gan, "--quiet", "loop.tensorboard=false")
        load_generator(gan)


def test_labels_runs_translate_their_label_maps_and_grids(tmp_path):
    train("pix2pixhd", tmp_path / "hd", 2, "loop.sample_every=2", "sample_items=2", "netG=local",
          "n_blocks_local=1", "n_downsample_global=3")  # 32 px: the global G sees 16 px, 2x2 at its bottom
    from pixforge.translate import load_generator

    g = load_generator(tmp_path / "hd")
    assert type(g).__name__ == "LocalEnhancer" and g.in_channels == 5
    grid = translation_grid(torch.zeros(2, 5, 8, 8).scatter_(1, torch.ones(2, 1, 8, 8, dtype=torch.long), 1),
                            torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8))
    assert grid.shape == (3, 2 * 8 + 3 * 2, 3 * 8 + 4 * 2)


def test_bad_settings_are_one_line_errors(tmp_path):
    r = train("pix2pix", tmp_path / "a", 2, "netG=unet_256", ok=False)
    assert r.exit_code == 2 and "size must be a multiple of 256" in r.output
    r = train("pix2pix", tmp_path / "b", 2, "netD=huge", ok=False)
    assert r.exit_code == 2 and "netD: 'huge' is not one of" in r.output
    r = train("spade", tmp_path / "c", 2, "--data", "nonsense", ok=False)
    assert r.exit_code == 2 and "unknown translation data 'nonsense'" in r.output
    r = train("pix2pix", tmp_path / "d", 2, "--data", "grey2colour", "instance=true", ok=False)
    assert r.exit_code == 2 and "unknown" in r.output
    r = train("pix2pix", tmp_path / "e", 2, "--data", "grey2colour", "edges=hed", ok=False)
    assert r.exit_code == 2 and "edges=hed applies to the built-in edges2photos data only" in r.output
    r = train("pix2pix", tmp_path / "f", 2, "edges=sobel", ok=False)
    assert r.exit_code == 2 and "edges: 'sobel' is not one of" in r.output


def test_defaults_are_the_references():
    p2p = load_config(Pix2PixTask.Config, Pix2PixTask.default_config({"data": "facades"}), {})
    assert (p2p.netG, p2p.netD, p2p.gan_mode, p2p.l1, p2p.batch_size, p2p.size, p2p.load_size) == \
        ("unet_256", "basic", "vanilla", 100.0, 1, 256, 286)
    assert (p2p.lr_g, p2p.betas, p2p.epochs, p2p.epochs_decay, p2p.dropout, p2p.norm) == \
        (2e-4, (0.5, 0.999), 100, 100, True, "batch")
    hd = load_config(Pix2PixHDTask.Config, Pix2PixHDTask.default_config({"data": "x"}), {})
    assert (hd.num_D, hd.n_layers_D, hd.feat, hd.vgg, hd.gan_mode, hd.instance) == (2, 3, 10.0, 10.0, "lsgan", True)
    sp = load_config(SPADETask.Config, SPADETask.default_config({"data": "x"}), {})
    assert (sp.num_D, sp.n_layers_D, sp.gan_mode, sp.feat, sp.vgg, sp.kld, sp.lr_g, sp.lr_d, sp.betas) == \
        (2, 4, "hinge", 10.0, 10.0, 0.05, 1e-4, 4e-4, (0.0, 0.9))
    cpu = load_config(Pix2PixTask.Config, Pix2PixTask.default_config({"data": "edges2photos"}), {})
    assert cpu.size == 64 and dataclasses.replace(cpu).l1 == 100.0


# ------------------------------------------------------------------------------------------------ downloads
def test_reference_datasets_are_pinned_and_say_what_to_fetch_offline(monkeypatch, tmp_path):
    from pixforge.data import load_dataset
    from pixforge.errors import BadInputError
    from pixforge.registry import DATASETS

    monkeypatch.setenv("PIXFORGE_HOME", str(tmp_path))
    for name in ("horse2zebra", "monet2photo", "summer2winter_yosemite", "facades", "maps", "cityscapes"):
        spec = DATASETS.get(name).files["archive"]
        assert len(spec.sha256) == 64 and spec.size > 10_000_000 and spec.urls[0].endswith(f"/{name}.zip")
    with pytest.raises(BadInputError, match=r"'horse2zebra' is not available offline: put this file into .*"
                                            r"horse2zebra\.zip from https://.*a74d9d392eecca99"):
        load_dataset("horse2zebra")
    r = cli("train", "pix2pix", "--data", "facades", "--out", tmp_path / "run", "--steps", 1, ok=False)
    assert r.exit_code == 2 and "facades.zip" in r.output and "9a31ebf3a31b9b5c" in r.output
    shoes = DATASETS.get("edges2shoes").files["archive"]  # pix2pix's tar.gz: only a third party's md5 is published
    assert shoes.md5 == "71da478b54fedde126e234a2a050bc15" and not shoes.sha256 and shoes.size is None
    with pytest.raises(BadInputError, match=r"edges2shoes\.tar\.gz from https://efrosgans.*md5 71da478b54fedde1"):
        load_dataset("edges2shoes")


def test_an_aligned_tar_gz_checked_by_md5_unpacks_into_a_b_pairs(monkeypatch, tmp_path):
    """An edges2shoes-like tar.gz (NAME/train/*.jpg, NAME/val/*.jpg, A|B side by side) with an md5-only entry."""
    import hashlib
    import tarfile

    from pixforge.data.downloads import ArchiveDataset, RemoteFile, dataset_dir
    from pixforge.errors import BadInputError
    from pixforge.registry import DATASETS
    from pixforge.tasks.translation import open_pairs

    monkeypatch.setenv("PIXFORGE_HOME", str(tmp_path / "home"))
    for phase, n in (("train", 3), ("val", 1)):
        for i in range(n):
            save_image(torch.rand(3, 40, 80), tmp_path / "src" / "shoes" / phase / f"{i}_AB.jpg")
    with tarfile.open(tmp_path / "shoes.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "shoes", "shoes")
    data = (tmp_path / "shoes.tar.gz").read_bytes()
    DATASETS.register("shoes", ArchiveDataset(
        name="shoes", description="test", parse=None, classes=(), license="", homepage="", paired=True,
        files={"archive": RemoteFile("shoes.tar.gz", ("https://example.invalid/shoes.tar.gz",), "", None,
                                     md5=hashlib.md5(data).hexdigest())}), kind="download", family="translation",
        description="test")
    try:
        dataset_dir("shoes").mkdir(parents=True)
        (dataset_dir("shoes") / "shoes.tar.gz").write_bytes(data)
        train = open_pairs("shoes", 32, "train")
        assert type(train).__name__ == "AlignedDataset" and len(train) == 3 and train[0]["A"].shape == (3, 32, 32)
        assert len(open_pairs("shoes", 32, "test")) == 1
        (dataset_dir("shoes") / "shoes.tar.gz").write_bytes(data[:-1] + b"x")
        with pytest.raises(BadInputError, match="md5 .* does not match dataset file shoes.tar.gz"):
            open_pairs("shoes", 32, "train")
    finally:
        DATASETS.unregister("shoes")


def test_a_downloaded_archive_is_checked_unpacked_and_trains(monkeypatch, tmp_path):
    """A facades-like zip (trainA/1_A.jpg + trainB/1_B.jpg ...) registered with its own digest: pix2pix pairs the
    sides by name; a member that would leave the folder is not unpacked."""
    import hashlib
    import zipfile

    from pixforge.data.downloads import ArchiveDataset, RemoteFile, dataset_dir
    from pixforge.registry import DATASETS
    from pixforge.tasks.translation import open_pairs

    monkeypatch.setenv("PIXFORGE_HOME", str(tmp_path / "home"))
    src = tmp_path / "src"
    for phase, n in (("train", 3), ("test", 2)):
        for i in range(n):
            for side in "AB":
                save_image(torch.rand(3, 40, 40), src / "tiny" / f"{phase}{side}" / f"{i}_{side}.jpg")
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(src.rglob("*.jpg")):
            z.write(f, f.relative_to(src))
        z.writestr("../evil.txt", "no")
    data = archive.read_bytes()
    spec = ArchiveDataset(name="tiny", description="test", parse=None, classes=(), license="", homepage="",
                          paired=True, files={"archive": RemoteFile("tiny.zip", ("https://example.invalid/tiny.zip",),
                                                                    hashlib.sha256(data).hexdigest(), len(data))})
    DATASETS.register("tiny", spec, kind="download", family="translation", description="test")
    try:
        dataset_dir("tiny").mkdir(parents=True)
        (dataset_dir("tiny") / "tiny.zip").write_bytes(data)
        train = open_pairs("tiny", 32, "train")
        assert type(train).__name__ == "PairedFolderDataset" and len(train) == 3
        assert [p[0].name for p in train.pairs] == ["0_A.jpg", "1_A.jpg", "2_A.jpg"]
        assert len(open_pairs("tiny", 32, "test")) == 2
        assert not (tmp_path / "home" / "datasets" / "evil.txt").exists()
        assert type(open_pairs("tiny", 32, "train", paired=False)).__name__ == "UnpairedFolderDataset"
        train_args = ["--data", "tiny", "size=32", "load_size=36", "netG=unet", "ngf=4", "ndf=4", "epochs=1",
                      "epochs_decay=1", "--out", tmp_path / "run", *QUIET]
        r = cli("train", "pix2pix", *train_args)
        assert "trained 6 steps" in r.output  # 2 epochs of 3 pairs, batch 1
        (dataset_dir("tiny") / "tiny.zip").write_bytes(data[:-1] + b"x")  # damaged: refused on the next use
        (dataset_dir("tiny") / ".unpacked").unlink()
        r = cli("train", "pix2pix", *train_args, "--overwrite", ok=False)
        assert r.exit_code == 2 and "sha256" in r.output
    finally:
        DATASETS.unregister("tiny")


def _label_folder(root, n=3, size=40, classes=3):
    """pix2pixHD's layout: train_label/ (grey PNG class ids), train_inst/, train_img/ (and a val_ copy)."""
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    for phase in ("train", "val"):
        for sub in ("label", "inst", "img"):
            (root / f"{phase}_{sub}").mkdir(parents=True)
        for i in range(n):
            label = torch.zeros(size, size, dtype=torch.uint8)
            label[:, size // 2:] = 1
            label[size // 2:, :size // 4] = classes - 1
            Image.fromarray(label.numpy(), mode="L").save(root / f"{phase}_label" / f"{i}.png")
            Image.fromarray((label * 10 + 1).numpy(), mode="L").save(root / f"{phase}_inst" / f"{i}.png")
            save_image(torch.rand(3, size, size, generator=rng), root / f"{phase}_img" / f"{i}.png")


def test_label_map_folders_train_with_label_nc(tmp_path):
    from pixforge.data.paired import LabelFolderDataset, translation_dataset

    _label_folder(tmp_path / "labels")
    ds = translation_dataset(tmp_path / "labels", "train", label_nc=4, size=32, load_size=36, seed=0)
    assert isinstance(ds, LabelFolderDataset) and len(ds) == 3
    item = ds[0]
    assert item["A"].shape == (4, 32, 32) and item["B"].shape == (3, 32, 32)
    assert torch.equal(item["A"].argmax(0, keepdim=True), item["label"])  # one-hot of the cropped label map
    assert set(item["label"].unique().tolist()) <= {0, 1, 2} and item["A"][3].sum() == 0  # nearest: no new ids
    assert torch.equal(item["instance"], item["label"] * 10 + 1)  # cropped and flipped with the same draw
    r = train("spade", tmp_path / "run", 2, "--data", tmp_path / "labels", "label_nc=4", "loop.sample_every=0",
              "val_items=2", "sample_items=1")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    r = train("spade", tmp_path / "no-nc", 2, "--data", tmp_path / "labels", ok=False)
    assert r.exit_code == 2 and "label_nc=N" in r.output
    r = train("spade", tmp_path / "few", 2, "--data", tmp_path / "labels", "label_nc=2", ok=False)
    assert r.exit_code == 2 and "class id 2 outside 0..1" in r.output
