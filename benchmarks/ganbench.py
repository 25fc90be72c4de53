"""GAN loss comparison in the spirit of 'Are GANs Created Equal?' (Lucic et al. 2018), on a CPU budget.

Every GAN loss is trained on each dataset for several seeds with the shipped recipe for that dataset and loss
(``pixforge/configs/gan/<data>_<loss>.yaml``, as ``pixforge train gan --data D --loss L`` does), or, where
there is none, with the dataset budget of ``BUDGETS`` and the loss's paper optimiser
(``pixforge/configs/gan/recipes/<loss>.yaml``):

* ring8 / grid25 (2D mixtures, MLP G and D), 2,500 samples: modes covered by at least one high-quality
  sample (within 3 std of the nearest centre; VEEGAN / PacGAN's count, ``pixforge.metrics.mixture_modes``),
  modes holding at least 20 high-quality samples (``modes_strict``), the share of high-quality samples and
  the KL of their mode histogram to uniform;
* mnist5k (DCGAN at 28 px): FID in the feature space of the mnist5k digit classifier (trained once and
  cached in benchmarks/results/mnist-classifier), improved precision/recall on the same features, and
  the digit histogram of the samples (KL to uniform);
* stacked-mnist: modes covered out of 1000 and KL to uniform on 26,000 samples (PacGAN's protocol), each
  channel classified by the same classifier.

Each run writes ``benchmarks/results/gan_losses/<variant>/<data>/<loss>-s<seed>.json`` (and its samples as
``.npy``) and is skipped when that file holds a run of the same config, so a sweep can be stopped and resumed
(a changed recipe runs again). ``--set KEY=VALUE`` runs other settings on top of the recipes, into
``--variant NAME``. ``--report`` only aggregates: ``benchmarks/results/gan_losses.json``,
``gan_losses_tables.md``, and for the default variant ``docs/img/gan_losses_bars.png`` (mean, std and every
seed) and ``docs/img/gan_<data>_samples.png`` (samples per loss and seed).

    .venv/bin/python benchmarks/ganbench.py --data ring8 grid25 --seeds 0 1 2 3 4 --workers 2
    .venv/bin/python benchmarks/ganbench.py --data grid25 --losses hinge --seeds 100 101 --variant lr5e-4 \\
        --set lr_g=5e-4 lr_d=5e-4     # trying other settings (on seeds that are not reported)
    .venv/bin/python benchmarks/ganbench.py --data mnist5k --seeds 0 1 2
    .venv/bin/python benchmarks/ganbench.py --report
    .venv/bin/python benchmarks/ganbench.py --quick   # smoke run: few steps, one seed, into benchmarks/out/

Every worker process uses one thread (``torch.set_num_threads(1)``): the machine it was written on had 2
shared cores.
"""
from __future__ import annotations

import argparse
import dataclasses
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
IMAGES = ROOT.parent / "docs" / "img"
CLASSIFIER = RESULTS / "mnist-classifier"
#: image datasets scored in a classifier's feature space: its cache folder, and the real set (the first
#: ``REAL_ITEMS`` items; mnist5k has 5,000) and the classifier's training set (the first ``CLASSIFIER_ITEMS``)
CLASSIFIERS = {"mnist5k": CLASSIFIER, "fashion-mnist": RESULTS / "fashion-classifier"}
REAL_ITEMS = 5000
CLASSIFIER_ITEMS = 10000
SAMPLES_2D = 2500
SAMPLES_IMG = 5000
SAMPLES_STACKED = 26000
STRICT = 20  # high-quality samples (of 2,500) a mode needs for the strict count

#: published results on the same protocol: (name, modes, high-quality share or None, KL or None)
ANCHORS = {
    "grid25": [("PacGAN (PacDCGAN2)", 23.8, 0.91, None), ("VEEGAN", 24.6, 0.40, None)],
    "stacked-mnist": [("PacGAN (PacDCGAN2)", 1000.0, None, 0.07)],
}

#: settings for a dataset and loss without a shipped recipe (config keys). Sized for 2 shared CPU cores (a
#: width-32 DCGAN-28 step took ~150 ms of wall time there; wgan/wgan-gp take 5 D steps per G step).
BUDGETS = {
    "ring8": {"loop.steps": 1000, "batch_size": 64, "width": 128},
    "grid25": {"loop.steps": 1000, "batch_size": 64, "width": 128},
    "mnist5k": {"loop.steps": 600, "batch_size": 64, "width": 32},
    "stacked-mnist": {"loop.steps": 1000, "batch_size": 64, "width": 32},
}


