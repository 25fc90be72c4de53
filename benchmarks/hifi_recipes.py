"""Do the shipped 32 px StyleGAN2 and PGGAN recipes learn on this CPU, and how fast? FID along the way.

Each run trains the recipe as ``pixforge train`` runs it (``pixforge/configs/<model>_mnist32.yaml`` on mnist5k, or
on Fashion-MNIST with ``--data fashion-mnist``; nothing changed but the seed) and stops every ``--every`` steps to
score ``--samples`` samples of its generator (the EMA one) as ``benchmarks/hifi_gans.py`` does: FID, improved
precision/recall and the class KL in the dataset classifier's features (``ganbench.py`` trains and caches it).
PGGAN's samples before it reaches 32 px are scaled up to 32 px (nearest, as its fade-in does) to be scored.

Every point is appended to ``benchmarks/results/hifi_recipes/<data>/<model>-s<seed>.json`` (step, images seen,
cumulative training CPU and wall seconds, metrics) as soon as it is scored; the run folder
``benchmarks/out/hifi_recipes/<data>/<model>-s<seed>/`` keeps a checkpoint at every point, so a stopped sweep
resumes at the last scored point (exact resume: the weights are those of an uninterrupted run). The CPU seconds
count only training (one thread); scoring is not counted.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/hifi_recipes.py --models stylegan2 pggan --seeds 0
    .venv/bin/python benchmarks/hifi_recipes.py --report      # tables + curve figure from what is scored
    .venv/bin/python benchmarks/hifi_recipes.py --quick       # smoke run: 2 points of 2 steps, into out/
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import ganbench  # noqa: E402  (the classifier, the metrics)
from hifi_gans import CONFIGS, DATA, IMAGE_SIZE  # noqa: E402

RESULTS = ROOT / "results" / "hifi_recipes"
RUNS = ROOT / "out" / "hifi_recipes"
IMAGES = ROOT.parent / "docs" / "img"
MODELS = {"stylegan2": CONFIGS / "stylegan2_mnist32.yaml", "pggan": CONFIGS / "pggan_mnist32.yaml"}
METRICS = ("fid", "precision", "recall", "digit_kl")


def recipe(model: str, data: str, seed: int, out: Path, steps: int | None = None):
    """The shipped recipe on ``data``, seeded, quiet, on the CPU, writing into ``out``."""
    from pixforge.config import load_config
    from pixforge.registry import TASKS

    cfg = load_config(TASKS.get(model).Config, MODELS[model], {"data": data, "image_size": IMAGE_SIZE})
    loop = dataclasses.replace(cfg.loop, seed=seed, device="cpu", sample_every=0, val_every=0, progress=False,
                               tensorboard=False, out=str(out), steps=steps or cfg.loop.steps)
    return dataclasses.replace(cfg, loop=loop)


def score(task, data: str, samples: int, seed: int) -> dict:
    x = ganbench.samples_from(task, samples, seed).clamp(-1, 1)
    if x.shape[-1] < IMAGE_SIZE:  # PGGAN while growing
        x = torch.nn.functional.interpolate(x, size=IMAGE_SIZE, mode="nearest")
    return {k: v for k, v in ganbench.evaluate(data, x, IMAGE_SIZE).items() if k in METRICS}


def run_curve(model: str, data: str, seed: int, every: int, samples: int, steps: int | None = None,
              results: Path = RESULTS, runs: Path = RUNS) -> dict:
    """Train ``model``'s recipe in chunks of ``every`` steps, scoring after each; resumes at the last point."""
    from pixforge.config import to_dict
    from pixforge.registry import TASKS
    from pixforge.train import run

    path = results / data / f"{model}-s{seed}.json"
    out = runs / data / f"{model}-s{seed}"
    full = recipe(model, data, seed, out, steps)
    request = ganbench.request(dataclasses.replace(full, loop=dataclasses.replace(full.loop, out="")))
    record = json.loads(path.read_text()) if path.is_file() else {}
    if record.get("request") != request:
        record = {"model": model, "data": data, "seed": seed, "samples": samples, "recipe": str(
            MODELS[model].relative_to(ROOT.parent)), "request": request, "points": []}
    points = record["points"]
    done = points[-1]["step"] if points else 0
    if done and not (out / "checkpoints" / "last.pt").is_file():
        raise SystemExit(f"{path} has points up to step {done} but {out} has no checkpoint: delete one of them")
    cpu, wall = (points[-1]["train_cpu_s"], points[-1]["train_wall_s"]) if points else (0.0, 0.0)
    for stop in range(done + every, full.loop.steps + every, every):
        stop = min(stop, full.loop.steps)
        loop = dataclasses.replace(full.loop, steps=stop, ckpt_every=every, resume=stop > every,
                                   overwrite=stop <= every, log_every=every)
        t0, c0 = time.perf_counter(), time.process_time()
        task, _ = run(TASKS.get(model), dataclasses.replace(full, loop=loop))
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        point = {"step": stop, "images": stop * full.batch_size, "train_cpu_s": round(cpu, 1),
                 "train_wall_s": round(wall, 1), **score(task, data, samples, seed)}
        points.append(point)
        record["config"] = to_dict(task.cfg)
        record["config"]["loop"].pop("out", None)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(path)
        print(f"{data} {model} s{seed} step {stop}: FID {point['fid']:.1f} P {point['precision']:.2f} "
              f"R {point['recall']:.2f} ({cpu:.0f} CPU-s)", flush=True)
    return record


