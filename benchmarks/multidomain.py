"""Multi-domain and multimodal translation on the built-in digit domains, on a CPU budget, over seeds.

* ``stargan`` on ``mnist-domains`` (MNIST 5k at 32 px in 4 unpaired domains: red, green, blue, bold white): every
  evaluation source is translated to each other domain.
* ``munit`` on ``digits2mnist`` (scikit-learn digits <-> MNIST 5k, 32 px grey): each source is translated to the
  other domain with K = 10 random style codes.

Measured (:mod:`pixforge.metrics.translation`), with a *joint* digit classifier per dataset (``pixforge train
classifier``'s network on classes ``domain * 10 + digit``, trained once and cached in
``benchmarks/results/multidomain/classifier-<data>``), on ``SOURCES`` fixed evaluation images per domain
(the same for every seed; the models train on all images, these included):

* label preservation: the share of translations whose most probable digit is the source's;
* target-domain accuracy: the share classified into the target domain;
* FID and KID per (source, target) pair against the target domain's other real images, in the classifier's
  features, averaged over the pairs (StarGAN v2's protocol with classifier features instead of Inception);
* MUNIT: diversity, the VGG feature distance (LPIPS-style, no learned heads) averaged over the 45 pairs of the
  10 outputs of each of ``DIVERSITY_INPUTS`` sources per direction.

Reference rows on the same images: ``real`` (the evaluation sources of the target domain itself, the FID floor
at this sample size; its diversity is that of groups of K unrelated real images), ``identity`` (the input returned unchanged) and, for mnist-domains, ``oracle`` (the source
digit's strokes re-rendered in the target domain's look: a perfect translation).

Each run trains with the shipped recipe (``pixforge/configs/translate/<task>_<data>.yaml``) and the smaller
``SETTINGS`` below into ``benchmarks/out/multidomain/<exp>-s<seed>/`` (resumed if stopped), then writes
``benchmarks/results/multidomain/<exp>-s<seed>.json``; a finished run with the same config is skipped.
``--report`` aggregates (mean ± std over seeds) into ``benchmarks/results/multidomain.json`` and
``multidomain_tables.md`` and draws ``docs/img/multidomain_stargan.png`` (input | each domain) and
``docs/img/multidomain_munit.png`` (input | K outputs) from the first seed's run.

    .venv/bin/python benchmarks/multidomain.py --seeds 0 1 2 --workers 2
    .venv/bin/python benchmarks/multidomain.py --report
    .venv/bin/python benchmarks/multidomain.py --quick      # smoke run: a few steps, one seed, benchmarks/out/

Every worker uses one thread (``torch.set_num_threads(1)``): the machine it was written on had 2 shared cores.
The budgets are in steps, sized to about 5 CPU-minutes per run; wall time depends on the machine's load and is
recorded with the CPU time.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "multidomain"
RUNS = ROOT / "out" / "multidomain"
IMAGES = ROOT.parent / "docs" / "img"
SOURCES = 250  # evaluation images per domain
DIVERSITY_INPUTS = 100  # sources per direction whose K outputs are compared
K = 10  # MUNIT outputs per source
EVAL_SEED = 1234  # chooses the evaluation sources, the same for every run
DIGITS = 10

EXPERIMENTS = {
    "stargan": {"task": "stargan", "data": "mnist-domains", "settings": {
        "conv_dim": 16, "repeat_num": 2, "d_conv_dim": 16, "d_repeat_num": 4,
        "loop.steps": 4000, "loop.lr_decay_start": 2000}},
    "munit": {"task": "munit", "data": "digits2mnist", "settings": {
        "dim": 16, "mlp_dim": 64, "n_res": 1, "dis_dim": 16, "dis_layers": 3, "dis_scales": 2, "batch_size": 4,
        "loop.steps": 1500, "loop.lr_step": 750}},
}


def config(exp: str, seed: int, out: Path, steps: int | None = None):
    """The shipped recipe, then the benchmark's settings, then ``steps``; quiet, on the CPU, 4 checkpoints."""
    from pixforge.config import load_config
    from pixforge.registry import TASKS

    spec = EXPERIMENTS[exp]
    cls = TASKS.get(spec["task"])
    values = {"data": spec["data"], **spec["settings"], **({"loop.steps": steps} if steps else {})}
    n = int(values["loop.steps"])
    values.update({"loop.seed": seed, "loop.device": "cpu", "loop.log_every": max(1, n // 20),
                   "loop.sample_every": max(1, n // 4), "loop.ckpt_every": max(1, n // 4), "loop.progress": False,
                   "loop.tensorboard": False, "loop.out": str(out)})
    return cls, load_config(cls.Config, cls.default_config(values), values)


def request(cfg) -> dict:
    """What decides a run: its config without the output folder."""
    from pixforge.config import to_dict

    record = to_dict(cfg)
    record["loop"].pop("out")
    return record


# ------------------------------------------------------------------------------------------------------
# Classifier and evaluation images
# ------------------------------------------------------------------------------------------------------

def classifier_dir(data: str, root: Path = RESULTS) -> Path:
    return root / f"classifier-{data}"


def ensure_classifier(data: str, root: Path = RESULTS, steps: int = 1000) -> Path:
    """Train the joint (domain x digit) classifier of ``data`` once; its folder."""
    out = classifier_dir(data, root)
    if (out / "classifier.safetensors").is_file():
        return out
    from pixforge.data.domains import domain_data
    from pixforge.tasks.classifier import train_classifier

    d = domain_data(data)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    train_classifier(d.images, d.domains * DIGITS + d.classes, work, steps=steps, data_name=f"{data} (domain x digit)",
                     device="cpu", progress=False)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("classifier.safetensors", "classifier.json"):
        shutil.move(str(work / name), out / name)
    shutil.rmtree(work, ignore_errors=True)
    return out


@functools.lru_cache(maxsize=2)
def eval_split(data: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(evaluation source indices: SOURCES per domain, reference indices: every other image)."""
    from pixforge.data.domains import domain_data

    d = domain_data(data)
    g = torch.Generator().manual_seed(EVAL_SEED)
    chosen = [idx[torch.randperm(len(idx), generator=g)[:SOURCES]]
              for idx in (d.index(k) for k in range(d.num_domains))]
    sources = torch.cat(chosen)
    mask = torch.ones(len(d.domains), dtype=torch.bool)
    mask[sources] = False
    return sources, mask.nonzero().flatten()


def features(images: torch.Tensor, clf: Path):
    from pixforge.metrics import compute_features

    return compute_features(images, f"classifier:{clf}", batch_size=500, device="cpu", progress=False)


@functools.lru_cache(maxsize=2)
def reference(data: str, clf: Path) -> np.ndarray:
    from pixforge.data.domains import domain_data

    return features(domain_data(data).images[eval_split(data)[1]], clf).features


def scores(data: str, clf: Path, fake: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> dict:
    """Label preservation, target-domain accuracy and FID/KID per domain pair of translations ``fake`` of the
    evaluation sources ``src`` (indices into the data) into domains ``trg``."""
    from pixforge.data.domains import domain_data
    from pixforge.metrics.translation import accuracy, joint_marginals, pair_distances

    d = domain_data(data)
    ref_idx = eval_split(data)[1]
    found = features(fake, clf)
    p_domain, p_digit = joint_marginals(found.probs, DIGITS)
    pairs = pair_distances(found.features, d.domains[src], trg, reference(data, clf), d.domains[ref_idx], d.names)
    return {"label_accuracy": accuracy(p_digit, d.classes[src]), "domain_accuracy": accuracy(p_domain, trg),
            "fid": pairs["mean"]["fid"], "kid": pairs["mean"]["kid"], "pairs": pairs}


def cross_pairs(data: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every evaluation source with every other domain: (source indices, target domains)."""
    from pixforge.data.domains import domain_data

    d = domain_data(data)
    sources = eval_split(data)[0]
    src = torch.cat([sources[d.domains[sources] != t] for t in range(d.num_domains)])
    trg = torch.cat([torch.full((int((d.domains[sources] != t).sum()),), t) for t in range(d.num_domains)])
    return src, trg


def baselines(data: str, clf: Path) -> dict:
    """The reference rows (see the module docstring)."""
    from pixforge.data.builtin import mnist5k
    from pixforge.data.domains import DOMAIN_NAMES, domain_data, render_domain

    d = domain_data(data)
    sources = eval_split(data)[0]
    src, trg = cross_pairs(data)
    rows = {"real": scores(data, clf, d.images[sources], sources, d.domains[sources]),
            "identity": scores(data, clf, d.images[src], src, trg)}
    if any(spec["task"] == "munit" and spec["data"] == data for spec in EXPERIMENTS.values()):
        from pixforge.metrics.translation import VGGDistance, pairwise_diversity

        groups = d.images[sources].view(d.num_domains, -1, K, *d.images.shape[1:])  # K unrelated images each
        distance = VGGDistance(device="cpu")
        rows["real"]["diversity"] = statistics.mean(pairwise_diversity(g, distance.features) for g in groups)
    if data == "mnist-domains":  # the domain set renders mnist5k's digits in order: re-render them
        strokes = (mnist5k(size=32, channels=1)[0][src] + 1) / 2
        names = DOMAIN_NAMES[data]
        oracle = torch.cat([render_domain(s[None], names[t]) for s, t in zip(strokes, trg.tolist())])
        rows["oracle"] = scores(data, clf, oracle * 2 - 1, src, trg)
    return rows


# ------------------------------------------------------------------------------------------------------
# Translating with a trained run
# ------------------------------------------------------------------------------------------------------

@torch.no_grad()
def translations(exp: str, run_dir: Path) -> dict:
    """What a run translates the evaluation sources into, through ``pixforge translate``'s loader:
    ``{"fake", "src", "trg"}`` and for MUNIT ``"outputs"`` (sources, K, C, H, W) per direction."""
    from pixforge.data.domains import domain_data
    from pixforge.multimodal import load_model

    data = EXPERIMENTS[exp]["data"]
    d = domain_data(data)
    model = load_model(run_dir, "cpu")
    if exp == "stargan":
        src, trg = cross_pairs(data)
        fake = torch.cat([model((d.images[src[trg == t]] + 1) / 2, target=t)[:, 0] for t in range(d.num_domains)])
        return {"fake": fake * 2 - 1, "src": torch.cat([src[trg == t] for t in range(d.num_domains)]),
                "trg": torch.sort(trg, stable=True).values}
    sources = eval_split(data)[0]
    out = {"fake": [], "src": [], "trg": [], "outputs": {}}
    for domain, direction in ((0, "AtoB"), (1, "BtoA")):
        idx = sources[d.domains[sources] == domain]
        many = model((d.images[idx] + 1) / 2, direction, seed=EVAL_SEED, n=K) * 2 - 1  # (S, K, C, H, W)
        out["outputs"][direction] = many
        out["fake"].append(many[torch.arange(len(idx)), torch.arange(len(idx)) % K])  # one style per source
        out["src"].append(idx)
        out["trg"].append(torch.full((len(idx),), 1 - domain))
    return {**out, **{k: torch.cat(out[k]) for k in ("fake", "src", "trg")}}


def evaluate(exp: str, run_dir: Path, clf: Path) -> dict:
    data = EXPERIMENTS[exp]["data"]
    found = translations(exp, run_dir)
    result = scores(data, clf, found["fake"], found["src"], found["trg"])
    if "outputs" in found:
        from pixforge.metrics.translation import DIVERSITY_NAME, VGGDistance, pairwise_diversity

        distance = VGGDistance(device="cpu")
        result["diversity"] = statistics.mean(
            pairwise_diversity(outs[:DIVERSITY_INPUTS], distance.features) for outs in found["outputs"].values())
        result["diversity_metric"] = f"{DIVERSITY_NAME}, VGG16 weights {distance.backbone}"
    return result


# ------------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------------

def record_path(exp: str, seed: int, root: Path) -> Path:
    return root / f"{exp}-s{seed}.json"


def run_one(job: tuple) -> str:
    exp, seed, root, runs, steps = job
    torch.set_num_threads(1)
    from pixforge.data.domains import domain_data
    from pixforge.train import run

    out = runs / f"{exp}-s{seed}"
    cls, cfg = config(exp, seed, out, steps)
    path, wanted = record_path(exp, seed, root), request(cfg)
    if path.is_file() and json.loads(path.read_text()).get("request") == wanted:
        return f"{path.name}: done already"
    data = EXPERIMENTS[exp]["data"]
    clf = ensure_classifier(data, root)
    resumed = (out / "checkpoints" / "last.pt").is_file()
    cfg.loop.resume, cfg.loop.overwrite = resumed, not resumed  # a run stopped before its first checkpoint restarts
    wall, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    task, result = run(cls, cfg, data=domain_data(data))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    record = {"experiment": exp, "task": EXPERIMENTS[exp]["task"], "data": data, "seed": seed,
              "steps": result.step, "resumed_from": result.start if resumed else 0, "train_wall_s": round(wall, 1),
              "train_cpu_s": round(cpu, 1), "load_average_at_start": load, "last_losses": result.last_losses,
              "request": wanted, "run": str(out.relative_to(ROOT.parent))}
    record.update(evaluate(exp, out, clf))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return f"{path.name}: label {record['label_accuracy']:.3f} domain {record['domain_accuracy']:.3f} " \
           f"FID {record['fid']:.2f} ({wall:.0f} s wall, {cpu:.0f} s CPU)"


# ------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------

METRIC_KEYS = ("label_accuracy", "domain_accuracy", "fid", "kid", "diversity", "train_cpu_s", "train_wall_s")


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def report(root: Path = RESULTS, images: Path = IMAGES, runs: Path = RUNS) -> dict:
    summary: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch {torch.__version__}",
                     "sources_per_domain": SOURCES, "experiments": {}, "baselines": {}}
    for exp, spec in EXPERIMENTS.items():
        records = [json.loads(p.read_text()) for p in sorted(root.glob(f"{exp}-s*.json"))]
        if not records:
            continue
        entry = {"task": spec["task"], "data": spec["data"], "settings": spec["settings"],
                 "seeds": [r["seed"] for r in records], "steps": records[0]["steps"]}
        for key in METRIC_KEYS:
            if key in records[0]:
                entry[key] = mean_std([r[key] for r in records])
        if "diversity_metric" in records[0]:
            entry["diversity_metric"] = records[0]["diversity_metric"]
        pairs = records[0]["pairs"]
        entry["pairs_fid"] = {k: mean_std([r["pairs"][k]["fid"] for r in records]) for k in pairs}
        summary["experiments"][exp] = entry
        clf = classifier_dir(spec["data"], root)
        if spec["data"] not in summary["baselines"]:
            rows = baselines(spec["data"], clf)
            summary["baselines"][spec["data"]] = {
                "classifier": json.loads((clf / "classifier.json").read_text())["heldout_accuracy"],
                **{name: {k: v for k, v in row.items() if k != "pairs"} for name, row in rows.items()}}
        first = runs / f"{exp}-s{records[0]['seed']}"
        if (first / "checkpoints" / "last.pt").is_file():
            figure(exp, first, images / f"multidomain_{exp}.png")
    (root.parent / "multidomain.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root.parent / "multidomain_tables.md").write_text(tables(summary))
    return summary


@torch.no_grad()
def figure(exp: str, run_dir: Path, path: Path, per_domain: int = 2) -> Path:
    """StarGAN: rows of input | its translation to every domain; MUNIT: input | K outputs."""
    from pixforge.data.domains import domain_data
    from pixforge.io import image_grid, save_image
    from pixforge.multimodal import load_model

    data = EXPERIMENTS[exp]["data"]
    d = domain_data(data)
    model = load_model(run_dir, "cpu")
    sources = eval_split(data)[0]
    rows = []
    for domain in range(d.num_domains):
        x = (d.images[sources[d.domains[sources] == domain][:per_domain * (2 if exp == "munit" else 1)]] + 1) / 2
        if exp == "stargan":
            outs = torch.stack([model(x, target=t)[:, 0] for t in range(d.num_domains)], 1)
        else:
            outs = model(x, "AtoB" if domain == 0 else "BtoA", seed=EVAL_SEED, n=8)
        rows.append(torch.cat([x[:, None], outs], 1))
    grid = torch.cat(rows)
    big = torch.nn.functional.interpolate(grid.flatten(0, 1), scale_factor=2, mode="nearest")
    return save_image(image_grid(big, nrow=grid.shape[1]), path)


def _ms(entry: dict, key: str, fmt: str = ".3f", scale: float = 1.0) -> str:
    if key not in entry:
        return "–"
    m, s = entry[key]["mean"] * scale, entry[key]["std"] * scale
    return f"{m:{fmt}} ± {s:{fmt}}"


def _row(row: dict, key: str, fmt: str = ".3f", scale: float = 1.0) -> str:
    return f"{row[key] * scale:{fmt}}" if key in row else "–"


def tables(summary: dict) -> str:
    lines = ["| experiment | seeds | steps | label preservation | target-domain acc. | FID (classifier) | "
             "KID | diversity | CPU s / run | wall s / run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for exp, e in summary["experiments"].items():
        lines.append(f"| {exp} on {e['data']} | {len(e['seeds'])} | {e['steps']} | {_ms(e, 'label_accuracy')} | "
                     f"{_ms(e, 'domain_accuracy')} | {_ms(e, 'fid', '.2f')} | {_ms(e, 'kid', '.2f')} | "
                     f"{_ms(e, 'diversity')} | {_ms(e, 'train_cpu_s', '.0f')} | {_ms(e, 'train_wall_s', '.0f')} |")
    lines += ["", "| reference row | data | label preservation | target-domain acc. | FID (classifier) | KID | "
                  "diversity |", "|---|---|---|---|---|---|---|"]
    for data, rows in summary["baselines"].items():
        for name, row in rows.items():
            if name != "classifier":
                lines.append(f"| {name} | {data} | {_row(row, 'label_accuracy')} | {_row(row, 'domain_accuracy')} | "
                             f"{_row(row, 'fid', '.2f')} | {_row(row, 'kid', '.2f')} | {_row(row, 'diversity')} |")
    lines += ["", "| experiment | " + " | ".join(["pair", "FID (mean ± std over seeds)"]) + " |", "|---|---|---|"]
    for exp, e in summary["experiments"].items():
        lines += [f"| {exp} | {pair} | {v['mean']:.2f} ± {v['std']:.2f} |" for pair, v in e["pairs_fid"].items()
                  if pair != "mean"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only aggregate the finished runs and draw figures")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, seed 0, into benchmarks/out/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root, runs, images, steps = RESULTS, RUNS, IMAGES, None
    if args.quick:
        root, runs, images, steps = ROOT / "out" / "multidomain-quick", ROOT / "out" / "multidomain-quick" / "runs", \
            ROOT / "out" / "multidomain-quick", 20
        args.seeds = args.seeds[:1]
    if not args.report:
        for exp in args.experiments:  # classifiers first, once, outside the workers
            ensure_classifier(EXPERIMENTS[exp]["data"], root, steps=50 if args.quick else 1000)
        jobs = [(exp, seed, root, runs, steps) for seed in args.seeds for exp in args.experiments]
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                for line in pool.map(run_one, jobs):
                    print(line, flush=True)
        else:
            for job in jobs:
                print(run_one(job), flush=True)
    summary = report(root, images, runs)
    print(tables(summary))


if __name__ == "__main__":
    main()
