"""CoGAN: the coupled networks (parameter counts written out from the reference definitions, what is shared),
one training step against its formulas, an exact resume, and the domain selection it trains on."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixforge.config import load_config
from pixforge.data.domains import Domains
from pixforge.errors import BadInputError
from pixforge.models.cogan import CoupledDiscriminator, CoupledGenerator
from pixforge.registry import TASKS
from pixforge.train import run

from gan_fakes import resumes_exactly

pytestmark = pytest.mark.usefixtures("one_thread")


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_and_sharing():
    g, d = CoupledGenerator(), CoupledDiscriminator()
    # CoGen28x28: transposed convs 100->1024 (4x4), 1024->512, 512->256, 256->128 (3x3), two 128->1 (6x6),
    # four PReLUs; the batch norms have no affine parameters
    assert count(g) == (100 * 1024 * 16 + 1024 + 1024 * 512 * 9 + 512 + 512 * 256 * 9 + 256 + 256 * 128 * 9 + 128
                        + 2 * (128 * 36 + 1) + 4) == 7_842_694
    # CoDis28x28: two 1->20 5x5 convs, 20->50 5x5, 50->500 4x4, a PReLU, 500->2 1x1
    assert count(d) == 2 * (25 * 20 + 20) + 20 * 50 * 25 + 50 + 50 * 500 * 16 + 500 + 1 + 500 * 2 + 2 == 427_593
    assert {n.split(".")[0] for n, _ in g.named_parameters() if n.split(".")[0].endswith(("_a", "_b"))} == {
        "dconv4_a", "dconv4_b"}  # G: only the last layer is per domain
    assert {n.split(".")[0] for n, _ in d.named_parameters() if n.split(".")[0].endswith(("_a", "_b"))} == {
        "conv0_a", "conv0_b"}  # D: only the first
    g.eval()
    z = torch.randn(3, 100)
    a, b = g(z)
    assert a.shape == b.shape == (3, 1, 28, 28) and 0 <= a.min() and b.max() <= 1
    h = g.shared(z)  # both images of a code come from the same shared features
    assert torch.equal(a, torch.sigmoid(g.dconv4_a(h))) and torch.equal(b, torch.sigmoid(g.dconv4_b(h)))
    x_a, x_b = torch.rand(3, 1, 28, 28), torch.rand(2, 1, 28, 28)
    out = d(x_a, x_b)
    assert out.shape == (5, 2)
    shared = d.conv3(d.prelu2(d.conv2(d.pool1(d.conv1(d.pool0(d.conv0_a(x_a)))))))
    assert torch.allclose(out[:3], shared.flatten(1), atol=1e-6)  # A's batch first


def tiny(count: int = 24) -> Domains:
    from pixforge.data.builtin import digits

    images, labels = digits(size=28, channels=1)
    return Domains(images[:count], torch.arange(count) % 3, ("x", "y", "z"), labels[:count])


def config(out, steps: int, resume: bool = False):
    cls = TASKS.get("cogan")
    return load_config(cls.Config, None, {"domains": "z,x", "batch_size": 4, "latent_dims": 8, "loop.steps": steps,
                                          "loop.out": str(out), "loop.resume": resume, "loop.progress": False,
                                          "loop.tensorboard": False, "loop.device": "cpu", "loop.sample_every": 0,
                                          "loop.ckpt_every": 2, "loop.log_every": 1})


def test_one_step_by_hand():
    cls = TASKS.get("cogan")
    task = cls.from_config(config("unused", 1), torch.device("cpu"), tiny())
    assert task.data.names == ("z", "x") and len(task.data.images) == 16  # the selected domains, relabelled
    state = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in task.modules.items()}
    torch.manual_seed(3)
    logs = task.train_step(0)
    gen, dis = CoupledGenerator(8), CoupledDiscriminator()
    gen.load_state_dict(state["gen"])
    dis.load_state_dict(state["dis"])
    torch.manual_seed(3)
    x_a, x_b = ((task.batch(d, 0) + 1) / 2 for d in (0, 1))
    ones = torch.ones(8, dtype=torch.int64)
    out_real = dis(x_a, x_b)
    out_fake = dis(*gen(torch.randn(4, 8)))
    d_loss = F.cross_entropy(out_real, ones) + F.cross_entropy(out_fake, ones * 0)
    assert logs["d_loss"].item() == pytest.approx(d_loss.item(), rel=1e-5)
    acc = ((out_real.argmax(1) == 1).float().mean() + (out_fake.argmax(1) == 0).float().mean()) / 2
    assert logs["d_accuracy"].item() == pytest.approx(acc.item())
    assert torch.isfinite(logs["g_loss"])


def test_resume_is_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    split, _ = resumes_exactly(lambda out, steps, resume: run(TASKS.get("cogan"), config(out, steps, resume),
                                                             data=tiny()), tmp_path)
    a, b = split.pairs(torch.randn(2, 8))
    assert a.shape == (2, 1, 28, 28) and a.min() >= -1 and b.max() <= 1


def test_domain_selection():
    data = tiny(6)
    picked = data.select(["y", "x"])
    assert picked.names == ("y", "x") and picked.domains.tolist() == [0, 0, 1, 1]
    assert torch.equal(picked.images[0], data.images[1]) and torch.equal(picked.classes[2:], data.classes[[0, 3]])
    for bad in (["x"], ["x", "x"], ["x", "w"]):
        with pytest.raises(BadInputError, match="two or more different domains"):
            data.select(bad)
    with pytest.raises(Exception, match="domains=A,B"):
        TASKS.get("cogan").from_config(config("unused", 1).__class__(domains=""), torch.device("cpu"), data)


def test_sample_writes_pairs_of_a_run(tmp_path, monkeypatch):
    """`pixforge sample RUN` on a CoGAN run: the pairs of the seed's codes, domain A over domain B per column."""
    import numpy as np
    from PIL import Image

    from pixforge.weights import torch_load

    from gan_fakes import cli

    monkeypatch.setattr("pixforge.train.loop.plot_losses", lambda *args, **kwargs: None)
    run(TASKS.get("cogan"), config(tmp_path / "run", 2), data=tiny())
    out = tmp_path / "run"
    gen = CoupledGenerator(8).eval()
    gen.load_state_dict(torch_load(out / "checkpoints" / "last.pt", "a checkpoint")["task"]["modules"]["gen"])
    with torch.no_grad():
        a, b = gen(torch.randn(3, 8, generator=torch.Generator().manual_seed(5)))
    cli("sample", out, "-n", 3, "-o", tmp_path / "pairs.npy", "--seed", 5)
    pairs = np.load(tmp_path / "pairs.npy")
    assert pairs.shape == (3, 2, 1, 28, 28)
    assert np.allclose(pairs[:, 0], a * 2 - 1, atol=1e-6) and np.allclose(pairs[:, 1], b * 2 - 1, atol=1e-6)
    cli("sample", out, "-n", 3, "-o", tmp_path / "other.npy", "--seed", 6)
    assert not np.allclose(np.load(tmp_path / "other.npy"), pairs)
    cli("sample", out, "-n", 3, "-o", tmp_path / "pairs.png", "--seed", 5)
    grid = np.asarray(Image.open(tmp_path / "pairs.png").convert("L"), dtype=np.float64) / 255
    assert grid.shape == (2 + 2 * 30, 2 + 3 * 30)  # 2 rows (A, B) x 3 codes of 28 px, 2 px padding
    for row, images in enumerate((a, b)):
        for col in range(3):
            cell = grid[2 + 30 * row:30 + 30 * row, 2 + 30 * col:30 + 30 * col]
            assert np.abs(cell - images[col, 0].numpy()).max() < 1 / 255 + 1e-6
    cli("sample", out, "-n", 10, "-o", tmp_path / "bands.png")  # 8 codes a band, the last band padded
    assert Image.open(tmp_path / "bands.png").size == (2 + 8 * 30, 2 + 4 * 30)
    for bad in (("--class", 1), ("--ema",)):
        result = cli("sample", out, "-n", 3, "-o", tmp_path / "x.png", *bad, ok=False)
        assert result.exit_code == 2 and ("class-conditional" in result.output or "no EMA" in result.output)
    result = cli("interpolate", out, "-o", tmp_path / "x.png", ok=False)
    assert result.exit_code == 2 and "pixforge sample" in result.output