def run_path(variant: str, data: str, loss: str, seed: int, root: Path | None = None) -> Path:
    return (root or RESULTS) / "gan_losses" / variant / data / f"{loss}-s{seed}.json"


def gan_config(data: str, loss: str, seed: int, overrides: dict | None = None, steps: int | None = None):
    """The run's config: the shipped recipe (or the dataset budget), then ``overrides``, then ``steps``; quiet,
    on the CPU, one checkpoint at the end."""
    from pixforge.tasks.gan import config_from, recipe_file

    values = {"data": data, "loss": loss, **({} if recipe_file(data, loss) else BUDGETS[data]), **(overrides or {})}
    if steps:
        values["loop.steps"] = steps
    cfg = config_from(None, values)
    n = cfg.loop.steps
    return dataclasses.replace(cfg, loop=dataclasses.replace(
        cfg.loop, seed=seed, device="cpu", log_every=max(1, n // 10), sample_every=0, val_every=0, ckpt_every=n,
        progress=False, tensorboard=False, out=""))


def request(cfg) -> dict:
    """What decides a run (its unresolved config): a finished run is reused only when this is unchanged."""
    from pixforge.config import to_dict

    return to_dict(cfg)


def _with_new_defaults(old: dict, cfg) -> dict:
    """``old`` (a stored request) plus the config fields added since it was written, at their defaults: a new
    option that is left at its default does not invalidate finished runs."""
    filled = dict(old)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name not in filled and f.default is not dataclasses.MISSING and value == f.default:
            filled[f.name] = value
        elif dataclasses.is_dataclass(value) and isinstance(filled.get(f.name), dict):
            filled[f.name] = _with_new_defaults(filled[f.name], value)
    return filled


def is_done(path: Path, cfg) -> bool:
    if not path.is_file():
        return False
    new = request(cfg)
    old = json.loads(path.read_text()).get("request", new)  # older records without a request: done
    return _with_new_defaults(old, cfg) == new


def samples_from(task, n: int, seed: int) -> torch.Tensor:
    from pixforge.tasks.gan import generate

    g = task.ema.module if task.ema else task.g
    z = torch.randn(n, task.cfg.z_dim, generator=torch.Generator().manual_seed(10_000 + seed))
    return generate(g, z, None, task.device)


def evaluate(data: str, x: torch.Tensor, image_size: int = 0) -> dict:
    """The dataset's metrics of samples ``x``; for mnist5k and fashion-mnist against the real set at
    ``image_size`` (0: 28 px), the resolution the samples have (the classifier resizes both to 28 px)."""
    from pixforge.metrics import mixture_modes

    if data in ("ring8", "grid25"):
        r = mixture_modes(x.numpy(), data)
        strict = int((np.asarray(r["counts"]) >= STRICT).sum())
        return {"modes": r["modes"], "modes_strict": strict,
                **{k: r[k] for k in ("total_modes", "high_quality", "kl", "counts")}}
    if data == "stacked-mnist":
        from pixforge.metrics import compute_modes

        r = compute_modes(x, "stacked-mnist", classifier=str(CLASSIFIER), device="cpu", progress=False)
        return {k: r[k] for k in ("modes", "total_modes", "kl", "samples")}
    from pixforge.metrics import fid_from_features, kl_to_uniform, precision_recall
    from pixforge.metrics.evaluate import compute_features

    real = real_features(image_size, data)
    fake = compute_features(x, f"classifier:{CLASSIFIERS[data]}", batch_size=500, device="cpu", progress=False)
    digits = np.bincount(fake.probs.argmax(1), minlength=10)
    pr = precision_recall(real.features, fake.features, k=3)
    return {"fid": fid_from_features(real.features, fake.features), **pr,
            "digit_kl": kl_to_uniform(digits), "digits": digits.tolist()}


@functools.lru_cache(maxsize=2)
def real_features(image_size: int = 0, data: str = "mnist5k"):
    """Classifier features of the dataset's real set (its first ``REAL_ITEMS`` images) at ``image_size``."""
    from pixforge.data.gan import load_gan_data
    from pixforge.metrics.evaluate import compute_features

    real, _ = load_gan_data(data, image_size, REAL_ITEMS)
    return compute_features(real, f"classifier:{CLASSIFIERS[data]}", batch_size=500, device="cpu", progress=False)


def references(path: Path) -> dict:
    """What real data scores under the same protocols (cached in ``path``): mnist5k, one half of the digits
    against the other (2,500 each; FID grows as the sets shrink, so this is a rough floor), and 26,000 real
    Stacked MNIST samples (classifier errors and the finite sample keep the KL above 0)."""
    if path.is_file():
        return json.loads(path.read_text())
    from pixforge.data.builtin import stacked_mnist
    from pixforge.metrics import fid_from_features, precision_recall

    feats = real_features().features
    half = {"fid": fid_from_features(feats[0::2], feats[1::2]), **precision_recall(feats[0::2], feats[1::2], k=3)}
    real_stacks, _ = stacked_mnist(n=SAMPLES_STACKED, seed=1)
    refs = {"mnist5k": half, "stacked-mnist": evaluate("stacked-mnist", real_stacks)}
    path.write_text(json.dumps(refs, indent=1) + "\n")
    return refs


def run_one(job: tuple) -> dict:
    """Train one config, evaluate it, write its JSON (and samples); returns the record."""
    cfg, variant, path = job
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    from pixforge.config import to_dict
    from pixforge.tasks.gan import train_gan

    path = Path(path)
    work = Path(tempfile.mkdtemp(prefix="ganbench-"))
    try:
        t0 = time.perf_counter()
        task, _ = train_gan(dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, out=str(work / "run"))))
        train_s = time.perf_counter() - t0
        data, seed = cfg.data, cfg.loop.seed
        n = {"ring8": SAMPLES_2D, "grid25": SAMPLES_2D, "stacked-mnist": SAMPLES_STACKED}.get(data, SAMPLES_IMG)
        x = samples_from(task, n, seed)
        t1 = time.perf_counter()
        metrics = evaluate(data, x)
        record = {"data": data, "loss": cfg.loss, "seed": seed, "variant": variant, "steps": task.cfg.loop.steps,
                  "train_seconds": round(train_s, 1), "eval_seconds": round(time.perf_counter() - t1, 1),
                  "metrics": metrics, "request": request(cfg), "config": to_dict(task.cfg)}
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


