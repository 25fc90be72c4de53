"""Fast-style layouts at an equal training budget: Johnson (32/64/128 channels) vs slim (8/16/32).

    python benchmarks/fast_arch_compare.py [--steps 200] [--out runs/arch_compare]      # train both, then evaluate
    python benchmarks/fast_arch_compare.py --eval-only --out DIR [--checkpoint-name step200.pt]

Trains one ``pixforge train fast-style`` run per layout on the same style (Starry Night) and the same built-in
content photos, in parallel with one thread each, then evaluates each run's checkpoint on two photos no run
trained on (``shared/data/content/tubingen.jpg`` and scikit-image's grey ``camera``, centre crops at the
training size) with the loss the training minimises (content relu2_2 + normalised-Gram style, the training's
weights). Writes ``benchmarks/results/fast_arch_compare.json`` and ``docs/img/fast_arch_compare.png``
(content | johnson | slim for each held-out photo).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixforge.io import read_image, resize, resize_long_side, save_image, side_by_side  # noqa: E402
from pixforge.tasks.fast_style import FastStyleConfig, FastStyleTask  # noqa: E402
from pixforge.train import LoopConfig  # noqa: E402
from pixforge.train.checkpoint import load_checkpoint  # noqa: E402

STYLE = ROOT.parent / "shared" / "data" / "style" / "starry_night.jpg"
HELD_OUT = ROOT.parent / "shared" / "data" / "content" / "tubingen.jpg"
ARCHS = ("johnson", "slim")


def held_out(size: int) -> list[torch.Tensor]:
    from skimage import data

    camera = torch.from_numpy(data.camera().copy()).float().div(255).expand(3, -1, -1)
    images = [read_image(HELD_OUT), camera]
    out = []
    for img in images:  # centre square crop at the training size
        img = resize_long_side(img, int(size * 1.5))
        h, w = img.shape[-2:]
        side = min(h, w)
        img = img[:, (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        out.append(resize(img, (size, size)))
    return out


def train(out: Path, steps: int, size: int) -> None:
    procs = []
    for arch in ARCHS:
        cmd = [sys.executable, "-m", "pixforge", "train", "fast-style", "--style", str(STYLE), "--arch", arch,
               "--steps", str(steps), "--size", str(size), "--out", str(out / arch), "--quiet",
               "--sample-every", "100", "--ckpt-every", str(steps)]
        procs.append(subprocess.Popen(cmd, env=dict(os.environ, OMP_NUM_THREADS="1")))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"training failed: {p.args}")


@torch.no_grad()
def evaluate(out: Path, checkpoint_name: str, size: int) -> dict:
    images = held_out(size)
    x = torch.stack(images)
    results, outputs = {}, {}
    for arch in ARCHS:
        run = out / arch
        ckpt_path = run / checkpoint_name if checkpoint_name else run / "checkpoints" / "last.pt"
        state = load_checkpoint(ckpt_path)
        loop = LoopConfig(steps=1, out=str(run / "eval"), progress=False, tensorboard=False)
        task = FastStyleTask(FastStyleConfig(styles=[str(STYLE)], arch=arch, size=size, loop=loop), torch.device("cpu"))
        task.net.load_state_dict(state["task"]["modules"]["net"])
        task.net.eval()
        per_image = []
        for img in x:
            losses = task.perceptual_loss(img[None], torch.zeros(1, dtype=torch.long))
            per_image.append({k: float(v) for k, v in losses.items()})
        results[arch] = {"step": int(state["step"]), "checkpoint": str(ckpt_path), "per_image": per_image,
                         "total_loss": sum(p["loss"] for p in per_image),
                         "parameters": sum(p.numel() for p in task.net.parameters())}
        outputs[arch] = (task.net(x * 255.0) / 255.0).clamp(0, 1)
        print(arch, json.dumps({k: v for k, v in results[arch].items() if k != "per_image"}), flush=True)
    rows = [side_by_side([x[i], outputs["johnson"][i], outputs["slim"][i]], height=size) for i in range(len(x))]
    picture = torch.cat(rows, dim=1)
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    save_image(picture, ROOT / "docs" / "img" / "fast_arch_compare.png")
    results["ratio_slim_vs_johnson_loss"] = results["slim"]["total_loss"] / results["johnson"]["total_loss"]
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", default="runs/arch_compare")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--checkpoint-name", default=None,
                    help="file inside each run folder to evaluate (default: checkpoints/last.pt)")
    args = ap.parse_args()
    out = Path(args.out)
    if not args.eval_only:
        train(out, args.steps, args.size)
    results = evaluate(out, args.checkpoint_name, args.size)
    path = ROOT / "benchmarks" / "results" / "fast_arch_compare.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
