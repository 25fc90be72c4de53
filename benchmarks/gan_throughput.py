"""GAN training throughput: pixforge's GanTask vs the plain loop most users start from.

The peer is the DCGAN of eriklindernoren/PyTorch-GAN (``implementations/dcgan/dcgan.py``), re-written here:
its Generator (linear to 128·(s/4)², BN, two upsample+conv3 blocks, tanh) and Discriminator (four strided
conv3 blocks with LeakyReLU, Dropout2d(0.25) and BN, a linear + sigmoid head), trained by its loop
(G step with BCE on D(G(z)), then D step on real and the detached fake; Adam 2e-4, (0.5, 0.999)).

pixforge trains the *same* two modules (the sigmoid is dropped: pixforge's losses take logits and use the
stable softplus form, which is the same BCE) through ``GanTask`` with its defaults, so the ratio measures
the training system, not the architecture. Variants switch single optimisations off/on to show which help.

    .venv/bin/python benchmarks/gan_throughput.py [--steps 10] [--repeats 3] [--threads 1] [--size 32]

Writes benchmarks/RESULTS_gan.json. Timings on a shared machine are noisy: every number is a median of
``repeats`` runs in which the variants' single steps are interleaved round-robin, and the headline is the
ratio measured in the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixforge.tasks.gan import GanConfig, GanTask, resolve
from pixforge.train import LoopConfig


class PeerGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, channels: int = 1, size: int = 32):
        super().__init__()
        self.s = size // 4
        self.l1 = nn.Linear(z_dim, 128 * self.s ** 2)
        self.conv = nn.Sequential(
            nn.BatchNorm2d(128), nn.Upsample(scale_factor=2), nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, True), nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, 1, 1),
            nn.BatchNorm2d(64, 0.8), nn.LeakyReLU(0.2, True), nn.Conv2d(64, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z, y=None):
        return self.conv(self.l1(z).view(z.shape[0], 128, self.s, self.s))


class PeerDiscriminator(nn.Module):
    def __init__(self, channels: int = 1, size: int = 32, sigmoid: bool = True):
        super().__init__()
        layers, cin = [], channels
        for cout, bn in [(16, False), (32, True), (64, True), (128, False)]:
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.LeakyReLU(0.2, True), nn.Dropout2d(0.25)]
            layers += [nn.BatchNorm2d(cout, 0.8)] if bn else []
            cin = cout
        self.model = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(128 * (size // 16) ** 2, 1), *([nn.Sigmoid()] if sigmoid else []))

    def forward(self, x, y=None):
        return self.head(self.model(x).flatten(1)).squeeze(1)


def peer_init(m):
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def peer_stepper(data: torch.Tensor, batch: int, size: int):
    """The peer's own loop body: G step, then D step on the detached fake; BCELoss on sigmoid outputs."""
    torch.manual_seed(0)
    g, d = PeerGenerator(size=size), PeerDiscriminator(size=size)
    g.apply(peer_init)
    d.apply(peer_init)
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(i: int) -> None:
        real = data[(i * batch) % len(data):][:batch]
        valid, fake = torch.ones(len(real)), torch.zeros(len(real))
        opt_g.zero_grad()
        z = torch.tensor(np.random.normal(0, 1, (len(real), 100)), dtype=torch.float32)
        gen = g(z)
        g_loss = bce(d(gen), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = 0.5 * (bce(d(real), valid) + bce(d(gen.detach()), fake))
        d_loss.backward()
        opt_d.step()

    return step


def pixforge_stepper(data: torch.Tensor, batch: int, size: int, **overrides):
    """GanTask.train_step on the same two modules (the D without its sigmoid: pixforge's losses take logits)."""
    torch.manual_seed(0)
    g, d = PeerGenerator(size=size), PeerDiscriminator(size=size, sigmoid=False)
    g.apply(peer_init)
    d.apply(peer_init)
    cfg = GanConfig(data="synthetic", loss="nonsaturating", z_dim=100, batch_size=batch,
                    loop=LoopConfig(progress=False, tensorboard=False))
    cfg = resolve(dataclasses.replace(cfg, **overrides), tuple(data.shape[1:]))
    task = GanTask(cfg, data, None, torch.device("cpu"), generator=g, discriminator=d)
    return task.train_step


def measure(steppers: dict, steps: int, warmup: int) -> dict[str, float]:
    """it/s of each stepper, with single steps interleaved round-robin so load changes hit all alike."""
    for fn in steppers.values():
        for i in range(warmup):
            fn(i)
    spent = dict.fromkeys(steppers, 0.0)
    for i in range(warmup, warmup + steps):
        for name, fn in steppers.items():
            t0 = time.perf_counter()
            fn(i)
            spent[name] += time.perf_counter() - t0
    return {k: steps / v for k, v in spent.items()}


VARIANTS = {
    "pixforge (defaults)": {},
    "pixforge, no channels_last": {"channels_last": False},
    "pixforge, foreach instead of fused Adam": {"fused_optim": False},
    "pixforge, no bf16 autocast": {"bf16": False},
    "pixforge, fp32 and none of the above": {"bf16": False, "channels_last": False, "fused_optim": False},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--variants", default="all", help="'all' or 'defaults' (peer vs pixforge defaults only)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_gan.json")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = torch.rand(1024, 1, args.size, args.size) * 2 - 1
    variants = VARIANTS if args.variants == "all" else {"pixforge (defaults)": {}}
    peer_name = "peer (eriklindernoren DCGAN loop)"
    rates: dict[str, list[float]] = {peer_name: []} | {k: [] for k in variants}
    ratios: list[float] = []
    for rep in range(args.repeats):
        steppers = {peer_name: peer_stepper(data, args.batch, args.size)}
        steppers |= {k: pixforge_stepper(data, args.batch, args.size, **kw) for k, kw in variants.items()}
        for k, v in measure(steppers, args.steps, args.warmup).items():
            rates[k].append(v)
        ratios.append(rates["pixforge (defaults)"][-1] / rates[peer_name][-1])
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} it/s" for k, v in rates.items()), flush=True)
    result = {
        "benchmark": "gan_throughput", "batch": args.batch, "size": args.size, "steps": args.steps,
        "repeats": args.repeats, "threads": args.threads, "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.processor() or platform.machine(),
        "shared_machine": True,
        "median_it_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "runs_it_per_s": rates,
        "ratio_pixforge_over_peer_median": statistics.median(ratios), "ratios": ratios,
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    for k, v in result["median_it_per_s"].items():
        print(f"{k:45s} {v:7.2f} it/s")
    print(f"ratio pixforge/peer (median of {args.repeats}): {result['ratio_pixforge_over_peer_median']:.2f}x")


if __name__ == "__main__":
    main()
