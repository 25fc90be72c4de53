"""StyleGAN2 training throughput: pixforge's ``stylegan2`` task against the loop of rosinality/stylegan2-pytorch.

The peer is ``train.py`` of rosinality/stylegan2-pytorch re-written here around the *same* networks and config
(``pixforge/configs/stylegan2_mnist32.yaml``: 32 px, 1 channel, channels 64/32, z 128, mapping depth 2, batch 32,
lazy R1 every 16 and path length every 4, mixing 0.9, the same EMA half-life), with its per-step structure:
``requires_grad`` toggled on both networks twice a step, separate D and G steps (each drawing its own mixing
latents with ``random.random()``), R1 as its own step every ``d_reg_every`` (``+ 0 * real_pred[0]``), path length
on a halved batch every ``g_reg_every``, ``accumulate(g_ema, g, accum)`` on every step, ``reduce_loss_dict`` and a
``.item()`` per logged value on every step, its default ``torch.optim.Adam``. Its data loader is a DataLoader
over the images in memory (rosinality's reads and augments LMDB records: the peer is spared that).

Variants in one run, the single steps of all of them interleaved round-robin so load changes hit all alike:

* ``pixforge (defaults)``: ``StyleGAN2Task.train_step`` as ``pixforge train stylegan2`` runs it (fp32, the
  4-D weights and the batches channels-last);
* ``pixforge, bf16 autocast``: the same with ``loop.amp=true`` (CPUs with AVX-512 BF16; numerics differ);
* ``pixforge, contiguous``: the defaults with ``channels_last=false`` (the default before it was measured here);
* ``peer (rosinality loop)``: the loop above on pixforge's modules (modulated convs as pixforge runs them:
  style-scaled input, one shared-weight conv, demodulation of the output);
* ``peer, rosinality's grouped conv``: the same with the modulated convs switched to rosinality's default
  implementation (per-sample weights, one grouped convolution; ``ModulatedConv2d(fused=True)``);
* ``peer, rosinality's CPU ops``: the grouped conv and, for every FIR blur/upsampling, the op rosinality's
  ``upfirdn2d`` runs on CPU tensors (``upfirdn2d_native``: each channel filtered as its own one-channel image,
  N·C images through a 1-channel conv) where pixforge runs one depthwise convolution: rosinality's code as it
  runs on a CPU, loop and layers.

Each timed window is 16 steps (one R1 step, four path-length steps), after 2 warm-up steps; the ratios are
medians over ``--repeats`` of each pixforge variant's images/s over each peer's, measured in the same window;
the headline is pixforge (defaults) / peer (rosinality loop).

    nice -n 5 .venv/bin/python benchmarks/stylegan_throughput.py [--repeats 3] [--threads 1]

Writes benchmarks/results/stylegan_throughput.json.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import platform
import random
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import autograd
from torch.utils import data as tdata

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from gan_throughput import measure  # noqa: E402  (round-robin timing of single steps)

CONFIG = ROOT.parent / "pixforge" / "configs" / "stylegan2_mnist32.yaml"


def recipe(**overrides):
    from pixforge.config import load_config
    from pixforge.tasks.stylegan2 import StyleGAN2Config

    cfg = load_config(StyleGAN2Config, CONFIG, overrides)
    return dataclasses.replace(cfg, sample_shape=[1, cfg.image_size, cfg.image_size])


def pixforge_stepper(images: torch.Tensor, **settings):
    from pixforge.tasks.stylegan2 import StyleGAN2Task

    torch.manual_seed(0)
    return StyleGAN2Task(recipe(**settings), images, None, torch.device("cpu")).train_step


# ------------------------------------------------------------------------------------------------ the peer
def requires_grad(model, flag=True):
    for p in model.parameters():
        p.requires_grad = flag


def accumulate(model1, model2, decay=0.999):
    par1 = dict(model1.named_parameters())
    par2 = dict(model2.named_parameters())
    for k in par1.keys():
        par1[k].data.mul_(decay).add_(par2[k].data, alpha=1 - decay)


def mixing_noise(batch, latent_dim, prob):
    if prob > 0 and random.random() < prob:
        return list(torch.randn(2, batch, latent_dim).unbind(0))
    return [torch.randn(batch, latent_dim)]


def generate(generator, noise, return_latents=False):
    """rosinality's ``generator(styles)`` on pixforge's module: one z, or two for style mixing."""
    img, latents = generator(noise[0], z2=noise[1] if len(noise) > 1 else None, return_latents=True)
    return img, (latents if return_latents else None)


def d_logistic_loss(real_pred, fake_pred):
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def d_r1_loss(real_pred, real_img):
    grad_real, = autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad_real.pow(2).reshape(grad_real.shape[0], -1).sum(1).mean()


def g_nonsaturating_loss(fake_pred):
    return F.softplus(-fake_pred).mean()


def g_path_regularize(fake_img, latents, mean_path_length, decay=0.01):
    noise = torch.randn_like(fake_img) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
    grad, = autograd.grad(outputs=(fake_img * noise).sum(), inputs=latents, create_graph=True)
    path_lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
    path_mean = mean_path_length + decay * (path_lengths.mean() - mean_path_length)
    path_penalty = (path_lengths - path_mean).pow(2).mean()
    return path_penalty, path_mean.detach(), path_lengths


def upfirdn2d_native(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)) -> torch.Tensor:
    """rosinality's CPU ``upfirdn2d``: zero insertion, padding, the flipped 2-D kernel as a 1-channel conv over
    all N·C channels as separate images, every ``down``-th pixel (its layout permutes are no-ops left out)."""
    n, c, h, w = x.shape
    x = F.pad(x.reshape(n * c, 1, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(n * c, 1, h * up, w * up)
    x = F.conv2d(F.pad(x, (pad[0], pad[1], pad[0], pad[1])), kernel.flip(0, 1)[None, None].to(x.dtype))
    return x.reshape(n, c, *x.shape[-2:])[..., ::down, ::down]


def rosinality_ops(*nets: torch.nn.Module) -> None:
    """Switch pixforge's modulated convs to the grouped conv and its FIR filters to :func:`upfirdn2d_native`."""
    from pixforge.nn.conv import Blur, ModulatedConv2d, Upsample

    class NativeBlur(Blur):
        def forward(self, x):
            return upfirdn2d_native(x, self.kernel, pad=self.pad)

    class NativeUpsample(Upsample):
        def forward(self, x):
            return upfirdn2d_native(x, self.kernel, up=self.factor, pad=self.pad)

    for m in (m for net in nets for m in net.modules()):
        if isinstance(m, ModulatedConv2d):
            m.fused = True
        elif isinstance(m, Upsample):
            m.__class__ = NativeUpsample
        elif isinstance(m, Blur):
            m.__class__ = NativeBlur


