"""Quality of every released upscaler against bicubic, by the SR papers' protocol (pixforge.sr.evaluate).

    python benchmarks/sr_quality.py [--crop 192] [--names realesrgan-x4plus ...] [--trained LABEL=RUN,RUN,...]

The evaluation set is built from the photos scikit-image ships (``skimage.data``): astronaut, chelsea, coffee,
rocket, stereo_motorcycle (left view) and hubble_deep_field, each as its central ``--crop`` px square (divisible by 2, 3 and 4;
small so that the 23-block RRDB networks stay a few seconds per image on a CPU). Each HR crop is shrunk with
MATLAB's bicubic imresize (8-bit), upscaled by the entry at its own factor, and scored by PSNR/SSIM on Y with
crop = scale; bicubic upscaling (MATLAB imresize) at the same factor is the baseline. Writes
benchmarks/results/sr_quality.{json,md}. Denoising variants are left out (they are for noisy inputs).
``--save-set DIR`` writes the HR crops as PNGs, so ``pixforge eval sr --data DIR`` scores the same set.
``--trained LABEL=RUN[,RUN...]`` adds one row per label for networks trained with ``pixforge train sr`` (run
folders or weights files, e.g. one per seed): the mean ± standard deviation over the runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixforge import weights  # noqa: E402
from pixforge.registry import ARCHS  # noqa: E402
from pixforge.sr import load_model  # noqa: E402
from pixforge.sr.evaluate import evaluate_images  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field")


def photos(crop: int) -> list[tuple[str, torch.Tensor]]:
    from skimage import data

    out = []
    for name in PHOTOS:
        array = getattr(data, name)()
        array = array[0] if name == "stereo_motorcycle" else array  # (left, right, disparity)
        a = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
        h, w = a.shape[-2:]
        top, left = (h - crop) // 2, (w - crop) // 2
        out.append((name, a[:, top:top + crop, left:left + crop]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--names", nargs="*", default=None, help="weights entries (default: every SR entry but denoisers)")
    ap.add_argument("--trained", nargs="*", default=[], metavar="LABEL=RUN,RUN",
                    help="trained networks (run folders or files), one row per label: mean ± std over its runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sr_quality"))
    ap.add_argument("--save-set", metavar="DIR", help="write the HR crops as PNGs (for `pixforge eval sr --data DIR`) "
                    "and stop")
    args = ap.parse_args()
    if args.save_set:
        from pixforge.io import save_image

        for name, image in photos(args.crop):
            print(save_image(image, Path(args.save_set) / f"{name}.png"))
        return
    names = args.names if args.names is not None else [
        n for n in weights.WEIGHTS.list() if "denoise" not in n
        and ARCHS.meta(weights.get_spec(n).meta["arch"])["family"] == "sr"]
    images = photos(args.crop)
    rows, bicubic = [], {}
    for name in names:
        net = load_model(name)
        scale = net.scale
        start = time.perf_counter()
        with torch.inference_mode():
            mean = evaluate_images(net, images, scale, crop=scale, tile=None)[-1]
        bicubic[scale] = {"psnr": mean["bicubic_psnr"], "ssim": mean["bicubic_ssim"]}
        rows.append({"name": name, "scale": scale, "psnr": mean["psnr"], "ssim": mean["ssim"],
                     "seconds_per_image": (time.perf_counter() - start) / len(images)})
        print(f"{name:<26} x{scale}  PSNR {mean['psnr']:.2f}  SSIM {mean['ssim']:.4f}", flush=True)
    for spec in args.trained:
        label, _, runs = spec.partition("=")
        means, start = [], time.perf_counter()
        for run in runs.split(","):
            net = load_model(run)
            scale = net.scale
            with torch.inference_mode():
                means.append(evaluate_images(net, images, scale, crop=scale, tile=None)[-1])
            print(f"{label} {run:<40} x{scale}  PSNR {means[-1]['psnr']:.2f}  SSIM {means[-1]['ssim']:.4f}", flush=True)
        bicubic[scale] = {"psnr": means[0]["bicubic_psnr"], "ssim": means[0]["bicubic_ssim"]}
        row = {"name": label, "scale": scale, "runs": runs.split(","),
               "seconds_per_image": (time.perf_counter() - start) / len(images) / len(means)}
        for key in ("psnr", "ssim"):
            values = torch.tensor([m[key] for m in means], dtype=torch.float64)
            row[key], row[f"{key}_std"] = float(values.mean()), float(values.std()) if len(values) > 1 else 0.0
            row[f"{key}_runs"] = values.tolist()
        rows.append(row)
    lines = [f"Y channel, crop = scale; mean over {len(images)} central {args.crop} px crops of skimage.data "
             f"({', '.join(PHOTOS)}); LR by MATLAB bicubic imresize, 8-bit.", "",
             "| model | scale | PSNR (dB) | SSIM | bicubic PSNR | bicubic SSIM | s / image (CPU) |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["scale"], -r["psnr"])):
        b = bicubic[r["scale"]]
        psnr, ssim = f"{r['psnr']:.2f}", f"{r['ssim']:.4f}"
        if len(r.get("runs", ())) > 1:
            psnr, ssim = f"{psnr} ± {r['psnr_std']:.2f}", f"{ssim} ± {r['ssim_std']:.4f}"
        lines.append(f"| {r['name']} | x{r['scale']} | {psnr} | {ssim} | {b['psnr']:.2f} | "
                     f"{b['ssim']:.4f} | {r['seconds_per_image']:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"photos": PHOTOS, "crop": args.crop, "models": rows,
                                                    "bicubic": bicubic}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
