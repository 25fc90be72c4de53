"""pix2pixHD networks (Wang et al. 2018) in the layout of NVIDIA/pix2pixHD, so its checkpoints load unchanged
(:func:`network_from_state_dict`):

* ``pix2pixhd-global``: the global generator, a ResNet generator (:class:`~pixforge.models.pix2pix.ResnetGenerator`)
  with 4 downsamplings, 9 blocks, ngf 64, instance norm, for 36-channel inputs (Cityscapes: 35 one-hot labels +
  the instance-edge map).
* ``pix2pixhd-local``: the local enhancer (coarse-to-fine): the global generator without its output layers runs
  on the input downsampled 2x; a front end (ngf 32) at full size adds its features to it; 3 residual blocks and an
  upsampling back end produce the image.
* ``pix2pixhd-discriminator``: ``num_D`` PatchGANs (n_layers 3, padding 2) on the input at full, 1/2, ... size,
  returning every layer's features for the feature-matching loss: a list over scales of lists ending with the
  logits (what :mod:`pixforge.losses.adversarial` takes).
* ``pix2pixhd-encoder``: the feature encoder, whose output is averaged over each instance of the instance map.

Initialisation as the reference (N(0, 0.02) for convs, N(1, 0.02) for batch norm scales), with conv biases 0.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ARCHS
from .pix2pix import (ResnetBlock, ResnetGenerator, init_weights, load_by_keys, patch_layers, reference_norm,
                      resnet_from_state_dict, resnet_layout)

LABELS = 36  # Cityscapes: 35 label channels + the instance-edge map
Tensor = torch.Tensor


def downsample(x: Tensor) -> Tensor:
    """The references' 2x downsampling between scales: 3x3 average pooling, stride 2, padding ignored."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


@ARCHS.register("pix2pixhd-global", family="translation", input=(LABELS, 256, 512),
                description="pix2pixHD global generator: 4 downsamplings, 9 residual blocks, ngf 64, instance norm")
def global_generator(in_channels: int = LABELS, out_channels: int = 3, ngf: int = 64, n_downsampling: int = 4,
                     n_blocks: int = 9, norm: str = "instance") -> ResnetGenerator:
    """pix2pixHD's ``GlobalGenerator``: the CycleGAN ResNet generator with convs that keep their biases."""
    return ResnetGenerator(in_channels, out_channels, ngf, norm, n_blocks, n_downsampling, bias=True)


@ARCHS.register("pix2pixhd-local", family="translation", input=(LABELS, 512, 1024),
                description="pix2pixHD local enhancer (ngf 32, 3 blocks) around the global generator (ngf 64)")
class LocalEnhancer(nn.Module):
    """pix2pixHD's ``LocalEnhancer``: ``model`` (the global generator without its last 3 layers, at 1/2^n size),
    then per enhancer n ``model{n}_1`` (front end at its own scale) and ``model{n}_2`` (blocks + back end) on the sum."""

    def __init__(self, in_channels: int = LABELS, out_channels: int = 3, ngf: int = 32, n_downsample_global: int = 4,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm: str = "instance"):
        super().__init__()
        self.n_local_enhancers = n_local_enhancers
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2 ** (n_downsample_global + n_local_enhancers)
        coarse = global_generator(in_channels, out_channels, ngf * 2 ** n_local_enhancers, n_downsample_global,
                                  n_blocks_global, norm)
        self.model = nn.Sequential(*list(coarse.model)[:-3])
        for n in range(1, n_local_enhancers + 1):
            c = ngf * 2 ** (n_local_enhancers - n)
            front = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), reference_norm(norm, c), nn.ReLU(True),
                     nn.Conv2d(c, c * 2, 3, 2, 1), reference_norm(norm, c * 2), nn.ReLU(True)]
            back = [ResnetBlock(c * 2, norm) for _ in range(n_blocks_local)]
            back += [nn.ConvTranspose2d(c * 2, c, 3, 2, 1, output_padding=1), reference_norm(norm, c), nn.ReLU(True)]
            if n == n_local_enhancers:
                back += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*front))
            setattr(self, f"model{n}_2", nn.Sequential(*back))
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            front, back = getattr(self, f"model{n}_1"), getattr(self, f"model{n}_2")
            out = back(front(pyramid[self.n_local_enhancers - n]) + out)
        return out


@ARCHS.register("pix2pixhd-discriminator", family="translation", input=(LABELS + 3, 256, 512),
                description="pix2pixHD multi-scale PatchGAN (2 scales, n_layers 3), features for feature matching")
