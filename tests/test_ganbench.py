"""The GAN loss benchmark: config building, resumable paths, aggregation, Stacked MNIST scoring (no GAN training)."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ganbench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ganbench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_config_starts_from_the_shipped_recipe_or_the_dataset_budget(bench):
    from pixforge.tasks.gan import config_from, recipe_file

    cfg = bench.gan_config("grid25", "wgan-gp", 2)
    shipped = config_from(recipe_file("grid25", "wgan-gp"))
    assert (cfg.loss, cfg.loop.seed, cfg.z_dim, cfg.batch_size) == ("wgan-gp", 2, shipped.z_dim, shipped.batch_size)
    assert cfg.loop.steps == shipped.loop.steps and cfg.loop.progress is False and cfg.loop.val_every == 0
    tuned = bench.gan_config("grid25", "hinge", 0, {"lr_g": "5e-4", "ema": "0"}, steps=7)
    assert (tuned.lr_g, tuned.ema, tuned.loop.steps) == (5e-4, 0.0, 7)
    image = bench.gan_config("mnist5k", "ragan", 0)  # no recipe: the dataset budget, the loss's paper optimiser
    assert image.width == bench.BUDGETS["mnist5k"]["width"] and image.loop.steps == bench.BUDGETS["mnist5k"]["loop.steps"]
    assert image.lr_g is None and image.n_critic is None


def test_a_finished_run_is_reused_only_for_the_same_config(bench, tmp_path):
    import json

    cfg = bench.gan_config("grid25", "hinge", 0)
    path = tmp_path / "hinge-s0.json"
    assert not bench.is_done(path, cfg)
    path.write_text(json.dumps({"request": bench.request(cfg)}))
    assert bench.is_done(path, bench.gan_config("grid25", "hinge", 0))
    assert not bench.is_done(path, bench.gan_config("grid25", "hinge", 0, {"lr_d": "2e-3"}))
    assert not bench.is_done(path, bench.gan_config("grid25", "hinge", 1))


def test_aggregate_mean_and_spread_over_seeds(bench):
    recs = [{"variant": "default", "data": "grid25", "loss": "lsgan", "seed": s, "steps": 10, "train_seconds": 1.0,
             "metrics": {"modes": m, "high_quality": hq, "kl": kl}}
            for s, m, hq, kl in [(0, 20, 0.5, 0.1), (1, 24, 0.9, math.inf), (2, 25, 0.7, 0.3)]]
    e = bench.aggregate(recs)["default"]["grid25"]["lsgan"]
    assert e["modes"]["mean"] == pytest.approx(23.0) and (e["modes"]["min"], e["modes"]["max"]) == (20, 25)
    assert e["high_quality"]["mean"] == pytest.approx(0.7)
    assert e["kl"]["n"] == 2  # the infinite KL (no high-quality sample) is left out of the mean
    assert e["seeds"] == [0, 1, 2]


def test_tables_show_both_mode_counts_and_the_published_anchors(bench):
    recs = [{"variant": "default", "data": "grid25", "loss": "hinge", "seed": s, "steps": 10, "train_seconds": 60.0,
             "metrics": {"modes": 25, "modes_strict": m, "total_modes": 25, "high_quality": 0.9, "kl": 0.01}}
            for s, m in [(0, 24), (1, 22)]]
    table = bench.markdown_tables({"results": bench.aggregate(recs)})
    assert "| grid25 | hinge | 2 | 10 | 25.0 ± 0.0 (25.0–25.0) | 23.0 ± 1.0 (22.0–24.0) | 90.0 ± 0.0" in table
    assert "| grid25 | *PacGAN (PacDCGAN2)* | - | - | *23.8* | - | *91* |" in table
    stacked = [{"variant": "default", "data": "stacked-mnist", "loss": "hinge", "seed": s, "steps": 30,
                "train_seconds": 9.0, "metrics": {"modes": m, "total_modes": 1000, "kl": kl, "samples": 26000}}
               for s, m, kl in [(0, 990, 0.2), (1, 1000, 0.1)]]
    table = bench.markdown_tables({"results": bench.aggregate(stacked),
                                   "real_data": {"stacked-mnist": {"modes": 1000, "kl": 0.021}}})
    assert "| stacked-mnist | hinge | 2 | 30 | 995 ± 5 (990–1000) | 0.15 ± 0.05 (0.10–0.20) | 9 ± 0 (9–9) |" in table
    assert "| stacked-mnist | *PacGAN (PacDCGAN2)* | - | - | *1000* | *0.07* | - |" in table
    assert "| stacked-mnist | *real data* | - | - | *1000* | *0.021* | - |" in table


def cell_digits(labels, size=20, seed=0):
    """Synthetic 'digits' (N, 1, size, size) in [-1, 1]: digit d is a bright 3x3 square in cell d of a 4x4 grid of
    5-px cells (the classifier's 1-px shift augmentation keeps it in its cell), plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((len(labels), 1, size, size), -1.0)
    for i, d in enumerate(labels):
        r, c = 5 * (d // 4) + 1, 5 * (d % 4) + 1
        x[i, 0, r:r + 3, c:c + 3] = 1.0
    return (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def test_stacked_mnist_modes_are_read_channel_by_channel_by_a_trained_classifier(bench, tmp_path, monkeypatch,
                                                                               one_thread):
    from pixforge.tasks.classifier import train_classifier

    labels = torch.arange(200) % 10
    report = train_classifier(cell_digits(labels), labels, tmp_path / "clf", steps=40, width=8, device="cpu",
                              progress=False)
    assert report["heldout_accuracy"] == 1.0
    monkeypatch.setattr(bench, "CLASSIFIER", tmp_path / "clf")
    # 40 of the 1000 modes, unevenly: 20 triples 3 times, 20 once; (1, 2, 3) and (3, 2, 1) are different modes
    triples = [(1, 2, 3), (3, 2, 1)] + [(a, b, (a + 3 * b) % 10) for a in range(6) for b in range(7)][:38]
    counts = [3] * 20 + [1] * 20
    stack = [t for t, n in zip(triples, counts) for _ in range(n)]
    x = torch.cat([cell_digits([t[c] for t in stack], seed=c + 1) for c in range(3)], dim=1)
    r = bench.evaluate("stacked-mnist", x)
    p = np.array(counts) / sum(counts)
    assert r["modes"] == 40 and r["total_modes"] == 1000 and r["samples"] == len(stack)
    assert r["kl"] == pytest.approx(float((p * np.log(p * 1000)).sum()), rel=1e-9)
    collapsed = bench.evaluate("stacked-mnist", x[:, [0, 0, 0]])  # every channel the red digit: 10 modes at most
    assert collapsed["modes"] == len({t[0] for t in stack})
