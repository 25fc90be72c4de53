"""BigGAN networks (models/biggan.py) and their conditional batch norm; a tiny training through `train gan`."""
from __future__ import annotations

import pytest
import torch
from gan_fakes import cli, install

from pixforge.errors import ConfigError
from pixforge.models.biggan import BigGANDiscriminator, BigGANGenerator
from pixforge.models.gan import DownBlock
from pixforge.nn.norms import LinearConditionalBatchNorm2d

pytestmark = pytest.mark.usefixtures("one_thread")


def count(m) -> int:
    return sum(p.numel() for p in m.parameters())


def test_biggan_128_parameter_counts_match_biggan_pytorch():
    with torch.device("meta"):  # BigGAN-PyTorch's ImageNet 128 model: ch 96, dim_z 120, shared 128, attention at 64
        g = BigGANGenerator(120, size=128, width=96, num_classes=1000, attention=True)
        d = BigGANDiscriminator(size=128, width=96, num_classes=1000, attention=True)
    assert count(g) == 70_433_988 and count(d) == 87_982_370  # as its train.py prints them


def test_hierarchical_latents_and_shared_embedding():
    torch.manual_seed(0)
    g = BigGANGenerator(16, size=32, width=4, num_classes=3).eval()
    assert g.chunk == 4 and len(g.blocks) == 3  # z in 4 chunks: the 4x4 input and one per up-block
    assert all(block.n1.gain.in_features == 128 + 4 for block in g.blocks)  # [shared embedding, z chunk]
    assert sum(isinstance(m, torch.nn.Embedding) for m in g.modules()) == 1  # one table for every block
    z, y = torch.randn(2, 16), torch.tensor([0, 2])
    with torch.no_grad():
        base = g(z, y)
        for k in range(4):  # every chunk matters
            z2 = z.clone()
            z2[:, 4 * k:4 * k + 4] += 1
            assert not torch.allclose(g(z2, y), base)
        assert not torch.allclose(g(z, torch.tensor([1, 1])), base)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in g.modules()
                   if isinstance(m, torch.nn.Embedding))
    assert all(torch.nn.utils.parametrize.is_parametrized(m) for m in g.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))  # spectral norm in G
    with pytest.raises(ConfigError, match="multiple of 4"):
        BigGANGenerator(10, size=32)
    with pytest.raises(ConfigError, match="not 48"):
        BigGANDiscriminator(size=48)
    assert BigGANDiscriminator(size=64, width=2, num_classes=3)(torch.randn(2, 3, 64, 64), y).shape == (2,)


def test_linear_conditional_batch_norm_and_plain_down_block():
    norm = LinearConditionalBatchNorm2d(3, cond_dim=5).train()
    x, c = torch.randn(4, 3, 6, 6) * 2 + 1, torch.randn(4, 5)
    normed = (x - x.mean((0, 2, 3), keepdim=True)) / (x.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    expected = normed * (1 + c @ norm.gain.weight.T)[:, :, None, None] + (c @ norm.bias.weight.T)[:, :, None, None]
    assert torch.allclose(norm(x, c), expected, atol=1e-5)
    block = DownBlock(8, 8, downsample=False)
    assert block.skip is None and block(torch.randn(1, 8, 4, 4)).shape == (1, 8, 4, 4)


def test_biggan_trains_and_samples_through_the_gan_task(tmp_path, monkeypatch):
    install(monkeypatch)
    out = tmp_path / "run"
    cli("train", "gan", "--data", "tiny", "image_size=32", "--arch", "biggan", "--loss", "hinge", "conditional=true",
        "ortho=1e-4", "ema=0.9", "width=2", "z_dim=8", "--batch-size", "4", "--steps", 2, "--out", out,
        "loop.progress=false", "loop.tensorboard=false", "loop.sample_every=0")
    cli("sample", out, "-n", 3, "-o", tmp_path / "x.npy", "--truncation", 0.5, "--class", 1)
    import numpy as np

    assert np.load(tmp_path / "x.npy").shape == (3, 1, 32, 32)


def test_biggan_task_has_biggans_defaults_resumes_exactly_and_refuses_bad_values(tmp_path, monkeypatch):
    import yaml
    from gan_fakes import same

    from pixforge.train import load_checkpoint

    install(monkeypatch)
    tiny = ["--data", "tiny", "width=2", "z_dim=8", "--batch-size", "4", "ema_start=1", "loop.progress=false",
            "loop.tensorboard=false", "loop.sample_every=0", "loop.ckpt_every=1"]
    cli("train", "biggan", "--steps", 2, "--out", tmp_path / "full", *tiny)
    cli("train", "biggan", "--steps", 1, "--out", tmp_path / "split", *tiny)
    cli("train", "biggan", "--out", tmp_path / "split", "--steps", 2, "--resume")
    full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["task"]
    assert set(full["modules"]) == {"G", "D", "G_ema"}
    assert same(full, load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"])
    used = yaml.safe_load((tmp_path / "full" / "config.yaml").read_text())
    assert (used["arch"], used["loss"], used["lr_g"], used["lr_d"], used["betas"], used["n_critic"], used["ortho"],
            used["spectral_norm"], used["image_size"]) == ("biggan", "hinge", 5e-5, 2e-4, [0.0, 0.999], 2, 1e-4,
                                                          True, 32)
    assert used["conditional"] and used["num_classes"] == 3  # the labelled data make it class-conditional
    assert any(k.endswith("parametrizations.weight.original") for k in full["modules"]["D"])  # SN on D and G
    assert any(k.endswith("parametrizations.weight.original") for k in full["modules"]["G"])
    cli("sample", tmp_path / "full", "-n", 3, "-o", tmp_path / "x.npy", "--truncation", 0.5, "--class", 2)
    for bad, message in (("arch=dcgan", "arch"), ("image_size=48", "32, 64, 128"), ("z_dim=6", "multiple of 4"),
                         ("ortho=-1", "ortho")):
        r = cli("train", "biggan", "--steps", 1, "--out", tmp_path / "bad", *tiny, bad, ok=False)
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output