def ensure_classifier(steps: int = 1000, data: str = "mnist5k") -> None:
    """Train the dataset's classifier once (on its first ``CLASSIFIER_ITEMS`` images, cached in ``CLASSIFIERS``)."""
    folder = CLASSIFIERS[data]
    if (folder / "classifier.safetensors").is_file():
        return
    from pixforge.data.gan import load_gan_data
    from pixforge.tasks.classifier import train_classifier

    images, labels = load_gan_data(data, max_items=CLASSIFIER_ITEMS)
    work = Path(tempfile.mkdtemp(prefix="ganbench-clf-"))
    train_classifier(images, labels, work, steps=steps, data_name=data, device="cpu", progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("classifier.safetensors", "classifier.json"):
        shutil.copy(work / name, folder / name)
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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _losses(records: list[dict]) -> list[str]:
    from pixforge.losses.adversarial import gan_losses

    return [l for l in gan_losses() if any(r["loss"] == l for r in records)]


def samples_grid(records: list[dict], root: Path, data: str, path: Path) -> bool:
    """One small scatter per loss (rows) and seed (columns) over the mixture's centres, titled with the
    modes covered (strict count) and % high quality."""
    from pixforge.metrics import get_mixture

    runs = {(r["loss"], r["seed"]): r for r in records if r["data"] == data}
    if not runs:
        return False
    losses, seeds = _losses(list(runs.values())), sorted({s for _, s in runs})
    plt = _pyplot()
    fig, axes = plt.subplots(len(losses), len(seeds), figsize=(1.25 * len(seeds) + 0.5, 1.3 * len(losses)), dpi=72,
                             squeeze=False)
    c = get_mixture(data).centres
    lim = abs(c).max() * 1.35
    for i, loss in enumerate(losses):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], aspect="equal")
            r = runs.get((loss, seed))
            if r is None:
                continue
            pts = np.load(run_path(r["variant"], data, loss, seed, root).with_suffix(".npy"))
            ax.scatter(pts[:, 0], pts[:, 1], s=0.2, alpha=0.3, color="tab:blue", rasterized=True)
            ax.scatter(c[:, 0], c[:, 1], s=4, marker="x", color="red", linewidth=0.5)
            m = r["metrics"]
            ax.set_title(("" if i else f"seed {seed}\n") + f"{m['modes']} ({m['modes_strict']}), "
                         f"{100 * m['high_quality']:.0f}%", fontsize=6, pad=2)
            if j == 0:
                ax.set_ylabel(loss, fontsize=7)
    fig.suptitle(f"{data}: modes (>= {STRICT}), HQ %", fontsize=7)
    fig.tight_layout(pad=0.3, h_pad=0.5, w_pad=0.2)
    fig.savefig(path)
    plt.close(fig)
    return True


