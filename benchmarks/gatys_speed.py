"""Gatys speed: pixforge vs a plain reference written the way neural-style-pt does it.

Reference (in this file): the whole VGG16 ``features`` (conv5_2, conv5_3 and pool5 included, though unused) as
one nn.Sequential with loss modules inserted after the content/style layers that compute their losses as the
forward pass goes, Gram via ``torch.mm`` per layer, contiguous NCHW fp32, single resolution, one
``torch.optim.LBFGS(max_iter=K)`` call (no line search, history 100).

pixforge: ``pixforge.style.gatys`` (VGG truncated after the deepest layer needed, channels_last, targets once,
L-BFGS stepped one iteration at a time), single resolution and with the 2-level coarse-to-fine warm start.

Both minimise the *same* function: same VGG weights (vgg16-hed), layers, loss formulas and weights. The
reference's loss after K iterations is the target; each pixforge variant runs until its full-resolution loss is
<= that target. Reported: time to target (median of --repeats), ratio, and seconds per iteration plus peak RSS
at several sizes (each size in a fresh subprocess, ``resource.getrusage`` maxrss).

    python benchmarks/gatys_speed.py                       # 512 px, K=40, 3 repeats (several minutes)
    python benchmarks/gatys_speed.py --size 256 --iters 30 --repeats 3 --sizes 256,512,1024
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixforge.io import read_image  # noqa: E402
from pixforge.nn.vgg import create_vgg, layer_names  # noqa: E402
from pixforge.style.gatys import Objective  # noqa: E402
from pixforge.style.optimise import optimise, schedule  # noqa: E402
from pixforge.losses.pixel import total_variation  # noqa: E402
from pixforge.style.methods import StylizeOptions  # noqa: E402

# shared/data beside the checkout (CI layout) or one level further up (worktrees)
DATA = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data") if p.is_dir()),
            ROOT.parent / "shared" / "data")
CONTENT, STYLE = DATA / "content" / "tubingen.jpg", DATA / "style" / "starry_night.jpg"
OPTS = StylizeOptions()  # default layers and weights, used by both sides


# ------------------------------------------------------------------ the reference, neural-style-pt fashion
class RefContentLoss(nn.Module):
    def __init__(self, weight: float):
        super().__init__()
        self.weight, self.target, self.mode, self.loss = weight, None, "none", 0.0

    def forward(self, x):
        if self.mode == "capture":
            self.target = x.detach()
        elif self.mode == "loss":
            self.loss = nn.functional.mse_loss(x, self.target) * self.weight
        return x


class RefStyleLoss(nn.Module):
    def __init__(self, weight: float):
        super().__init__()
        self.weight, self.target, self.mode, self.loss = weight, None, "none", 0.0

    @staticmethod
    def gram(x):
        _, c, h, w = x.shape
        f = x.view(c, h * w)
        return torch.mm(f, f.t()).div(c * h * w)

    def forward(self, x):
        if self.mode == "capture":
            self.target = self.gram(x).detach()
        elif self.mode == "loss":
            self.loss = nn.functional.mse_loss(self.gram(x), self.target) * self.weight
        return x


def reference_net(vgg_full: nn.Sequential):
    """Full VGG16 features with loss modules after the content/style layers."""
    net, content, styles = nn.Sequential(), [], []
    for name, module in zip(layer_names("vgg16"), vgg_full):
        net.add_module(name, module)
        if name == OPTS.content_layer:
            content.append(RefContentLoss(OPTS.content_weight))
            net.add_module(name + "_content", content[-1])
        if name in OPTS.style_layers:
            styles.append(RefStyleLoss(OPTS.style_weight))
            net.add_module(name + "_style", styles[-1])
    return net, content, styles


def run_reference(vgg, content, style, iters: int) -> tuple[float, float, list[tuple[float, float]]]:
    """Returns (seconds, final loss, (seconds since start, loss) per iteration)."""
    net, content_losses, style_losses = reference_net(nn.Sequential(*list(full_vgg(vgg))))
    prep = vgg.normalize
    with torch.no_grad():
        for m in content_losses:
            m.mode = "capture"
        net(prep(content))
        for m in content_losses:
            m.mode = "none"
        for m in style_losses:
            m.mode = "capture"
        net(prep(style))
    for m in content_losses + style_losses:
        m.mode = "loss"
    img = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([img], max_iter=iters, tolerance_change=-1, tolerance_grad=-1, history_size=100)
    history: list[tuple[float, float]] = []

    def feval():
        opt.zero_grad()
        net(prep(img))
        loss = sum(m.loss for m in content_losses + style_losses) + OPTS.tv_weight * total_variation(img)
        loss.backward()
        history.append((time.perf_counter() - start, float(loss.detach())))
        return loss

    start = time.perf_counter()
    opt.step(feval)
    seconds = time.perf_counter() - start
    return seconds, history[-1][1], history


_FULL = {}


def full_vgg(vgg) -> nn.Sequential:
    """The whole VGG16 ``features`` (31 modules) with the same weights as ``vgg`` (which is truncated)."""
    if "net" not in _FULL:
        _FULL["net"] = create_vgg(["pool5"], weights=vgg.backbone).features
    return _FULL["net"]


# ------------------------------------------------------------------ pixforge
class Reached(Exception):
    pass


def run_pixforge(vgg, content, style, target: float, max_iters: int, scales: int, coarse_steps: int,
                 bf16: bool = False) -> tuple[float, int]:
    """Seconds until the full-resolution loss is <= target, and the number of full-resolution iterations."""
    opts = StylizeOptions(bf16=bf16)
    levels = schedule(content.shape[-2:], scales, 0)
    count = [0]

    def stop(_image, parts):
        count[0] += 1
        if parts["total"] <= target:
            raise Reached

    start = time.perf_counter()
    image = content.clone()
    for i, level in enumerate(levels):
        c = nn.functional.interpolate(content, size=level.hw, mode="bilinear", antialias=True).clamp(0, 1)
        s = nn.functional.interpolate(style, size=_style_hw(style, level.hw), mode="bilinear", antialias=True)
        objective = Objective(vgg, c.contiguous(memory_format=torch.channels_last),
                              [s.clamp(0, 1).contiguous(memory_format=torch.channels_last)], opts)
        image = nn.functional.interpolate(image, size=level.hw, mode="bicubic").clamp(0, 1)
        final = i == len(levels) - 1
        try:
            image = optimise(objective, image, max_iters if final else coarse_steps, on_step=stop if final else None)
        except Reached:
            return time.perf_counter() - start, count[0]
    return float("nan"), count[0]


def _style_hw(style, hw):
    h, w = style.shape[-2:]
    scale = max(hw) / max(h, w)
    return round(h * scale), round(w * scale)


def load(size: int):
    content = read_image(CONTENT, size=size)[None]
    style = read_image(STYLE)[None]
    style = nn.functional.interpolate(style, size=_style_hw(style, content.shape[-2:]), mode="bilinear",
                                      antialias=True).clamp(0, 1)
    vgg = create_vgg([OPTS.content_layer, *OPTS.style_layers], weights="vgg16-hed")
    return vgg.to(memory_format=torch.channels_last), content, style


# ------------------------------------------------------------------ per-iteration time and memory, one size per process
def per_iteration(size: int, iters: int, which: str) -> dict:
    vgg, content, style = load(size)
    if which == "reference":
        run_reference(vgg, content, style, 1)  # warm-up (oneDNN primitive creation)
        seconds, _, _ = run_reference(vgg, content, style, iters)
    else:
        objective = Objective(vgg, content.contiguous(memory_format=torch.channels_last),
                              [style.contiguous(memory_format=torch.channels_last)], OPTS)
        optimise(objective, content, 1)  # warm-up (oneDNN primitive creation)
        passes = [0]
        start = time.perf_counter()
        optimise(objective, content, iters, on_step=lambda *_: passes.__setitem__(0, passes[0] + 1))
        seconds = time.perf_counter() - start
        iters = passes[0]  # VGG forward/backward passes (exactly the budget)
    return {"size": size, "which": which, "iters": iters, "s_per_iter": seconds / iters,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iters", type=int, default=40, help="K: reference L-BFGS iterations that set the target")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--coarse-steps", type=int, default=None, help="multi-res: half-size steps (default K/2)")
    parser.add_argument("--bf16", action="store_true", help="also try bf16 autocast for the VGG (StylizeOptions.bf16)")
    parser.add_argument("--sizes", default="256,512,1024", help="sizes for s/iter and peak memory ('' to skip)")
    parser.add_argument("--size-iters", default="4,3,2", help="iterations timed per size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gatys_speed.json")
    parser.add_argument("--_one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._one:
        print(json.dumps(per_iteration(int(args._one[0]), int(args._one[1]), args._one[2])))
        return

    vgg, content, style = load(args.size)
    coarse = args.coarse_steps if args.coarse_steps is not None else args.iters // 2
    optimise(Objective(vgg, content, [style], OPTS), content, 1)  # warm-up both (oneDNN primitive creation)
    run_reference(vgg, content, style, 1)
    variants = {"pixforge": dict(scales=1), "pixforge_multires": dict(scales=2)}
    if args.bf16:
        variants["pixforge_bf16"] = dict(scales=1, bf16=True)
        variants["pixforge_multires_bf16"] = dict(scales=2, bf16=True)
    times: dict[str, list] = {"reference": [], "reference_first_reach": [], **{k: [] for k in variants}}
    iters_used: dict[str, list] = {k: [] for k in variants}
    target = None
    for r in range(args.repeats):
        seconds, loss, history = run_reference(vgg, content, style, args.iters)
        times["reference"].append(seconds)
        target = loss if target is None else target
        # the reference's loss is not monotone (no line search): also time its first visit below the target
        first = next(((t, i + 1) for i, (t, v) in enumerate(history) if v <= target), (float("nan"), 0))
        times["reference_first_reach"].append(first[0])
        print(f"[{r}] reference: {args.iters} iters {seconds:.1f}s loss {loss:.5g} (start {history[0][1]:.5g}); "
              f"first <= target after {first[1]} iters, {first[0]:.1f}s", flush=True)
        for name, kw in variants.items():
            t, n = run_pixforge(vgg, content, style, target, max_iters=3 * args.iters, coarse_steps=coarse, **kw)
            times[name].append(t)
            iters_used[name].append(n)
            print(f"[{r}] {name}: {t:.1f}s to loss <= {target:.5g} ({n} full-res iters)", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
                   "2 CPU cores SHARED with ~7 other jobs (noisy; compare ratios within this run)",
        "torch": torch.__version__,
        "command": "python " + " ".join(sys.argv),
        "size": args.size, "K": args.iters, "coarse_steps": coarse, "target_loss": target,
        "seconds": times, "median_s": med, "full_res_iters": iters_used,
        "speedup_vs_reference": {k: med["reference"] / v for k, v in med.items() if not k.startswith("reference")},
        "speedup_vs_reference_first_reach": {k: med["reference_first_reach"] / v for k, v in med.items()
                                             if not k.startswith("reference")},
        "per_size": [],
    }
    sizes = [int(s) for s in args.sizes.split(",") if s]
    size_iters = [int(s) for s in args.size_iters.split(",")]
    for size, iters in zip(sizes, size_iters):
        for which in ("reference", "pixforge"):
            cmd = [sys.executable, __file__, "--_one", str(size), str(iters), which]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            result["per_size"].append(json.loads(line))
            print(line, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"median_s": med, "speedup": result["speedup_vs_reference"]}, indent=2))


if __name__ == "__main__":
    main()
