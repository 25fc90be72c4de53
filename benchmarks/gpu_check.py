"""GPU check: a two-minute set of timings on a CUDA machine (``make gpu-check`` runs it after the test suite).

    python benchmarks/gpu_check.py                        # CUDA: prints a table of medians (about 2 minutes)
    python benchmarks/gpu_check.py --device cpu --quick   # the same code on the CPU at small sizes (< 1 minute)

Without CUDA (and no ``--device cpu``) it prints one line saying so and exits 0, so it is safe in CI.

Timed, each a median over ``--repeats`` runs after one warm-up, with the device synchronised:
Gatys (L-BFGS, 512 px), Magenta (one 1024 px image, style embedding done once), one DCGAN training step
(64 px, batch 64) and FID feature extraction (500 images, resized to 299). Networks use their cached weights
when present (``make weights``); otherwise Gatys and FID use random weights (the same work) and Magenta is
skipped. Sizes in ``--quick`` mode are small and say nothing about the GPU.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixforge import weights  # noqa: E402
from pixforge.io import read_image  # noqa: E402
from pixforge.utils import median_seconds  # noqa: E402

STYLE = ROOT / "pixforge" / "examples" / "starry_night.jpg"


@dataclass(frozen=True)
class Sizes:
    gatys_px: int = 512
    gatys_steps: int = 100
    magenta_px: int = 1024
    gan_px: int = 64
    gan_batch: int = 64
    fid_images: int = 500
    fid_batch: int = 100


FULL, QUICK = Sizes(), Sizes(gatys_px=64, gatys_steps=5, magenta_px=128, gan_px=32, gan_batch=8,
                             fid_images=8, fid_batch=8)


def synchronised(fn, device: torch.device):
    """``fn`` followed by a device synchronisation, so that the clock sees the GPU's work."""
    def run():
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out
    return run


def content_image(px: int) -> torch.Tensor:
    """A smooth synthetic photo-like image (3, px, px) in [0, 1]: the timings do not depend on its content."""
    g = torch.Generator().manual_seed(0)
    low = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(px, px), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def time_gatys(s: Sizes, device: torch.device, repeats: int) -> tuple[str, float, str]:
    from pixforge.style.methods import StylizeOptions, build

    vgg = "vgg16-hed" if weights.status("vgg16-hed") == "present" else "random"
    opts = StylizeOptions(method="gatys", size=s.gatys_px, steps=s.gatys_steps, device=str(device), progress=False,
                          vgg_weights=vgg, seed=0)
    stylize = build([read_image(STYLE, size=s.gatys_px)], opts)
    content = content_image(s.gatys_px)[None]
    t = median_seconds(synchronised(lambda: stylize(content), device), repeats)
    return (f"Gatys, {s.gatys_px} px, {s.gatys_steps} L-BFGS steps ({vgg} VGG)", t,
            f"{t / s.gatys_steps * 1e3:.1f} ms/step")


def time_magenta(s: Sizes, device: torch.device, repeats: int) -> tuple[str, float, str]:
    from pixforge.style.methods import StylizeOptions, build

    what = f"Magenta, one {s.magenta_px} px image"
    if any(weights.status(n) != "present" for n in ("magenta-predictor", "magenta-transformer")):
        return what, float("nan"), "skipped: weights not cached (make weights)"
    stylize = build([read_image(STYLE, size=256)], StylizeOptions(method="magenta", size=s.magenta_px,
                                                                   device=str(device), progress=False))
    content = content_image(s.magenta_px)[None]
    t = median_seconds(synchronised(lambda: stylize(content), device), repeats)
    return what, t, f"{s.magenta_px ** 2 / t / 1e6:.3g} Mpx/s"


def time_dcgan(s: Sizes, device: torch.device, repeats: int) -> tuple[str, float, str]:
    from pixforge.tasks.gan import GanConfig, GanTask, resolve
    from pixforge.train import LoopConfig

    torch.manual_seed(0)
    shape = (3, s.gan_px, s.gan_px)
    cfg = GanConfig(data="synthetic", arch="dcgan", batch_size=s.gan_batch,
                    loop=LoopConfig(device=str(device), progress=False, tensorboard=False))
    cfg = resolve(cfg, shape)
    task = GanTask(cfg, torch.rand(8 * s.gan_batch, *shape) * 2 - 1, None, device)
    step = iter(range(10 ** 9))
    t = median_seconds(synchronised(lambda: task.train_step(next(step)), device), max(5, repeats * 5))
    return (f"DCGAN training step, {s.gan_px} px, batch {s.gan_batch}{' (bf16)' if cfg.bf16 else ''}", t,
            f"{s.gan_batch / t:.3g} images/s")


def time_fid(s: Sizes, device: torch.device, repeats: int) -> tuple[str, float, str]:
    from pixforge.metrics.features import create_extractor, extract
    from pixforge.models.inception import FIDInceptionV3

    real = weights.status("inception-fid") == "present"
    model = create_extractor("inception", device, download=False) if real else FIDInceptionV3().eval().to(device)
    images = torch.rand(s.fid_images, 3, 64, 64) * 2 - 1
    t = median_seconds(synchronised(lambda: extract(model, images, batch_size=s.fid_batch, progress=False), device),
                       repeats)
    return (f"FID features, {s.fid_images} images 64 px -> 299 ({'pytorch-fid' if real else 'random'} weights)", t,
            f"{s.fid_images / t:.3g} images/s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the script, times nothing useful")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU found (torch.cuda.is_available() is False); nothing timed")
        return 0
    sizes = QUICK if args.quick else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"gpu-check on {device} ({name}), torch {torch.__version__}, medians of {args.repeats} runs"
          f"{' (quick sizes)' if args.quick else ''}")
    start = time.perf_counter()
    rows = [timer(sizes, device, args.repeats) for timer in (time_gatys, time_magenta, time_dcgan, time_fid)]
    width = max(len(what) for what, _, _ in rows)
    print(f"| {'what':<{width}} | median s | rate |")
    print(f"|{'-' * (width + 2)}|---------:|------|")
    for what, seconds, rate in rows:
        print(f"| {what:<{width}} | {seconds:8.3f} | {rate} |")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