def _bar_panel(ax, runs: list[dict], losses: list[str], metrics: list[tuple[str, str]], title: str,
               scale: float = 1.0, top: float | None = None, anchors: list[tuple[str, float]] = ()) -> None:
    """Bars of ``metrics`` ((key, label) side by side) per loss: mean over seeds, error bar = std, dots = the
    seeds; dashed lines at the published ``anchors`` ((name, value); labels alternate right and left)."""
    x = np.arange(len(losses))
    width = 0.8 / len(metrics)
    for m, (key, label) in enumerate(metrics):
        dx = (m - (len(metrics) - 1) / 2) * width
        per_loss = [[scale * r["metrics"][key] for r in runs if r["loss"] == l and r["metrics"].get(key) is not None
                     and math.isfinite(r["metrics"][key])] for l in losses]
        ax.bar(x + dx, [np.mean(v) if v else 0 for v in per_loss], width,
               yerr=[np.std(v) if v else 0 for v in per_loss], capsize=2, label=label, alpha=0.75,
               error_kw={"lw": 0.8})
        for i, v in enumerate(per_loss):
            ax.scatter(np.full(len(v), i + dx), v, s=5, color="k", zorder=3)
    for k, (name, value) in enumerate(anchors):
        ax.axhline(scale * value, ls="--", lw=0.8, color="grey")
        ax.text((len(losses) - 0.5) if k % 2 == 0 else -0.5, scale * value, name.split()[0], fontsize=6,
                ha="right" if k % 2 == 0 else "left", va="bottom", color="grey")
    ax.set_xticks(x, losses, fontsize=7, rotation=20)
    if top is not None:
        ax.set_ylim(0, top * 1.05)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=7)
    if len(metrics) > 1:
        ax.legend(fontsize=6, frameon=False)


def _anchors(data: str, field: int) -> list[tuple[str, float]]:
    """(name, value) of the published anchors that give ``field`` (1 modes, 2 high quality, 3 KL)."""
    return [(name, values[field - 1]) for name, *values in ANCHORS.get(data, []) if values[field - 1] is not None]


#: the bar panels per dataset: (metrics, title, scale, top, anchor field or 0)
PANELS = {
    "ring8": [([("modes", "covered (>= 1)"), ("modes_strict", f">= {STRICT} samples")], "modes of 8", 1, 8, 1),
              ([("high_quality", "high quality")], "high-quality samples (%)", 100, 100, 2)],
    "grid25": [([("modes", "covered (>= 1)"), ("modes_strict", f">= {STRICT} samples")], "modes of 25", 1, 25, 1),
               ([("high_quality", "high quality")], "high-quality samples (%)", 100, 100, 2)],
    "stacked-mnist": [([("modes", "modes")], "modes of 1000", 1, 1000, 1),
                      ([("kl", "KL")], "KL to uniform (lower is better)", 1, None, 3)],
    "mnist5k": [([("fid", "FID")], "FID, mnist5k-classifier features (lower is better)", 1, None, 0),
                ([("precision", "precision"), ("recall", "recall")], "precision / recall (k=3)", 1, 1, 0)],
}


