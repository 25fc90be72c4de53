"""Unpaired translation on scikit-learn digits <-> MNIST 5k: CycleGAN, DiscoGAN and DTN over seeds, on a CPU
budget, and inference speed of the CycleGAN / pix2pix generators (issue #11).

    nice -n 10 .venv/bin/python benchmarks/translation_unpaired.py                 # seeds 0 1 2, speed, report
    .venv/bin/python benchmarks/translation_unpaired.py --report                   # aggregate the finished runs
    .venv/bin/python benchmarks/translation_unpaired.py --quick                    # smoke run into benchmarks/out/

Each run trains with the shipped CPU recipe (``pixforge/configs/translate/<task>_digits2mnist.yaml``) into
``benchmarks/out/translation_unpaired/<task>-s<seed>/`` and is scored through ``pixforge translate``'s loader on
the fixed evaluation images of ``benchmarks/multidomain.py`` (250 per domain, the same for every seed and task;
the models train on all images, these included). CycleGAN and DiscoGAN translate both ways, DTN digits -> MNIST
only (its f is trained on the digits' labels). DiscoGAN trains at 64 px (its discriminator needs it): its inputs
are resized 32 -> 64 and its outputs back (bilinear). Measured with the joint (domain x digit) classifier that
``benchmarks/multidomain.py`` trains with ``pixforge train classifier``'s network (cached in
``benchmarks/results/multidomain/classifier-digits2mnist``):

* label preservation: the share of translations whose most probable digit is the source image's;
* target-domain accuracy: the share the classifier puts in the target domain;
* FID (and KID) against the target domain's other real images in **the classifier's penultimate features**
  (not Inception), per direction.

Reference rows: ``real`` (the target domain's own evaluation images: the FID floor at this sample size) and
``identity`` (the input unchanged). Results: ``benchmarks/results/translation_unpaired/<task>-s<seed>.json``,
summary ``benchmarks/results/translation_unpaired.json`` and ``translation_unpaired_tables.md``; figures
``docs/img/unpaired_<task>.png`` (input row, output row, per direction) from seed 0.

speed: images/s of ``pixforge translate`` (the Translator, batch 1, one thread) with untrained resnet_9blocks
and unet_256 at 256 px (median of 3 after a warm-up) and 1024 px (one timed image, right after the 256 px ones).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))
import multidomain as md  # noqa: E402  (the classifier, evaluation split and scores)
from translation_paired import images_per_second  # noqa: E402

DATA = "digits2mnist"
RESULTS = ROOT / "results" / "translation_unpaired"
RUNS = ROOT / "out" / "translation_unpaired"
IMAGES = ROOT.parent / "docs" / "img"
TASKS = ("cyclegan", "discogan", "dtn")
DIRECTIONS = {"cyclegan": ("AtoB", "BtoA"), "discogan": ("AtoB", "BtoA"), "dtn": ("AtoB",)}


def config(task: str, seed: int, out: Path, steps: int | None = None):
    """The shipped digits recipe, quiet, on the CPU, seeded, into ``out``."""
    from pixforge.config import load_config
    from pixforge.registry import TASKS as REGISTRY

    cls = REGISTRY.get(task)
    values = {"data": DATA, "loop.seed": seed, "loop.device": "cpu", "loop.progress": False,
              "loop.tensorboard": False, "loop.out": str(out), **({"loop.steps": steps} if steps else {})}
    cfg = load_config(cls.Config, cls.default_config(values), values)
    if steps:
        cfg.loop.ckpt_every = cfg.loop.sample_every = steps
        if hasattr(cfg, "f_steps"):
            cfg.f_steps = steps
    return cls, cfg


@torch.no_grad()
def translate_images(run_dir: Path, direction: str, images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` (N, 1, 32, 32) in [-1, 1] through the run's generator (``pixforge translate``'s loader), at the
    run's training size, back at 32 px in [-1, 1]."""
    from pixforge.translate import Translator, load_generator

    run = Translator(load_generator(run_dir, direction), "cpu")
    x = (images + 1) / 2
    if size != x.shape[-1]:
        x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False)
    out = torch.cat([run(x[i:i + 100]) for i in range(0, len(x), 100)])
    if size != images.shape[-1]:
        out = F.interpolate(out, images.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    return out * 2 - 1


def direction_sources(direction: str) -> torch.Tensor:
    from pixforge.data.domains import domain_data

    d, sources = domain_data(DATA), md.eval_split(DATA)[0]
    return sources[d.domains[sources] == (0 if direction == "AtoB" else 1)]


def evaluate(task: str, run_dir: Path, size: int, clf: Path) -> dict:
    from pixforge.data.domains import domain_data

    d, out = domain_data(DATA), {}
    for direction in DIRECTIONS[task]:
        src = direction_sources(direction)
        fake = translate_images(run_dir, direction, d.images[src], size)
        trg = torch.full((len(src),), 1 if direction == "AtoB" else 0)
        found = md.scores(DATA, clf, fake, src, trg)
        out[direction] = {k: found[k] for k in ("label_accuracy", "domain_accuracy", "fid", "kid")}
    return out


def run_one(task: str, seed: int, root: Path, runs: Path, steps: int | None) -> str:
    from pixforge.train import run

    out = runs / f"{task}-s{seed}"
    cls, cfg = config(task, seed, out, steps)
    path, wanted = root / f"{task}-s{seed}.json", md.request(cfg)
    if path.is_file() and json.loads(path.read_text()).get("request") == wanted:
        return f"{path.name}: done already"
    clf = md.ensure_classifier(DATA, md.RESULTS)
    resumed = (out / "checkpoints" / "last.pt").is_file()
    cfg.loop.resume, cfg.loop.overwrite = resumed, not resumed
    wall, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    _, result = run(cls, cfg)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    record = {"task": task, "data": DATA, "seed": seed, "steps": result.step, "train_wall_s": round(wall, 1),
              "train_cpu_s": round(cpu, 1), "load_average_at_start": load, "last_losses": result.last_losses,
              "request": wanted, "run": str(out.relative_to(ROOT.parent)),
              "directions": evaluate(task, out, cfg.size, clf)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    scores = "; ".join(f"{k}: label {v['label_accuracy']:.3f} FID {v['fid']:.2f}" for k, v in record["directions"].items())
    return f"{path.name}: {scores} ({wall:.0f} s wall, {cpu:.0f} s CPU)"


# ------------------------------------------------------------------------------------------------------------
# Baselines, figures, speed, report
# ------------------------------------------------------------------------------------------------------------

def baselines(clf: Path) -> dict:
    """``real``: each direction's target-domain evaluation images; ``identity``: the inputs unchanged."""
    from pixforge.data.domains import domain_data

    d, rows = domain_data(DATA), {"real": {}, "identity": {}}
    for direction in ("AtoB", "BtoA"):
        src, own = direction_sources(direction), direction_sources("BtoA" if direction == "AtoB" else "AtoB")
        target = 1 if direction == "AtoB" else 0
        for name, idx, trg in (("real", own, target), ("identity", src, target)):
            found = md.scores(DATA, clf, d.images[idx], idx, torch.full((len(idx),), trg))
            rows[name][direction] = {k: found[k] for k in ("label_accuracy", "domain_accuracy", "fid", "kid")}
    return rows


@torch.no_grad()
def figure(task: str, run_dir: Path, size: int, path: Path, count: int = 8) -> Path:
    """Per direction: a row of inputs, the row of their translations below (2x nearest upscaling)."""
    from pixforge.data.domains import domain_data
    from pixforge.io import image_grid, save_image

    d, rows = domain_data(DATA), []
    for direction in DIRECTIONS[task]:
        x = d.images[direction_sources(direction)[:count]]
        rows += [x, translate_images(run_dir, direction, x, size)]
    grid = (torch.cat(rows) + 1) / 2
    big = F.interpolate(grid, scale_factor=2, mode="nearest").expand(-1, 3, -1, -1)
    return save_image(image_grid(big, nrow=count), path)


def speed(root: Path) -> dict:
    from pixforge.registry import ARCHS

    result = {"threads": torch.get_num_threads(), "load_average_at_start": os.getloadavg()[0]}
    for arch in ("resnet_9blocks", "unet_256"):
        net = ARCHS.create(arch)
        for size, repeats, warm_up in ((256, 3, True), (1024, 1, False)):
            result[f"{arch}_{size}px_images_per_s"] = images_per_second(net, size, repeats, warm_up)
            print(f"{arch} {size} px: {result[f'{arch}_{size}px_images_per_s']:.3f} images/s", flush=True)
    (root / "speed.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def report(root: Path = RESULTS, runs: Path = RUNS, images: Path = IMAGES) -> dict:
    clf = md.classifier_dir(DATA, md.RESULTS)
    summary: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch {torch.__version__}",
                     "fid_features": "penultimate features of the joint domain x digit classifier "
                                     "(benchmarks/results/multidomain/classifier-digits2mnist), not Inception",
                     "sources_per_domain": md.SOURCES, "tasks": {}}
    for task in TASKS:
        records = [json.loads(p.read_text()) for p in sorted(root.glob(f"{task}-s*.json"))]
        if not records:
            continue
        entry = {"seeds": [r["seed"] for r in records], "steps": records[0]["steps"],
                 "train_cpu_s": md.mean_std([r["train_cpu_s"] for r in records]),
                 "train_wall_s": md.mean_std([r["train_wall_s"] for r in records]), "directions": {}}
        for direction in DIRECTIONS[task]:
            entry["directions"][direction] = {k: md.mean_std([r["directions"][direction][k] for r in records])
                                              for k in ("label_accuracy", "domain_accuracy", "fid", "kid")}
        summary["tasks"][task] = entry
        first = runs / f"{task}-s{records[0]['seed']}"
        if (first / "checkpoints" / "last.pt").is_file():
            from pixforge.train import load_checkpoint

            size = load_checkpoint(first / "checkpoints" / "last.pt")["config"]["size"]
            figure(task, first, size, images / f"unpaired_{task}.png")
    if summary["tasks"]:
        summary["baselines"] = baselines(clf)
        summary["classifier_heldout_accuracy"] = json.loads((clf / "classifier.json").read_text())["heldout_accuracy"]
    if (root / "speed.json").is_file():
        summary["speed"] = json.loads((root / "speed.json").read_text())
    root.parent.mkdir(parents=True, exist_ok=True)
    (root.parent / "translation_unpaired.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root.parent / "translation_unpaired_tables.md").write_text(tables(summary))
    return summary


def tables(summary: dict) -> str:
    names = {"AtoB": "digits → MNIST", "BtoA": "MNIST → digits"}
    lines = ["| task | seeds | steps | direction | label preservation | target-domain acc. | FID (classifier) | "
             "KID | CPU s / run |", "|---|---|---|---|---|---|---|---|---|"]
    for task, e in summary["tasks"].items():
        for direction, m in e["directions"].items():
            lines.append(f"| {task} | {len(e['seeds'])} | {e['steps']} | {names[direction]} | "
                         f"{md._ms(m, 'label_accuracy')} | {md._ms(m, 'domain_accuracy')} | {md._ms(m, 'fid', '.2f')} | "
                         f"{md._ms(m, 'kid', '.2f')} | {md._ms(e, 'train_cpu_s', '.0f')} |")
    for name, row in summary.get("baselines", {}).items():
        for direction, m in row.items():
            lines.append(f"| {name} (reference row) | – | – | {names[direction]} | {m['label_accuracy']:.3f} | "
                         f"{m['domain_accuracy']:.3f} | {m['fid']:.2f} | {m['kid']:.2f} | – |")
    if "speed" in summary:
        s = summary["speed"]
        lines += ["", "| generator | 256 px images/s | 1024 px images/s |", "|---|---|---|"]
        lines += [f"| {arch} | {s[f'{arch}_256px_images_per_s']:.3f} | {s[f'{arch}_1024px_images_per_s']:.4f} |"
                  for arch in ("resnet_9blocks", "unet_256")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--report", action="store_true", help="only aggregate the finished runs and draw figures")
    parser.add_argument("--no-speed", action="store_true", help="skip the inference speed part")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 steps, seed 0, into benchmarks/out/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    root, runs, images, steps = RESULTS, RUNS, IMAGES, None
    if args.quick:
        base = ROOT / "out" / "translation_unpaired-quick"
        shutil.rmtree(base, ignore_errors=True)
        root, runs, images, steps, args.seeds, args.no_speed = base, base / "runs", base, 6, args.seeds[:1], True
    root.mkdir(parents=True, exist_ok=True)
    if not args.report:
        for seed in args.seeds:
            for task in args.tasks:
                print(run_one(task, seed, root, runs, steps), flush=True)
        if not args.no_speed and not (root / "speed.json").is_file():
            speed(root)
    print(tables(report(root, runs, images)))


if __name__ == "__main__":
    main()