def peer_stepper(images: torch.Tensor, grouped_conv: bool = False, native_ops: bool = False):
    """rosinality's train.py loop body (single process: ``reduce_loss_dict`` is the identity there)."""
    from pixforge.nn.conv import ModulatedConv2d
    from pixforge.tasks.stylegan2 import build_discriminator, build_generator

    torch.manual_seed(0)
    cfg = recipe()
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    if grouped_conv:
        for m in generator.modules():
            if isinstance(m, ModulatedConv2d):
                m.fused = True
    if native_ops:
        rosinality_ops(generator, discriminator)
    g_ema = copy.deepcopy(generator).eval()
    accumulate(g_ema, generator, 0)
    g_reg_ratio = cfg.pl_every / (cfg.pl_every + 1)
    d_reg_ratio = cfg.r1_every / (cfg.r1_every + 1)
    g_optim = torch.optim.Adam(generator.parameters(), lr=cfg.lr * g_reg_ratio,
                               betas=(0 ** g_reg_ratio, 0.99 ** g_reg_ratio))
    d_optim = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr * d_reg_ratio,
                               betas=(0 ** d_reg_ratio, 0.99 ** d_reg_ratio))
    loader = tdata.DataLoader(tdata.TensorDataset(images), batch_size=cfg.batch_size,
                              sampler=tdata.RandomSampler(images), drop_last=True)

    def sample_data():
        while True:
            for (batch,) in loader:
                yield batch

    batches = sample_data()
    accum = 0.5 ** (32 / (10 * 1000))
    state = {"mean_path_length": 0, "r1_loss": torch.tensor(0.0), "path_loss": torch.tensor(0.0),
             "path_lengths": torch.tensor(0.0), "mean_path_length_avg": 0}

    def step(i: int) -> str:
        real_img = next(batches)
        requires_grad(generator, False)
        requires_grad(discriminator, True)
        noise = mixing_noise(cfg.batch_size, cfg.z_dim, cfg.mixing)
        fake_img, _ = generate(generator, noise)
        fake_pred = discriminator(fake_img)
        real_pred = discriminator(real_img)
        d_loss = d_logistic_loss(real_pred, fake_pred)
        loss_dict = {"d": d_loss, "real_score": real_pred.mean(), "fake_score": fake_pred.mean()}
        discriminator.zero_grad()
        d_loss.backward()
        d_optim.step()

        if i % cfg.r1_every == 0:
            real_img.requires_grad = True
            real_pred = discriminator(real_img)
            state["r1_loss"] = d_r1_loss(real_pred, real_img)
            discriminator.zero_grad()
            (cfg.r1 / 2 * state["r1_loss"] * cfg.r1_every + 0 * real_pred[0]).backward()
            d_optim.step()
        loss_dict["r1"] = state["r1_loss"]

        requires_grad(generator, True)
        requires_grad(discriminator, False)
        noise = mixing_noise(cfg.batch_size, cfg.z_dim, cfg.mixing)
        fake_img, _ = generate(generator, noise)
        fake_pred = discriminator(fake_img)
        g_loss = g_nonsaturating_loss(fake_pred)
        loss_dict["g"] = g_loss
        generator.zero_grad()
        g_loss.backward()
        g_optim.step()

        if i % cfg.pl_every == 0:
            path_batch_size = max(1, cfg.batch_size // cfg.pl_batch_shrink)
            noise = mixing_noise(path_batch_size, cfg.z_dim, cfg.mixing)
            fake_img, latents = generate(generator, noise, return_latents=True)
            state["path_loss"], state["mean_path_length"], state["path_lengths"] = g_path_regularize(
                fake_img, latents, state["mean_path_length"])
            generator.zero_grad()
            weighted_path_loss = cfg.pl_weight * cfg.pl_every * state["path_loss"]
            weighted_path_loss += 0 * fake_img[0, 0, 0, 0]
            weighted_path_loss.backward()
            g_optim.step()
            state["mean_path_length_avg"] = state["mean_path_length"].item() / 1  # reduce_sum / world size
        loss_dict["path"] = state["path_loss"]
        loss_dict["path_length"] = state["path_lengths"].mean()

        accumulate(g_ema, generator, accum)
        loss_reduced = loss_dict  # reduce_loss_dict with one process
        d_loss_val = loss_reduced["d"].mean().item()
        g_loss_val = loss_reduced["g"].mean().item()
        r1_val = loss_reduced["r1"].mean().item()
        path_loss_val = loss_reduced["path"].mean().item()
        loss_reduced["real_score"].mean().item()
        loss_reduced["fake_score"].mean().item()
        loss_reduced["path_length"].mean().item()
        return (f"d: {d_loss_val:.4f}; g: {g_loss_val:.4f}; r1: {r1_val:.4f}; path: {path_loss_val:.4f}; "
                f"mean path: {state['mean_path_length_avg']:.4f}")  # its progress-bar line

    return step


# ------------------------------------------------------------------------------------------------ main
PIXFORGE, PEER = "pixforge (defaults)", "peer (rosinality loop)"
VARIANTS = {
    PIXFORGE: lambda x: pixforge_stepper(x),
    "pixforge, bf16 autocast": lambda x: pixforge_stepper(x, **{"loop.amp": True}),
    "pixforge, contiguous": lambda x: pixforge_stepper(x, channels_last=False),
    PEER: lambda x: peer_stepper(x),
    "peer, rosinality's grouped conv": lambda x: peer_stepper(x, grouped_conv=True),
    "peer, rosinality's CPU ops": lambda x: peer_stepper(x, native_ops=True),
}


def main() -> None:
    from pixforge.data.gan import load_gan_data

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=16, help="timed steps per repeat (16: one R1 step, four PL steps)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default=str(ROOT / "results" / "stylegan_throughput.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    cfg = recipe()
    images, _ = load_gan_data(cfg.data, cfg.image_size)
    rates: dict[str, list[float]] = {k: [] for k in args.variants}
    for rep in range(args.repeats):
        steppers = {k: VARIANTS[k](images) for k in args.variants}
        for k, v in measure(steppers, args.steps, args.warmup).items():
            rates[k].append(v * cfg.batch_size)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} img/s" for k, v in rates.items()), flush=True)
    peers = [k for k in rates if k.startswith("peer")]  # every variant's speed-up over each peer, per repeat
    ratios = {f"{k} / {p}": [a / b for a, b in zip(rates[k], rates[p])] for p in peers for k in rates
              if not k.startswith("peer")}
    result = {
        "benchmark": "stylegan_throughput", "config": str(CONFIG.relative_to(ROOT.parent)),
        "batch": cfg.batch_size, "size": cfg.image_size, "steps": args.steps, "warmup": args.warmup,
        "repeats": args.repeats, "threads": args.threads, "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "machine": platform.processor() or platform.machine(),
        "shared_machine": True,
        "median_images_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "runs_images_per_s": rates,
        "median_ratios": {k: statistics.median(v) for k, v in ratios.items()}, "ratios": ratios,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result["median_images_per_s"].items():
        print(f"{k:35s} {v:7.1f} images/s")
    for k, v in result["median_ratios"].items():
        print(f"{k}: {v:.2f}x (median of {args.repeats})")


if __name__ == "__main__":
    main()
