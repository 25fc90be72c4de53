"""Helpers for the GAN tests: a tiny labelled image set ("tiny") beside the real datasets, one-thread context."""
from __future__ import annotations


import numpy as np
import torch
from click.testing import CliRunner


def tiny_images(size: int = 0, n: int = 512):
    """8x8 (or ``size``) grey images in [-1, 1], 3 classes: class c is a bright square on the diagonal."""
    g = np.random.default_rng(0)
    s = size or 8
    labels = torch.tensor(g.integers(3, size=n))
    img = torch.full((n, 1, s, s), -1.0)
    for c in range(3):
        a = c * s // 3
        img[labels == c, :, a:a + s // 3, a:a + s // 3] = 1.0
    return img, labels


def fake_dataset(name, **kw):
    """'tiny' from :func:`tiny_images`; every other name or folder from pixforge.data.load_dataset."""
    if name == "tiny":
        return tiny_images(**kw)
    from pixforge.data import load_dataset

    return load_dataset(name, **kw)


def install(monkeypatch) -> None:
    import pixforge.data.gan as data

    monkeypatch.setattr(data, "load_dataset", fake_dataset)


def cli(*args, ok=True):
    """Run a pixforge command in-process; with ``ok``, require exit code 0."""
    from pixforge.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def same(a, b):
    """Nested state dicts equal bit for bit."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


def resumes_exactly(train, root):
    """Train 4 steps at once and 2 + 2 with a resume (``train(out, steps, resume)`` -> (task, result)) under
    ``root``; every module must come out bit-identical. Returns the resumed (task, result)."""
    whole, _ = train(root / "whole", 4, False)
    train(root / "split", 2, False)
    split, result = train(root / "split", 4, True)
    assert result.start == 2 and result.step == 4
    for key, module in whole.modules.items():
        assert same(module.state_dict(), split.modules[key].state_dict()), f"{key} differs after resuming"
    return split, result



def free_port() -> int:
    """A free local TCP port for a torch.distributed test's rendezvous."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, out: str, task_name: str, values: dict) -> None:
    import os

    from pixforge.config import load_config
    from pixforge.registry import TASKS
    from pixforge.train import distributed as dist_utils
    from pixforge.train import run

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    task = TASKS.get(task_name)
    values = {**values, "loop.out": out, "loop.device": "cpu", "loop.progress": "false", "loop.tensorboard": "false"}
    trained, _ = run(task, load_config(task.Config, task.default_config(values), values))
    torch.save({"G": trained.g.state_dict(), "D": trained.d.state_dict()}, f"{out}/rank{rank}.pt")
    dist_utils.cleanup()


def train_ddp(out, task_name: str, values: dict) -> tuple[dict, dict]:
    """Train ``pixforge train TASK`` (config ``values``) in two gloo processes into ``out``; each one's
    {"G": ..., "D": ...} state dicts after the run."""
    # fork: the workers inherit the imported modules (spawning re-imports torch, slow on a loaded machine)
    torch.multiprocessing.start_processes(_ddp_worker, args=(free_port(), str(out), task_name, values), nprocs=2,
                                          start_method="fork")
    return tuple(torch.load(f"{out}/rank{r}.pt", weights_only=True) for r in range(2))