# ------------------------------------------------------------------------------------------------ report
def report(results: Path = RESULTS, images: Path = IMAGES) -> str:
    """One table per dataset (every scored point of every run) and a figure of FID against CPU minutes."""
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*/*.json"))]
    lines = []
    for data in DATA:
        runs = [r for r in records if r["data"] == data and r["points"]]
        if not runs:
            continue
        lines += [f"\n{data}, 32 px, shipped recipes:\n",
                  "| model | seed | step | images seen | train CPU min | FID (classifier) | precision | recall | "
                  "class KL |", "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            for p in r["points"]:
                lines.append(f"| {r['model']} | {r['seed']} | {p['step']} | {p['images']} | "
                             f"{p['train_cpu_s'] / 60:.1f} | {p['fid']:.1f} | {p['precision']:.2f} | "
                             f"{p['recall']:.2f} | {p['digit_kl']:.3f} |")
        curve_figure(runs, images / f"hifi_recipes_{data.replace('mnist5k', 'mnist')}32.png", data)
    table = "\n".join(lines) + "\n"
    summary = {"machine": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                           "note": "2 CPU cores shared with other jobs; each run at 1 thread, nice 10",
                           "torch": torch.__version__}, "runs": records}
    results.mkdir(parents=True, exist_ok=True)
    (results.parent / "hifi_recipes.json").write_text(json.dumps(summary, indent=1) + "\n")
    (results.parent / "hifi_recipes.md").write_text(table)
    return table


def curve_figure(runs: list[dict], path: Path, data: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for r in runs:
        t = [p["train_cpu_s"] / 60 for p in r["points"]]
        ax.plot(t, [p["fid"] for p in r["points"]], marker="o", ms=3, label=f"{r['model']} seed {r['seed']}")
    ax.set(xlabel="training CPU minutes (1 thread)", ylabel="FID (classifier features)", yscale="log",
           title=f"shipped 32 px recipes on {data}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["mnist5k"], choices=DATA)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--every", type=int, default=500, help="steps between scored points")
    ap.add_argument("--samples", type=int, default=ganbench.SAMPLES_IMG, help="generated images scored per point")
    ap.add_argument("--report", action="store_true", help="only tabulate and plot the scored points")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 points of 2 steps each, into benchmarks/out/")
    args = ap.parse_args()
    results, runs, images, steps = RESULTS, RUNS, IMAGES, None
    if args.quick:
        results = images = ROOT / "out" / "hifi_recipes-quick"
        runs, steps, args.every, args.samples, args.seeds = results / "runs", 4, 2, 500, args.seeds[:1]
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    if not args.report:
        for data in args.data:
            ganbench.ensure_classifier(data=data)
            for seed in args.seeds:
                for model in args.models:
                    run_curve(model, data, seed, args.every, args.samples, steps, results, runs)
    print(report(results, images))


if __name__ == "__main__":
    main()