def bars(records: list[dict], path: Path, datasets: tuple[str, ...]) -> bool:
    """One row of :data:`PANELS` per dataset of ``datasets`` that has runs: per loss the mean over seeds, the
    std as error bar and every seed as a dot, with the published anchors."""
    datasets = [d for d in datasets if any(r["data"] == d for r in records)]
    if not datasets:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(len(datasets), 2, figsize=(8, 2.4 * len(datasets)), dpi=80, squeeze=False)
    for row, data in zip(axes, datasets):
        runs = [r for r in records if r["data"] == data]
        for ax, (metrics, title, scale, top, field) in zip(row, PANELS[data]):
            _bar_panel(ax, runs, _losses(runs), metrics, f"{data}: {title}", scale, top,
                       _anchors(data, field) if field else [])
    fig.suptitle("bar: mean over seeds, error bar: std, dots: the seeds", fontsize=7, x=0.98, ha="right")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
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


def report(root: Path, images: Path) -> dict:
    records = collect(root)
    summary = {"machine": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                           "note": "2 CPU cores shared with other jobs", "platform": platform.platform(),
                           "torch": torch.__version__, "threads_per_run": 1},
               "budgets": BUDGETS, "anchors": ANCHORS, "results": aggregate(records)}
    clf = root / "mnist-classifier" / "classifier.json"
    if clf.is_file():
        summary["classifier"] = {k: v for k, v in json.loads(clf.read_text()).items() if k != "config"}
        if any(r["data"] in ("mnist5k", "stacked-mnist") for r in records):
            summary["real_data"] = references(root / "gan_references.json")
    (root / "gan_losses.json").write_text(json.dumps(summary, indent=1) + "\n")
    default = [r for r in records if r["variant"] == "default"]
    images.mkdir(parents=True, exist_ok=True)
    bars(default, images / "gan_losses_bars.png", ("ring8", "grid25"))
    bars(default, images / "gan_images_bars.png", ("stacked-mnist", "mnist5k"))
    for data in ("ring8", "grid25"):
        samples_grid(default, root, data, images / f"gan_{data}_samples.png")
    for data in ("mnist5k", "stacked-mnist"):
        for variant in {r["variant"] for r in records if r["data"] == data}:
            image_rows(root, variant, data, images / f"gan_{data}_samples.png" if variant == "default"
                       else root / f"gan_losses_{data}_{variant}.png")
    return summary


def _fmt(e: dict, key: str, scale: float = 1.0, fmt: str = ".1f") -> str:
    v = e.get(key)
    if not v or v["mean"] is None:
        return "-"
    text = f"{scale * v['mean']:{fmt}}"
    if v["n"] > 1:
        text += f" ± {scale * v['std']:{fmt}} ({scale * v['min']:{fmt}}–{scale * v['max']:{fmt}})"
    return text


