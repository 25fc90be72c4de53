"""GAN loss comparison in the spirit of 'Are GANs Created Equal?' (Lucic et al. 2018), on a CPU budget.

Every GAN loss (``pixforge.losses.adversarial.gan_losses()``, each with its paper's optimiser recipe from
``pixforge/configs/gan/recipes``) is trained with the same architecture and the same number of generator steps
per dataset, for several seeds:

* ring8 / grid25 (2D mixtures, MLP G and D): modes covered and the fraction of high-quality samples (within
  3 std of the nearest centre; VEEGAN / PacGAN's counting, ``pixforge.metrics.modes.mixture_modes``) on 2,500
  samples;
* mnist5k (DCGAN at 28 px): FID in the feature space of the mnist5k digit classifier (trained once and
  cached in benchmarks/results/mnist-classifier), improved precision/recall on the same features, and
  the digit histogram of the samples (KL to uniform);
* stacked-mnist (``--stacked``): DCGAN with one loss, modes covered out of 1000 and KL to uniform on 26,000
  samples (PacGAN's protocol), each channel classified by the same classifier.

Variants (``--variant``) are named, documented settings on top of the recipe defaults (see VARIANTS).
Each run writes ``benchmarks/results/gan_losses/<variant>/<data>/<loss>-s<seed>.json`` and is skipped when
that file exists, so the benchmark can be run in parts; ``--report`` only aggregates:
``benchmarks/results/gan_losses.json``, ``gan_losses.png`` (modes vs high quality) and
``gan_losses_grid25_<variant>.png`` (sample scatter per loss).

    .venv/bin/python benchmarks/ganbench.py --data ring8 grid25 mnist5k --seeds 0 1 2 --workers 2
    .venv/bin/python benchmarks/ganbench.py --data grid25 --variant long
    .venv/bin/python benchmarks/ganbench.py --stacked --stacked-loss hinge
    .venv/bin/python benchmarks/ganbench.py --report
    .venv/bin/python benchmarks/ganbench.py --quick   # smoke run: few steps, one seed, into benchmarks/out/

Every worker process uses one thread (``torch.set_num_threads(1)``): the machine it was written on had 2
shared cores.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
CLASSIFIER = RESULTS / "mnist-classifier"
SAMPLES_2D = 2500
SAMPLES_IMG = 5000
SAMPLES_STACKED = 26000

#: per-dataset budget shared by every loss: generator steps, batch size, G/D width. Sized for 2 shared CPU cores
#: (a width-128 MLP step took ~26 ms of wall time there, a width-32 DCGAN-28 step ~150 ms; wgan/wgan-gp do 5 D
#: steps per G step, so they cost ~3x more per generator step).
DATASETS = {
    "ring8": dict(steps=1000, batch_size=64, width=128),
    "grid25": dict(steps=1000, batch_size=64, width=128),
    "mnist5k": dict(steps=600, batch_size=64, width=32),
    "stacked-mnist": dict(steps=1000, batch_size=64, width=32),
}

#: named settings on top of the papers' recipes; every key is a GanConfig field or ``steps``.
VARIANTS = {
    "default": {},
    # wider MLPs and bigger batches, 3x the steps, EMA of G's weights (Yazici et al. 2019): costs ~15x the
    # default per run on a CPU (width dominates) and was not enough (see RESULTS_ganbench.md).
    "wide3k": dict(width=256, batch_size=256, steps=3000, ema=0.999, ema_start=500),
    # 10x the default steps at the default width and batch, plus the EMA of G's weights, which removes most
    # of the off-mode scatter that lowers "high quality".
    "long": dict(steps=10000, ema=0.999, ema_start=2000),
    # big batches (nearly free for a 2D MLP, whose step cost is per-call overhead), 5x the learning rate, EMA.
    "fast": dict(batch_size=512, lr_g=1e-3, lr_d=1e-3, steps=3000, ema=0.999, ema_start=1000),
    # "fast" with a 2-d latent, as some 2D-toy papers use (fewer directions for G to spread mass along).
    "fast-z2": dict(z_dim=2, batch_size=512, lr_g=1e-3, lr_d=1e-3, steps=3000, ema=0.999, ema_start=1000),
    # the same, 4x longer.
    "fast-z2-long": dict(z_dim=2, batch_size=512, lr_g=1e-3, lr_d=1e-3, steps=12000, ema=0.999, ema_start=4000),
    "ema": dict(ema=0.999, ema_start=500),
}


def run_dir(variant: str, data: str) -> Path:
    return RESULTS / "gan_losses" / variant / data


def run_path(variant: str, data: str, loss: str, seed: int) -> Path:
    return run_dir(variant, data) / f"{loss}-s{seed}.json"


def gan_config(data: str, loss: str, seed: int, variant: str, steps: int | None, out: str):
    from pixforge.tasks.gan import GanConfig
    from pixforge.train import LoopConfig

    budget = dict(DATASETS[data])
    extra = dict(VARIANTS[variant])
    n_steps = steps or extra.pop("steps", budget.pop("steps"))
    extra.pop("steps", None)
    budget.pop("steps", None)
    budget.update(extra)
    loop = LoopConfig(steps=n_steps, out=out, seed=seed, device="cpu", log_every=max(1, n_steps // 10),
                      sample_every=0, ckpt_every=n_steps, progress=False, tensorboard=False)
    return GanConfig(data=data, loss=loss, loop=loop, **budget)


def samples_from(task, n: int, seed: int) -> torch.Tensor:
    from pixforge.tasks.gan import generate

    g = task.ema.module if task.ema else task.g
    z = torch.randn(n, task.cfg.z_dim, generator=torch.Generator().manual_seed(10_000 + seed))
    return generate(g, z, None, task.device)


def evaluate(data: str, x: torch.Tensor) -> dict:
    from pixforge.metrics import mixture_modes

    if data in ("ring8", "grid25"):
        r = mixture_modes(x.numpy(), data)
        return {k: r[k] for k in ("modes", "total_modes", "high_quality", "kl", "counts")}
    clf = str(CLASSIFIER)
    if data == "stacked-mnist":
        from pixforge.metrics import compute_modes

        r = compute_modes(x, "stacked-mnist", classifier=clf, device="cpu", progress=False)
        return {k: r[k] for k in ("modes", "total_modes", "kl", "samples")}
    from pixforge.metrics import fid_from_features, kl_to_uniform, precision_recall
    from pixforge.metrics.evaluate import compute_features

    real = real_features()
    fake = compute_features(x, f"classifier:{clf}", batch_size=500, device="cpu", progress=False)
    digits = np.bincount(fake.probs.argmax(1), minlength=10)
    pr = precision_recall(real.features, fake.features, k=3)
    return {"fid": fid_from_features(real.features, fake.features), **pr,
            "digit_kl": kl_to_uniform(digits), "digits": digits.tolist()}


@functools.lru_cache(maxsize=1)
def real_features():
    from pixforge.data.gan import load_gan_data
    from pixforge.metrics.evaluate import compute_features

    real, _ = load_gan_data("mnist5k")
    return compute_features(real, f"classifier:{CLASSIFIER}", batch_size=500, device="cpu", progress=False)


def run_one(job: tuple) -> dict:
    """Train one (data, loss, seed, variant) config, evaluate it, write its JSON; returns the record."""
    data, loss, seed, variant, steps, path = job
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    from pixforge.config import to_dict
    from pixforge.tasks.gan import train_gan

    path = Path(path)
    work = Path(tempfile.mkdtemp(prefix="ganbench-"))
    try:
        cfg = gan_config(data, loss, seed, variant, steps, str(work / "run"))
        t0 = time.perf_counter()
        task, _ = train_gan(cfg)
        train_s = time.perf_counter() - t0
        n = {"ring8": SAMPLES_2D, "grid25": SAMPLES_2D, "stacked-mnist": SAMPLES_STACKED}.get(data, SAMPLES_IMG)
        x = samples_from(task, n, seed)
        t1 = time.perf_counter()
        metrics = evaluate(data, x)
        record = {"data": data, "loss": loss, "seed": seed, "variant": variant, "steps": task.cfg.loop.steps,
                  "train_seconds": round(train_s, 1), "eval_seconds": round(time.perf_counter() - t1, 1),
                  "metrics": metrics, "config": to_dict(task.cfg)}
        record["config"]["loop"].pop("out", None)
        path.parent.mkdir(parents=True, exist_ok=True)
        keep = x[:SAMPLES_2D] if x.dim() == 2 else x[:64]
        np.save(path.with_suffix(".npy"), keep.numpy().astype(np.float16 if x.dim() == 4 else np.float32))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(path)
        return record
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_classifier(steps: int = 1000) -> None:
    """Train the mnist5k digit classifier once (cached in benchmarks/results/mnist-classifier)."""
    if (CLASSIFIER / "classifier.safetensors").is_file():
        return
    from pixforge.data.gan import load_gan_data
    from pixforge.tasks.classifier import train_classifier

    images, labels = load_gan_data("mnist5k")
    work = Path(tempfile.mkdtemp(prefix="ganbench-clf-"))
    train_classifier(images, labels, work, steps=steps, data_name="mnist5k", device="cpu", progress=False)
    CLASSIFIER.mkdir(parents=True, exist_ok=True)
    for name in ("classifier.safetensors", "classifier.json"):
        shutil.copy(work / name, CLASSIFIER / name)
    shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ report
def _mean_spread(values: list[float]) -> dict:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "min": None, "max": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "min": min(vals), "max": max(vals),
            "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}


def collect(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "gan_losses").glob("*/*/*.json"))]


def aggregate(records: list[dict]) -> dict:
    """{variant: {data: {loss: {metric: mean/min/max/std/n, seeds: [...]}}}}."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r["variant"], {}).setdefault(r["data"], {}).setdefault(r["loss"], []).append(r)
    out: dict = {}
    for variant, by_data in groups.items():
        for data, by_loss in by_data.items():
            for loss, runs in by_loss.items():
                keys = [k for k, v in runs[0]["metrics"].items() if isinstance(v, (int, float))]
                entry = {k: _mean_spread([r["metrics"].get(k) for r in runs]) for k in keys}
                entry["seeds"] = sorted(r["seed"] for r in runs)
                entry["steps"] = runs[0]["steps"]
                entry["train_seconds"] = _mean_spread([r["train_seconds"] for r in runs])
                out.setdefault(variant, {}).setdefault(data, {})[loss] = entry
    return out


