"""pix2pixHD and SPADE on the built-in label-map task: a short CPU training of each shipped recipe, held-out scores
and a figure (issue #11).

    nice -n 10 python benchmarks/translation_labels.py                 # both tasks, seed 0, then the figure
    python benchmarks/translation_labels.py --steps 20                 # smoke test (results not kept)
    python benchmarks/translation_labels.py --part figure              # the figure from the saved samples

Data: ``labels2shapes`` at 64 px (one-hot 4-class label maps of random circles, rectangles and triangles +
pix2pixHD's instance edges -> the scene with every class rendered as its own texture). Recipes:
``configs/translate/{pix2pixhd,spade}_labels2shapes.yaml`` (narrow networks, batch 4), run for ``--steps`` steps
(the second half decaying linearly) on one thread. Scored on 64 held-out scenes (other seeds than training):
L1, PSNR and SSIM to the rendered target (G in eval(), as ``pixforge translate`` runs these models). Results:
``benchmarks/out/translation_labels/*.json``; figure: ``docs/img/labels2shapes_pix2pixhd_spade.png`` (held-out
label map | pix2pixHD | SPADE | target).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "out" / "translation_labels"
FIGURE = ROOT / "docs" / "img" / "labels2shapes_pix2pixhd_spade.png"
RECIPES = ROOT / "pixforge" / "configs" / "translate"
TASKS = ("pix2pixhd", "spade")
STEPS = 400  # the recipes' 1500 cut to a few CPU-minutes each on a shared 2-core machine
TEST_ITEMS = 64


def train(name: str, seed: int, steps: int) -> dict:
    from pixforge.config import load_config
    from pixforge.registry import TASKS as REGISTRY
    from pixforge.tasks.translation import PairItems, open_pairs, paired_scores, translate_all, with_edges
    from pixforge.train import run

    task_class = REGISTRY.get(name)
    overrides = {"loop.seed": seed, "loop.out": str(OUT / f"{name}-s{seed}"), "loop.overwrite": True,
                 "loop.progress": False, "loop.tensorboard": False, "loop.sample_every": 0, "loop.val_every": 0,
                 "loop.device": "cpu", "loop.steps": steps, "loop.lr_decay_start": steps // 2,
                 "sample_items": 0, "val_items": 0}
    cfg = load_config(task_class.Config, RECIPES / f"{name}_labels2shapes.yaml", overrides)
    t0 = time.process_time()
    task, result = run(task_class, cfg)
    seconds = time.process_time() - t0
    test = PairItems(open_pairs(cfg.data, cfg.size, "test", seed, length=TEST_ITEMS)).first(TEST_ITEMS)
    a = with_edges(test, task.edges)
    outputs = translate_all(task.g, a)
    torch.save({"labels": test["A"][:8], "outputs": outputs[:8], "targets": test["B"][:8]},
               OUT / f"samples_{name}_seed{seed}.pt")
    return {"task": name, "seed": seed, "steps": result.step, "cpu_seconds": round(seconds, 1),
            "test_items": len(a), **paired_scores(outputs, test["B"])}


def figure(seed: int = 0, rows: int = 5) -> Path:
    """Rows: held-out label map | pix2pixHD | SPADE | target."""
    from pixforge.io import save_image
    from pixforge.tasks.translation import translation_grid

    runs = {name: torch.load(OUT / f"samples_{name}_seed{seed}.pt") for name in TASKS}
    first = runs[TASKS[0]]
    columns = [first["labels"][:rows]] + [runs[n]["outputs"][:rows] for n in TASKS] + [first["targets"][:rows]]
    return save_image(translation_grid(*columns), FIGURE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("all", "train", "figure"), default="all")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="smoke test: this many steps (results not kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("PIXFORGE_OFFLINE", "1")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part in ("all", "train"):
        for name in args.tasks.split(","):
            row = train(name, args.seed, args.steps or STEPS)
            print(json.dumps(row))
            if not args.steps:
                (OUT / f"{name}-s{args.seed}.json").write_text(json.dumps(row, indent=1))
        if args.steps:
            return
    if args.part in ("all", "figure") and all((OUT / f"samples_{n}_seed{args.seed}.pt").is_file() for n in TASKS):
        print(f"wrote {figure(args.seed)}")


if __name__ == "__main__":
    main()
