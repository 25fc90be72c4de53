"""Mode coverage of every GAN loss on the 2D toys: loss x {ring8, grid25} x seeds, the MLP pair.

Each run trains with the loss's paper defaults (pixforge.gan.losses) for ``--steps`` generator steps, then
draws 2500 samples and counts modes covered and the high-quality fraction (pixforge.metrics.modes, the
VEEGAN/PacGAN rule). Writes benchmarks/RESULTS_gan_losses.json and prints a table.

    .venv/bin/python benchmarks/gan_losses.py [--steps 2000] [--seeds 3] [--threads 1]

The data are pixforge's built-in ring8/grid25 (pixforge.data.builtin).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pixforge.gan.losses import LOSSES
from pixforge.gan.train import config_from, generate, train_gan
from pixforge.metrics.modes import mixture_modes


def run(data: str, loss: str, seed: int, steps: int, batch: int, out: str) -> dict:
    cfg = config_from(None, {"data": data, "loss": loss, "batch_size": batch, "loop.steps": steps,
                             "loop.seed": seed, "loop.out": out, "loop.progress": False,
                             "loop.tensorboard": False, "loop.sample_every": 0, "loop.ckpt_every": steps})
    t0 = time.perf_counter()
    task, _ = train_gan(cfg)
    z = torch.randn(2500, task.cfg.z_dim, generator=torch.Generator().manual_seed(1000 + seed))
    m = mixture_modes(generate(task.g, z, None, task.device).numpy(), data)
    return {"data": data, "loss": loss, "seed": seed, "modes": m["modes"], "total_modes": m["total_modes"],
            "high_quality": m["high_quality"], "kl": m["kl"], "seconds": time.perf_counter() - t0}


def summarise(rows: list[dict], datasets: list[str], losses: list[str]) -> dict:
    summary = {}
    for data in datasets:
        for loss in losses:
            sel = [r for r in rows if r["data"] == data and r["loss"] == loss]
            if sel:
                summary[f"{data}/{loss}"] = {
                    "modes_median": statistics.median(r["modes"] for r in sel), "modes": [r["modes"] for r in sel],
                    "high_quality_median": statistics.median(r["high_quality"] for r in sel)}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--losses", default=",".join(LOSSES))
    ap.add_argument("--data", default="ring8,grid25")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_gan_losses.json")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    datasets, losses = args.data.split(","), args.losses.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):  # seed-major: a cut-short run still covers every loss
            for data in datasets:
                for loss in losses:
                    r = run(data, loss, seed, args.steps, args.batch, f"{tmp}/{data}-{loss}-{seed}")
                    rows.append(r)
                    print(f"{data:7s} {loss:14s} seed {seed}: modes {r['modes']:2d}/{r['total_modes']}  "
                          f"high-quality {100 * r['high_quality']:5.1f}%  ({r['seconds']:.0f}s)", flush=True)
                    summary = summarise(rows, datasets, losses)
                    Path(args.out).write_text(json.dumps({"steps": args.steps, "batch": args.batch,
                                                          "seeds": args.seeds, "summary": summary, "runs": rows},
                                                         indent=2))
    print("\n| data | loss | modes (median of seeds) | per seed | high-quality % (median) |\n|---|---|---|---|---|")
    for key, s in summary.items():
        data, loss = key.split("/")
        print(f"| {data} | {loss} | {s['modes_median']} | {s['modes']} | {100 * s['high_quality_median']:.1f} |")


if __name__ == "__main__":
    main()