def plot(records: list[dict], path: Path) -> None:
    """2D datasets: modes covered vs % high quality, one colour per loss, one marker per variant, every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixforge.losses.adversarial import gan_losses

    datasets = [d for d in ("ring8", "grid25") if any(r["data"] == d for r in records)]
    image_runs = [r for r in records if r["data"] == "mnist5k"]
    ncols = len(datasets) + (1 if image_runs else 0)
    if ncols == 0:
        return
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.6), dpi=110, squeeze=False)
    colours = dict(zip(gan_losses(), plt.cm.tab10.colors))
    markers = dict(zip(VARIANTS, "os^DvP*X"))
    for ax, data in zip(axes[0], datasets):
        for r in (r for r in records if r["data"] == data):
            m = r["metrics"]
            jitter = (r["seed"] - 1) * 0.15  # seeds side by side
            ax.scatter(100 * m["high_quality"], m["modes"] + jitter, color=colours[r["loss"]],
                       marker=markers.get(r["variant"], "x"), s=40, alpha=0.8, edgecolor="k", linewidth=0.4)
        total = next(r["metrics"]["total_modes"] for r in records if r["data"] == data)
        ax.axhline(total, color="grey", lw=0.6, ls=":")
        if data == "grid25":
            ax.scatter([91.0, 40.0], [23.8, 24.6], marker="*", s=140, color="gold", edgecolor="k", zorder=5)
            ax.annotate("PacGAN", (91.0, 23.8), textcoords="offset points", xytext=(-40, -14), fontsize=8)
            ax.annotate("VEEGAN", (40.0, 24.6), textcoords="offset points", xytext=(6, -12), fontsize=8)
        ax.set_xlim(-3, 103)
        ax.set_ylim(-0.5, total + 1)
        ax.set_xlabel("high-quality samples (%)")
        ax.set_ylabel(f"modes covered (of {total})")
        ax.set_title(data)
        ax.grid(alpha=0.3)
    if image_runs:
        ax = axes[0][-1]
        losses = [l for l in gan_losses() if any(r["loss"] == l for r in image_runs)]
        for i, loss in enumerate(losses):
            fids = [r["metrics"]["fid"] for r in image_runs if r["loss"] == loss]
            ax.scatter([i] * len(fids), fids, color=colours[loss], edgecolor="k", linewidth=0.4, s=40)
            ax.plot([i - 0.25, i + 0.25], [statistics.fmean(fids)] * 2, color=colours[loss], lw=2)
        ax.set_xticks(range(len(losses)), losses, rotation=30, fontsize=8)
        ax.set_ylabel("FID (classifier features, lower is better)")
        ax.set_yscale("log")
        ax.set_title("mnist5k (DCGAN-28)")
        ax.grid(alpha=0.3, which="both")
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, markeredgecolor="k", label=l)
               for l, c in colours.items() if any(r["loss"] == l for r in records)]
    handles += [plt.Line2D([], [], ls="", marker=markers[v], color="w", markeredgecolor="k", label=f"variant {v}")
                for v in VARIANTS if any(r["variant"] == v for r in records)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 9), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def scatter_grid(root: Path, variant: str, data: str, path: Path) -> bool:
    """One panel per loss: the seed-0 samples (or the lowest seed) over the mixture's centres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixforge.losses.adversarial import gan_losses
    from pixforge.metrics import get_mixture

    found = []
    for loss in gan_losses():
        files = sorted(run_dir(variant, data).glob(f"{loss}-s*.npy")) if root == RESULTS else \
            sorted((root / "gan_losses" / variant / data).glob(f"{loss}-s*.npy"))
        if files:
            found.append((loss, files[0]))
    if not found:
        return False
    c = get_mixture(data).centres
    fig, axes = plt.subplots(1, len(found), figsize=(2.6 * len(found), 2.8), dpi=110, squeeze=False)
    for ax, (loss, f) in zip(axes[0], found):
        pts = np.load(f)
        rec = json.loads(f.with_suffix(".json").read_text())["metrics"]
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
        ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="red", linewidth=0.8)
        lim = abs(c).max() * 1.4
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{loss}\n{rec['modes']}/{rec['total_modes']} modes, {100 * rec['high_quality']:.0f}% HQ",
                     fontsize=8)
    fig.suptitle(f"{data}, variant {variant}, seed {f.stem.split('-s')[-1]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def image_rows(root: Path, variant: str, data: str, path: Path, per_row: int = 16) -> bool:
    """One row of ``per_row`` samples per loss (seed 0 or the lowest seed), in registry order."""
    from pixforge.losses.adversarial import gan_losses
    from pixforge.io import image_grid, save_image

    rows = []
    for loss in gan_losses():
        files = sorted((root / "gan_losses" / variant / data).glob(f"{loss}-s*.npy"))
        if files:
            rows.append(torch.from_numpy(np.load(files[0]).astype(np.float32))[:per_row])
    if not rows:
        return False
    save_image(image_grid((torch.cat(rows).clamp(-1, 1) + 1) / 2, nrow=per_row), path)
    return True


def report(root: Path) -> dict:
    records = collect(root)
    summary = {"machine": {"cpu_count": os.cpu_count(), "note": "2 CPU cores shared with ~7 other jobs",
                           "platform": platform.platform(), "torch": torch.__version__, "threads_per_run": 1},
               "datasets": DATASETS, "variants": VARIANTS, "results": aggregate(records)}
    clf = root / "mnist-classifier" / "classifier.json"
    if clf.is_file():
        summary["classifier"] = {k: v for k, v in json.loads(clf.read_text()).items() if k != "config"}
    (root / "gan_losses.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(records, root / "gan_losses.png")
    for variant in {r["variant"] for r in records if r["data"] == "grid25"}:
        scatter_grid(root, variant, "grid25", root / f"gan_losses_grid25_{variant}.png")
    for data in ("mnist5k", "stacked-mnist"):
        for variant in {r["variant"] for r in records if r["data"] == data}:
            image_rows(root, variant, data, root / f"gan_losses_{data}_{variant}.png")
    return summary


def _fmt(e: dict, key: str, scale: float = 1.0, fmt: str = ".1f") -> str:
    v = e.get(key)
    if not v or v["mean"] is None:
        return "-"
    text = f"{scale * v['mean']:{fmt}}"
    if v["n"] > 1:
        text += f" ± {scale * v['std']:{fmt}} [{scale * v['min']:{fmt}}–{scale * v['max']:{fmt}}]"
    return text


def markdown_tables(summary: dict) -> str:
    """One markdown table per dataset kind: mean ± std [min–max] over seeds."""
    rows2d, rows_img, rows_stk = [], [], []
    for variant, by_data in summary["results"].items():
        for data, by_loss in by_data.items():
            for loss, e in by_loss.items():
                head = f"| {data} | {variant} | {loss} | {len(e['seeds'])} | {e['steps']} |"
                secs = _fmt(e, "train_seconds", fmt=".0f")
                if "high_quality" in e:
                    rows2d.append(f"{head} {_fmt(e, 'modes')} | {_fmt(e, 'high_quality', 100)} | {secs} |")
                elif "fid" in e:
                    rows_img.append(f"{head} {_fmt(e, 'fid')} | {_fmt(e, 'precision', fmt='.2f')} | "
                                    f"{_fmt(e, 'recall', fmt='.2f')} | {_fmt(e, 'digit_kl', fmt='.3f')} | {secs} |")
                else:
                    rows_stk.append(f"{head} {_fmt(e, 'modes', fmt='.0f')} | {_fmt(e, 'kl', fmt='.2f')} | {secs} |")
    out = []
    if rows2d:
        out += ["| data | variant | loss | seeds | G steps | modes covered | high quality % | train s |",
                "|---|---|---|---|---|---|---|---|", *sorted(rows2d), ""]
    if rows_img:
        out += ["| data | variant | loss | seeds | G steps | FID (classifier) | precision | recall | digit KL | train s |",
                "|---|---|---|---|---|---|---|---|---|---|", *rows_img, ""]
    if rows_stk:
        out += ["| data | variant | loss | seeds | G steps | modes (of 1000) | KL to uniform | train s |",
                "|---|---|---|---|---|---|---|---|", *rows_stk, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    from pixforge.losses.adversarial import gan_losses

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25", "mnist5k"], choices=list(DATASETS))
    ap.add_argument("--losses", nargs="+", default=gan_losses(), choices=gan_losses())
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--variant", default="default", choices=list(VARIANTS))
    ap.add_argument("--steps", type=int, default=None, help="generator steps (default: per dataset/variant)")
    ap.add_argument("--workers", type=int, default=1, help="process pool size (each process uses 1 thread)")
    ap.add_argument("--stacked", action="store_true", help="also Stacked MNIST with --stacked-loss, seed 0")
    ap.add_argument("--stacked-loss", default="nonsaturating", choices=gan_losses())
    ap.add_argument("--report", action="store_true", help="only aggregate existing results")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 steps, seed 0, into benchmarks/out/")
    args = ap.parse_args()
    global RESULTS
    if args.quick:
        RESULTS = ROOT / "out" / "ganbench-quick"
        args.steps, args.seeds = args.steps or 200, args.seeds[:1]
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    if not args.report:
        jobs = [(d, l, s, args.variant, args.steps, str(run_path(args.variant, d, l, s)))
                for d in args.data for s in args.seeds for l in args.losses]
        if args.stacked:
            jobs.append(("stacked-mnist", args.stacked_loss, 0, args.variant, args.steps,
                         str(run_path(args.variant, "stacked-mnist", args.stacked_loss, 0))))
        todo = [j for j in jobs if not Path(j[-1]).exists()]
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs done already; running {len(todo)}", flush=True)
        if any(j[0] in ("mnist5k", "stacked-mnist") for j in todo):
            ensure_classifier()
        done = 0
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max(1, args.workers)) as pool:
            for r in pool.map(run_one, todo):
                done += 1
                m = r["metrics"]
                brief = (f"modes {m['modes']}/{m['total_modes']}" + (f" HQ {100 * m['high_quality']:.0f}%"
                                                                     if "high_quality" in m else f" KL {m['kl']:.2f}")
                         if "modes" in m else f"FID {m['fid']:.2f} P {m['precision']:.2f} R {m['recall']:.2f}")
                print(f"[{done}/{len(todo)} {time.perf_counter() - t0:.0f}s] {r['variant']} {r['data']} {r['loss']} "
                      f"s{r['seed']}: {brief} ({r['train_seconds']:.0f}s train)", flush=True)
    tables = markdown_tables(report(RESULTS))
    (RESULTS / "gan_losses_tables.md").write_text(tables)
    print(tables)


if __name__ == "__main__":
    main()
