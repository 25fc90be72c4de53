"""Cost of one neural-doodle step (VGG forward + patch matching + backward) by layer set and style stride,
and chunked vs one-shot patch matching. Single-threaded (torch.set_num_threads(1)) so runs compare;
median of 3. Usage: python benchmarks/doodle_speed.py [--sizes 128,256]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from pixforge.nn.vgg import create_vgg
from pixforge.style.doodle import DoodleConfig, _Objective, annotation_classes
from pixforge.style.mrf import match_patches, style_patches
from pixforge.utils import median_seconds




def scene(n: int):
    g = torch.Generator().manual_seed(0)
    style = torch.rand(3, n, n, generator=g)
    smap = torch.zeros(3, n, n)
    smap[0, :, : n // 2] = 1
    smap[2, :, n // 2:] = 1
    return style, smap, smap.flip(1)


def step_costs(n: int) -> None:
    style, smap, tmap = scene(n)
    s_cls, t_cls, _ = annotation_classes(smap, tmap)
    vgg = create_vgg(["relu2_1", "relu3_1", "relu4_1"], weights="random")
    base = None
    print(f"\n{n}x{n} px: seconds per step (median of 3), ratio to the paper's layers at stride 1")
    for layers, stride in ((["relu3_1", "relu4_1"], 1), (["relu2_1", "relu3_1", "relu4_1"], 1),
                           (["relu2_1", "relu3_1", "relu4_1"], 2)):
        cfg = DoodleConfig(layers=layers, stride=stride)
        objective = _Objective(vgg, cfg, style, s_cls, t_cls, None, (n, n))
        x = torch.rand(1, 3, n, n, requires_grad=True)
        t = median_seconds(lambda: objective(x)[0].backward())
        base = base or t
        print(f"  {','.join(layers):24s} stride {stride}: {t:6.2f} s  x{t / base:.2f}")


def matching_costs(n: int) -> None:
    feats = torch.rand(1, 128, n // 2, n // 2)  # relu2_1-sized features
    style = style_patches(feats)
    one_shot = F.conv2d(feats, style.kernels)  # the peer: all patches at once
    mb = one_shot.numel() * 4 / 2**20
    del one_shot
    t_peer = median_seconds(lambda: F.conv2d(feats, style.kernels)[0].flatten(1).max(0))
    t_chunk = median_seconds(lambda: match_patches(feats, style))
    chunk_mb = 16_000_000 * 4 / 2**20
    print(f"\nmatching {n // 2}x{n // 2}x128 features against {style.kernels.shape[0]} patches: chunked "
          f"{t_chunk:.2f} s (response <= {chunk_mb:.0f} MB) vs one-shot {t_peer:.2f} s (response {mb:.0f} MB), "
          f"ratio x{t_chunk / t_peer:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="128,256")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        step_costs(n)
    matching_costs(min(max(sizes), 192))