class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs, ``scale{i}_layer{j}`` (the reference's layout with intermediate features). Scale
    ``num_D - 1`` sees the full-size input, scale 0 the smallest, as in the reference."""

    def __init__(self, in_channels: int = LABELS + 3, ndf: int = 64, n_layers: int = 3, num_D: int = 2,
                 norm: str = "instance"):
        super().__init__()
        self.num_D, self.n_groups = num_D, n_layers + 2
        for i in range(num_D):
            groups = patch_layers(in_channels, ndf, n_layers, norm, bias=True, padding=2, max_width=512)
            for j, group in enumerate(groups):
                setattr(self, f"scale{i}_layer{j}", nn.Sequential(*group))
        init_weights(self)

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        result = []
        for i in range(self.num_D):
            features, h = [], x
            for j in range(self.n_groups):
                h = getattr(self, f"scale{self.num_D - 1 - i}_layer{j}")(h)
                features.append(h)
            result.append(features)
            if i != self.num_D - 1:
                x = downsample(x)
        return result


@ARCHS.register("pix2pixhd-encoder", family="translation", input=((3, 256, 512), (1, 256, 512)),
                description="pix2pixHD feature encoder (ngf 16, 4 downsamplings), averaged per instance")
class FeatureEncoder(nn.Module):
    """pix2pixHD's ``Encoder``: an encoder-decoder from the real image to ``out_channels`` feature maps, each
    replaced by its mean over every instance of the integer instance map ``inst`` (N, 1, H, W)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 16, n_downsampling: int = 4,
                 norm: str = "instance"):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), reference_norm(norm, ngf), nn.ReLU(True)]
        for i in range(n_downsampling):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, 3, 2, 1), reference_norm(norm, c * 2), nn.ReLU(True)]
        for i in range(n_downsampling):
            c = ngf * 2 ** (n_downsampling - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), reference_norm(norm, c // 2),
                       nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor, inst: Tensor) -> Tensor:
        out = self.model(x)
        flat = out.flatten(2)  # (N, C, HW)
        uniq, ids = torch.unique(inst.long().flatten(1), return_inverse=True)  # ids: (N, HW) in [0, count)
        count = len(uniq)
        index = ids[:, None].expand_as(flat)
        sums = flat.new_zeros(*flat.shape[:2], count).scatter_add_(2, index, flat)
        sizes = flat.new_zeros(flat.shape[0], 1, count).scatter_add_(2, ids[:, None], torch.ones_like(flat[:, :1]))
        return (sums / sizes.clamp_min(1)).gather(2, index).view_as(out)


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def local_from_state_dict(state: dict) -> LocalEnhancer:
    n = len({k.split("_")[0] for k in state if k.startswith("model") and "_1." in k})
    ngf, cin = state[f"model{n}_1.1.weight"].shape[:2]
    coarse = resnet_layout(state)
    blocks = {k.split(".")[1] for k in state if k.startswith(f"model{n}_2.") and ".conv_block." in k}
    out = state[f"model{n}_2.{len(blocks) + 4}.weight"].shape[0]
    return LocalEnhancer(cin, out, ngf, coarse["n_downsampling"], coarse["n_blocks"], n, len(blocks), coarse["norm"])


def discriminator_from_state_dict(state: dict) -> MultiscaleDiscriminator:
    scales = {k.split("_")[0] for k in state if k.startswith("scale")}
    groups = {k.split(".")[0].split("_layer")[1] for k in state if k.startswith("scale0_layer")}
    ndf, cin = state["scale0_layer0.0.weight"].shape[:2]
    norm = "instance-affine" if "scale0_layer1.1.weight" in state else "instance"
    return MultiscaleDiscriminator(cin, ndf, len(groups) - 2, len(scales), norm)


def _split_discriminator_layers(state: dict) -> dict:
    """``layer{i}.{k}`` (one Sequential per scale, saved with --no_ganFeat_loss) -> ``scale{i}_layer{j}.{m}``:
    groups of 2 (conv, LeakyReLU), 3 (conv, norm, LeakyReLU) ..., 1 (conv)."""
    if "layer0.0.weight" not in state:
        return state
    out = {}
    for key, value in state.items():
        head, index, rest = key.split(".", 2)
        index = int(index)
        group, local = (0, index) if index < 2 else ((index - 2) // 3 + 1, (index - 2) % 3)
        out[f"scale{head[5:]}_layer{group}.{local}.{rest}"] = value
    return out


def network_from_state_dict(state: dict[str, torch.Tensor], what: str = "checkpoint") -> nn.Module:
    """The pix2pixHD network (global or local generator, multi-scale discriminator) that a state dict in the
    reference's layout belongs to, with the weights loaded (InstanceNorm statistics saved by PyTorch < 0.4
    dropped). A discriminator saved without feature matching
    (``layer{i}.{k}``) is mapped onto the ``scale{i}_layer{j}`` layout."""
    return load_by_keys(_split_discriminator_layers(state), what, "pix2pixHD", {
        "model1_1.": local_from_state_dict, "scale0_layer0.": discriminator_from_state_dict,
        ".conv_block.": partial(resnet_from_state_dict, bias=True)})
