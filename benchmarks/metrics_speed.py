"""Speed of the evaluation metrics: feature extraction per 1000 images, and the FID square-root paths.

    python benchmarks/metrics_speed.py [--repeats 5]

Writes benchmarks/out/metrics_speed.{json,md}. Timings are medians over ``--repeats`` runs on the default
device. Network weights do not change the amount of work, so the networks run with random weights (the
real Inception file is not needed). The FID comparison times the eigen-based trace against
scipy.linalg.sqrtm (pytorch-fid's path) on the same 2048-d covariances, as a ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixforge.models.classifier import ClassifierConfig, DigitClassifier  # noqa: E402
from pixforge.metrics.features import extract  # noqa: E402
from pixforge.metrics.fid import frechet_distance, kernel_inception_distance  # noqa: E402
from pixforge.models.inception import FIDInceptionV3  # noqa: E402
from pixforge.metrics.prdc import precision_recall  # noqa: E402
from pixforge.utils import default_device  # noqa: E402
from pixforge.utils import median_seconds  # noqa: E402




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--inception-images", type=int, default=16, help="images timed for Inception (scaled to 1000)")
    args = ap.parse_args()
    device = default_device()
    rows = []

    for size in (28, 8):
        model = DigitClassifier(ClassifierConfig(in_channels=1, image_size=size)).eval().to(device)
        images = np.random.default_rng(0).uniform(-1, 1, size=(1000, 1, size, size)).astype(np.float32)
        s = median_seconds(lambda: extract(model, images, batch_size=250, progress=False), args.repeats)
        rows.append({"what": f"classifier features, {size}x{size} grey", "images": 1000, "seconds_per_1000": s})

    inception = FIDInceptionV3().to(device)
    n = args.inception_images
    images = np.random.default_rng(0).uniform(-1, 1, size=(n, 3, 64, 64)).astype(np.float32)
    s = median_seconds(lambda: extract(inception, images, batch_size=n, progress=False), max(1, args.repeats // 2))
    rows.append({"what": "Inception pool3 + logits, 64x64 RGB resized to 299", "images": n,
                 "seconds_per_1000": s * 1000 / n})

    rng = np.random.default_rng(0)
    feats_a, feats_b = rng.normal(size=(4000, 2048)), rng.normal(size=(4000, 2048)) * 1.1 + 0.1
    mu1, s1, mu2, s2 = feats_a.mean(0), np.cov(feats_a, rowvar=False), feats_b.mean(0), np.cov(feats_b, rowvar=False)
    reps = max(1, args.repeats // 2)
    t_eig = median_seconds(lambda: frechet_distance(mu1, s1, mu2, s2, method="eig"), reps)
    t_sqrtm = median_seconds(lambda: frechet_distance(mu1, s1, mu2, s2, method="sqrtm"), reps)
    fid_eig = frechet_distance(mu1, s1, mu2, s2, method="eig")
    fid_sqrtm = frechet_distance(mu1, s1, mu2, s2, method="sqrtm")
    t_kid = median_seconds(lambda: kernel_inception_distance(feats_a[:2000], feats_b[:2000]), reps)
    t_pr = median_seconds(lambda: precision_recall(feats_a[:2000], feats_b[:2000]), reps)

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {device}",
        "torch": torch.__version__, "repeats": args.repeats, "extraction": rows,
        "fid_2048": {"eig_seconds": t_eig, "sqrtm_seconds": t_sqrtm, "speedup_eig_vs_sqrtm": t_sqrtm / t_eig,
                     "fid_eig": fid_eig, "fid_sqrtm": fid_sqrtm, "relative_difference": abs(fid_eig - fid_sqrtm) / fid_sqrtm},
        "kid_2000x2048_100_subsets_seconds": t_kid, "pr_2000x2048_k3_seconds": t_pr,
    }
    lines = ["| what | seconds per 1000 images |", "|---|---|"]
    lines += [f"| {r['what']} (timed on {r['images']}) | {r['seconds_per_1000']:.2f} |" for r in rows]
    f = result["fid_2048"]
    lines += ["", "| Fréchet distance, D = 2048 | seconds | FID |", "|---|---|---|",
              f"| eig (pixforge default) | {f['eig_seconds']:.2f} | {f['fid_eig']:.6f} |",
              f"| scipy sqrtm (pytorch-fid) | {f['sqrtm_seconds']:.2f} | {f['fid_sqrtm']:.6f} |",
              f"| speed-up eig vs sqrtm | {f['speedup_eig_vs_sqrtm']:.1f}x | rel. diff {f['relative_difference']:.1e} |",
              "", f"KID (2000 vs 2000 x 2048, 100 subsets of 1000): {t_kid:.2f} s; "
              f"precision/recall (2000 vs 2000 x 2048, k=3): {t_pr:.2f} s", "", f"Machine: {result['machine']}"]
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "metrics_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "metrics_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
