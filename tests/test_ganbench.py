"""The GAN loss benchmark's bookkeeping: config building, resumable paths, aggregation (no training here)."""
import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ganbench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ganbench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_config_uses_dataset_budget_and_variant(bench, tmp_path):
    cfg = bench.gan_config("grid25", "wgan-gp", 2, "default", None, str(tmp_path))
    assert (cfg.loss, cfg.loop.seed, cfg.width) == ("wgan-gp", 2, bench.DATASETS["grid25"]["width"])
    assert cfg.loop.steps == bench.DATASETS["grid25"]["steps"] and cfg.loop.progress is False
    assert cfg.lr_g is None and cfg.n_critic is None  # left to the recipe of the loss
    tuned = bench.gan_config("grid25", "hinge", 0, "wide3k", None, str(tmp_path))
    assert tuned.loop.steps == bench.VARIANTS["wide3k"]["steps"] and tuned.ema == bench.VARIANTS["wide3k"]["ema"]
    assert bench.gan_config("grid25", "hinge", 0, "wide3k", 7, str(tmp_path)).loop.steps == 7


def test_aggregate_mean_and_spread_over_seeds(bench):
    recs = [{"variant": "default", "data": "grid25", "loss": "lsgan", "seed": s, "steps": 10, "train_seconds": 1.0,
             "metrics": {"modes": m, "high_quality": hq, "kl": kl}}
            for s, m, hq, kl in [(0, 20, 0.5, 0.1), (1, 24, 0.9, math.inf), (2, 25, 0.7, 0.3)]]
    e = bench.aggregate(recs)["default"]["grid25"]["lsgan"]
    assert e["modes"]["mean"] == pytest.approx(23.0) and (e["modes"]["min"], e["modes"]["max"]) == (20, 25)
    assert e["high_quality"]["mean"] == pytest.approx(0.7)
    assert e["kl"]["n"] == 2  # the infinite KL (no high-quality sample) is left out of the mean
    assert e["seeds"] == [0, 1, 2]