def _anchor_rows(data: str, columns: int, place: dict[int, str]) -> list[str]:
    """Published results as table rows: ``place`` maps an anchor field (1 modes, 2 HQ, 3 KL) to a column."""
    rows = []
    for name, *values in ANCHORS.get(data, []):
        cells = ["-"] * columns
        cells[0], cells[1] = data, f"*{name}*"
        for field, col in place.items():
            v = values[field - 1]
            if v is not None:
                cells[col] = f"*{100 * v:.0f}*" if field == 2 else f"*{v:g}*"
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def markdown_tables(summary: dict) -> str:
    """One markdown table per dataset kind: mean ± std (min–max) over seeds, with the published anchors."""
    tables = {"2d": [], "img": [], "stk": []}
    for variant, by_data in sorted(summary["results"].items(), key=lambda kv: kv[0] != "default"):
        for data, by_loss in sorted(by_data.items()):
            for loss, e in by_loss.items():
                name = loss if variant == "default" else f"{loss} ({variant})"
                head = f"| {data} | {name} | {len(e['seeds'])} | {e['steps']} |"
                secs = _fmt(e, "train_seconds", fmt=".0f")
                if "high_quality" in e:
                    tables["2d"].append(f"{head} {_fmt(e, 'modes')} | {_fmt(e, 'modes_strict')} | "
                                        f"{_fmt(e, 'high_quality', 100)} | {_fmt(e, 'kl', fmt='.2f')} | {secs} |")
                elif "fid" in e:
                    tables["img"].append(f"{head} {_fmt(e, 'fid')} | {_fmt(e, 'precision', fmt='.2f')} | "
                                         f"{_fmt(e, 'recall', fmt='.2f')} | {_fmt(e, 'digit_kl', fmt='.3f')} | {secs} |")
                else:
                    tables["stk"].append(f"{head} {_fmt(e, 'modes', fmt='.0f')} | {_fmt(e, 'kl', fmt='.2f')} | {secs} |")
    out = []
    if tables["2d"]:
        data_2d = sorted({row.split(" | ")[0][2:] for row in tables["2d"]})
        out += ["| data | loss | seeds | G steps | modes covered | modes ≥ 20 samples | high quality % | KL | s / run |",
                "|---|---|---|---|---|---|---|---|---|", *tables["2d"],
                *(r for d in data_2d for r in _anchor_rows(d, 9, {1: 4, 2: 6})), ""]
    if tables["img"]:
        real = summary.get("real_data", {}).get("mnist5k")
        floor = [f"| mnist5k | *real digits, half vs half* | - | - | *{real['fid']:.1f}* | *{real['precision']:.2f}* | "
                 f"*{real['recall']:.2f}* | - | - |"] if real else []
        out += ["| data | loss | seeds | G steps | FID (mnist5k-classifier features) | precision | recall | digit KL | "
                "s / run |",
                "|---|---|---|---|---|---|---|---|---|", *tables["img"], *floor, ""]
    if tables["stk"]:
        real = summary.get("real_data", {}).get("stacked-mnist")
        floor = [f"| stacked-mnist | *real data* | - | - | *{real['modes']}* | *{real['kl']:.3f}* | - |"] if real else []
        out += ["| data | loss | seeds | G steps | modes (of 1000) | KL to uniform | s / run |",
                "|---|---|---|---|---|---|---|", *tables["stk"], *_anchor_rows("stacked-mnist", 7, {1: 4, 3: 5}),
                *floor, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    from pixforge.config import parse_overrides
    from pixforge.losses.adversarial import gan_losses

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25"], choices=list(BUDGETS))
    ap.add_argument("--losses", nargs="+", default=gan_losses(), choices=gan_losses())
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config keys over the recipes")
    ap.add_argument("--variant", default=None, help="results folder for --set runs (default: 'default')")
    ap.add_argument("--steps", type=int, default=None, help="generator steps (default: the recipe's)")
    ap.add_argument("--workers", type=int, default=1, help="process pool size (each process uses 1 thread)")
    ap.add_argument("--report", action="store_true", help="only aggregate existing results")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 steps, seed 0, into benchmarks/out/")
    args = ap.parse_args()
    global RESULTS
    images = IMAGES
    if args.quick:
        RESULTS = images = ROOT / "out" / "ganbench-quick"
        args.steps, args.seeds = args.steps or 200, args.seeds[:1]
    overrides = parse_overrides(args.set)
    if overrides and not args.variant:
        ap.error("--set needs --variant NAME (the results folder of these settings)")
    variant = args.variant or "default"
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    if not args.report:
        jobs = [(gan_config(d, l, s, overrides, args.steps), variant, str(run_path(variant, d, l, s)))
                for d in args.data for s in args.seeds for l in args.losses]
        todo = [j for j in jobs if not is_done(Path(j[-1]), j[0])]
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs done already; running {len(todo)}", flush=True)
        if any(j[0].data in ("mnist5k", "stacked-mnist") for j in todo):
            ensure_classifier()
        done = 0
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max(1, args.workers)) as pool:
            for r in pool.map(run_one, todo):
                done += 1
                m = r["metrics"]
                brief = (f"modes {m['modes']}/{m['total_modes']}" + (
                    f" ({m['modes_strict']} strict) HQ {100 * m['high_quality']:.1f}%" if "high_quality" in m
                    else f" KL {m['kl']:.2f}") if "modes" in m
                    else f"FID {m['fid']:.2f} P {m['precision']:.2f} R {m['recall']:.2f}")
                print(f"[{done}/{len(todo)} {time.perf_counter() - t0:.0f}s] {r['variant']} {r['data']} {r['loss']} "
                      f"s{r['seed']}: {brief} ({r['train_seconds']:.0f}s train)", flush=True)
    tables = markdown_tables(report(RESULTS, images))
    (RESULTS / "gan_losses_tables.md").write_text(tables)
    print(tables)


if __name__ == "__main__":
    main()
