"""Inference speed and peak memory of `pixforge upscale` against a Real-ESRGAN ``RealESRGANer``-style loop.

    python benchmarks/sr_speed.py [--models realesrgan-x4plus,realesr-animevideov3] [--size 256] [--tile 128]
                                  [--repeats 3] [--memory-size 1024] [--threads 2]

The reference (:class:`RealESRGANerReference`) is written here the way Real-ESRGAN's ``RealESRGANer.enhance``
does it for an 8-bit RGB image: float32 in [0, 1], ``pre_pad`` reflection on the right and bottom, the tile loop
(tiles of ``tile`` px read with ``tile_pad`` px of context, clipped to the image, one tile at a time, each pasted
into a zero-initialised output), crop, clamp, round to 8 bits; plain fp32 and NCHW, as with ``half=False``. It
runs the same weights (a copy of pixforge's network made before pixforge touches it), since basicsr's RRDBNet and
SRVGGNetCompact are the same layers. pixforge runs :func:`pixforge.sr.upscale` with the same tiles and context
(``overlap = tile_pad``), so both compute the same thing; its fp32 output must equal the reference's to 1/255,
and its bf16 one is compared too. Defaults: the Real-ESRGAN inference script's ``tile_pad=10, pre_pad=0``.

Every timing is the median of ``--repeats`` runs, the implementations interleaved in each round so that the ratio
compares runs made under the same machine load. Peak memory: a fresh process upscales one ``--memory-size`` px
image (4x: 4096 px out) and reports its VmHWM (not ru_maxrss, which Linux carries over from the parent).
Writes benchmarks/results/sr_speed.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixforge.sr import load_model, upscale  # noqa: E402


class RealESRGANerReference:
    """``RealESRGANer``'s pre-pad / tile / post-process path for an RGB uint8 image, fp32 throughout."""

    def __init__(self, model: torch.nn.Module, scale: int, tile: int = 0, tile_pad: int = 10, pre_pad: int = 0):
        self.model, self.scale, self.tile_size, self.tile_pad, self.pre_pad = model.eval(), scale, tile, tile_pad, pre_pad
        self.mod_scale = {2: 2, 1: 4}.get(scale)

    def pre_process(self, img: np.ndarray) -> None:
        self.img = torch.from_numpy(np.transpose(img, (2, 0, 1))).float().unsqueeze(0)
        if self.pre_pad != 0:
            self.img = F.pad(self.img, (0, self.pre_pad, 0, self.pre_pad), "reflect")
        self.mod_pad_h = self.mod_pad_w = 0
        if self.mod_scale is not None:
            _, _, h, w = self.img.size()
            self.mod_pad_h = (self.mod_scale - h % self.mod_scale) % self.mod_scale
            self.mod_pad_w = (self.mod_scale - w % self.mod_scale) % self.mod_scale
            self.img = F.pad(self.img, (0, self.mod_pad_w, 0, self.mod_pad_h), "reflect")

    def tile_process(self) -> None:
        batch, channel, height, width = self.img.shape
        self.output = self.img.new_zeros((batch, channel, height * self.scale, width * self.scale))
        tiles_x, tiles_y = math.ceil(width / self.tile_size), math.ceil(height / self.tile_size)
        for y in range(tiles_y):
            for x in range(tiles_x):
                ofs_x, ofs_y = x * self.tile_size, y * self.tile_size
                in_x0, in_x1 = ofs_x, min(ofs_x + self.tile_size, width)
                in_y0, in_y1 = ofs_y, min(ofs_y + self.tile_size, height)
                pad_x0, pad_x1 = max(in_x0 - self.tile_pad, 0), min(in_x1 + self.tile_pad, width)
                pad_y0, pad_y1 = max(in_y0 - self.tile_pad, 0), min(in_y1 + self.tile_pad, height)
                with torch.no_grad():
                    out_tile = self.model(self.img[:, :, pad_y0:pad_y1, pad_x0:pad_x1])
                s = self.scale
                tx0, ty0 = (in_x0 - pad_x0) * s, (in_y0 - pad_y0) * s
                self.output[:, :, in_y0 * s:in_y1 * s, in_x0 * s:in_x1 * s] = \
                    out_tile[:, :, ty0:ty0 + (in_y1 - in_y0) * s, tx0:tx0 + (in_x1 - in_x0) * s]

    def post_process(self) -> torch.Tensor:
        _, _, h, w = self.output.size()
        out = self.output[:, :, 0:h - self.mod_pad_h * self.scale, 0:w - self.mod_pad_w * self.scale]
        _, _, h, w = out.size()
        return out[:, :, 0:h - self.pre_pad * self.scale, 0:w - self.pre_pad * self.scale]

    @torch.no_grad()
    def enhance(self, img: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (sH, sW, 3) uint8 RGB."""
        self.pre_process(img.astype(np.float32) / 255)
        if self.tile_size > 0:
            self.tile_process()
        else:
            self.output = self.model(self.img)
        out = self.post_process().squeeze(0).float().clamp_(0, 1).numpy()
        return (np.transpose(out, (1, 2, 0)) * 255.0).round().astype(np.uint8)


def pixforge_enhance(net: torch.nn.Module, img: np.ndarray, tile: int, overlap: int, bf16: bool) -> np.ndarray:
    """`pixforge upscale`'s path on the same uint8 image: tensor in [0, 1], upscale, 8 bits."""
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    out = upscale(x, net, tile=tile, overlap=overlap, bf16=bf16)
    return (out.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def photo(size: int) -> np.ndarray:
    """The central ``size`` px square of scikit-image's astronaut (512 px; tiled by reflection when larger)."""
    from skimage import data

    a = data.astronaut()
    if size > 512:
        a = np.pad(a, ((0, size - 512), (0, size - 512), (0, 0)), mode="reflect")
    top = (a.shape[0] - size) // 2
    return np.ascontiguousarray(a[top:top + size, top:top + size])


def nets(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(pixforge's network, an untouched fp32 NCHW copy for the reference) with the same weights."""
    ours = load_model(name, "cpu")
    return ours, copy.deepcopy(ours)


def speed(name: str, size: int, tile: int, tile_pad: int, repeats: int) -> dict:
    ours, theirs = nets(name)
    img = photo(size)
    ref = RealESRGANerReference(theirs, ours.scale, tile=tile, tile_pad=tile_pad, pre_pad=0)
    runs = {"reference_fp32": lambda: ref.enhance(img),
            "pixforge_fp32": lambda: pixforge_enhance(ours, img, tile, tile_pad, False),
            "pixforge_bf16": lambda: pixforge_enhance(ours, img, tile, tile_pad, True)}
    small = photo(64)  # warm-up: first-call allocations and kernel selection, on a small image
    ref.enhance(small), pixforge_enhance(ours, small, tile, tile_pad, False), pixforge_enhance(ours, small, tile, tile_pad, True)
    times, outputs = {key: [] for key in runs}, {}
    for r in range(repeats):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            outputs[key] = fn()
            times[key].append(time.perf_counter() - t0)
        print(name, "round", r + 1, {k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    ref_out = outputs["reference_fp32"].astype(np.int16)
    diff = {key: int(np.abs(outputs[key].astype(np.int16) - ref_out).max()) for key in ("pixforge_fp32", "pixforge_bf16")}
    mse = float(((outputs["pixforge_bf16"].astype(np.float64) - ref_out) ** 2).mean())
    med = {key: statistics.median(v) for key, v in times.items()}
    return {"model": name, "input_px": size, "output_px": size * ours.scale, "tile": tile, "tile_pad": tile_pad,
            "median_s": {k: round(v, 3) for k, v in med.items()},
            "runs_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            "speedup_fp32": round(med["reference_fp32"] / med["pixforge_fp32"], 3),
            "speedup_bf16": round(med["reference_fp32"] / med["pixforge_bf16"], 3),
            "max_abs_diff_8bit": diff, "bf16_psnr_vs_reference_db": round(10 * math.log10(255 ** 2 / mse), 2)
            if mse else float("inf"), "output_shape": list(outputs["reference_fp32"].shape)}


def memory_child(name: str, impl: str, size: int, tile: int, tile_pad: int) -> None:
    """Run once in this (fresh) process and print the peak resident memory in kB."""
    ours, theirs = nets(name) if impl == "reference" else (load_model(name, "cpu"), None)
    img = photo(size)
    if impl == "reference":
        out = RealESRGANerReference(theirs, ours.scale, tile=tile, tile_pad=tile_pad).enhance(img)
    else:
        out = pixforge_enhance(ours, img, tile, tile_pad, impl == "pixforge_bf16")
    assert out.shape[0] == size * ours.scale
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def peak_memory_mb(name: str, impl: str, size: int, tile: int, tile_pad: int, threads: int) -> float:
    cmd = [sys.executable, __file__, "--memory-child", f"{name}:{impl}", "--memory-size", str(size), "--tile",
           str(tile), "--tile-pad", str(tile_pad), "--threads", str(threads)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="realesrgan-x4plus,realesr-animevideov3")
    ap.add_argument("--size", type=int, default=256, help="input px (x4 models: 4x this out)")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--tile-pad", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-size", type=int, default=1024, help="input px of the memory runs (0: none)")
    ap.add_argument("--memory-models", default="realesr-animevideov3:reference,pixforge_fp32,pixforge_bf16",
                    help="MODEL:IMPL,IMPL;MODEL:... (IMPL: reference, pixforge_fp32, pixforge_bf16)")
    ap.add_argument("--memory-tile", type=int, default=256)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sr_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        name, impl = args.memory_child.split(":")
        memory_child(name, impl, args.memory_size, args.tile, args.tile_pad)
        return
    results = {"command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "threads": args.threads,
               "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "speed": [],
               "memory": []}
    for name in [m for m in args.models.split(",") if m]:
        results["speed"].append(speed(name, args.size, args.tile, args.tile_pad, args.repeats))
        print(json.dumps(results["speed"][-1]), flush=True)
    if args.memory_size:
        for item in [m for m in args.memory_models.split(";") if m]:
            name, _, impls = item.partition(":")
            for impl in impls.split(","):
                t0 = time.perf_counter()
                mb = peak_memory_mb(name, impl, args.memory_size, args.memory_tile, args.tile_pad, args.threads)
                results["memory"].append({"model": name, "impl": impl, "input_px": args.memory_size,
                                          "tile": args.memory_tile, "peak_rss_mb": round(mb),
                                          "seconds": round(time.perf_counter() - t0, 1)})
                print(results["memory"][-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
