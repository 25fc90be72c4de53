"""Image-to-image translation with a trained generator (pix2pix, CycleGAN, pix2pixHD):

    import pixforge
    out = pixforge.translate("photo.jpg", model="cyclegan-vintage")   # a PIL image (tensors give tensors)

``model`` is a registered weights name (``pixforge weights list``), a generator checkpoint (the reference
repositories' ``latest_net_G.pth`` / ``latest_net_G_A.pth``, or a .safetensors file in the same layout), a CycleGAN
run folder holding ``latest_net_G_A.pth`` and ``latest_net_G_B.pth`` (``direction`` picks one), a pixforge training
run (``pixforge train pix2pix ... --out RUN``: the folder, its ``checkpoints/last.pt`` or ``best.pt``), or, with
``random_weights=True``, an architecture name (``unet_256``, ``resnet_9blocks`` ...; for checking shapes and speed).
The network is read back from the checkpoint's keys and shapes, so no options have to be repeated.

Any image size works: the image is padded (reflection) to the network's multiple (4 for ``resnet_*``, 256 for
``unet_256``, 16 for pix2pixHD's global generator) and the result cropped back. ``tile`` bounds memory for big
images (overlapping tiles, feathered seams; instance-normalised networks then normalise each tile on its own).
Networks see [-1, 1] and end in tanh, as in the references. Networks with dropout (pix2pix's U-Nets) run as the
reference's test script and the pix2pix paper do, in training mode: dropout on, batch norm with the statistics of
the image itself; ``eval_mode=True`` switches both off. All other networks run in ``eval()`` mode.
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import weights as weights_mod
from .errors import BadInputError, ConfigError, WeightsError
from .io import as_batch, restore
from .nn.conv import pad_to_multiple
from .registry import ARCHS
from .utils import default_device

DIRECTIONS = ("AtoB", "BtoA")
#: Generator files of a reference run folder per direction (CycleGAN: one per direction; pix2pix: one).
RUN_FILES = {"AtoB": ("latest_net_G_A.pth", "latest_net_G.pth"), "BtoA": ("latest_net_G_B.pth",)}


def generator_from_state_dict(state: dict[str, torch.Tensor], what: str = "checkpoint") -> nn.Module:
    """The translation generator (U-Net, ResNet / pix2pixHD global, pix2pixHD local enhancer) that a state dict
    in the reference layout holds, with its weights loaded."""
    from .models import pix2pix, pix2pixhd

    if "model1_1.1.weight" in state:
        net = pix2pixhd.network_from_state_dict(state, what)
    elif any(k.startswith(("head_0.", "discriminator_0.", "scale0_", "layer0.", "fc_mu.")) for k in state):
        raise WeightsError(f"{what}: a SPADE or pix2pixHD discriminator/encoder checkpoint; translate takes "
                           "image-to-image generators (U-Net, ResNet, pix2pixHD)")
    else:
        net = pix2pix.network_from_state_dict(state, what)
    if not hasattr(net, "size_multiple"):
        raise WeightsError(f"{what}: holds a discriminator ({type(net).__name__}), not a generator")
    return net


def _run_file(folder: Path, direction: str) -> Path:
    for name in RUN_FILES[direction]:
        if (folder / name).is_file():
            return folder / name
    wanted = " or ".join(RUN_FILES[direction])
    raise WeightsError(f"{folder}: has no {wanted} (direction {direction})")


def run_generator(checkpoint: Path, direction: str = "AtoB") -> nn.Module:
    """The generator of a ``pixforge train pix2pix|pix2pixhd|spade|cyclegan ...`` run from its checkpoint: the
    task named in the run's config rebuilds it (``Task.load_generator(cfg, modules, direction)``)."""
    from .config import from_dict
    from .registry import TASKS
    from .train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    raw = state.get("config") or {} if isinstance(state, dict) else {}
    task = TASKS.get(raw["task"]) if raw.get("task") in TASKS else None
    if task is None or not hasattr(task, "load_generator") or "task" not in state:
        raise WeightsError(f"{checkpoint}: not the checkpoint of a translation run (pixforge train pix2pix, "
                           "pix2pixhd, spade, ...)")
    return task.load_generator(from_dict(task.Config, raw), state["task"]["modules"], direction)


def load_generator(model: str | os.PathLike, direction: str = "AtoB", random_weights: bool = False) -> nn.Module:
    """The generator for ``model`` (see the module docstring) and ``direction``, weights loaded, on the CPU."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    source = str(model)
    if source in weights_mod.WEIGHTS:
        directions = weights_mod.get_spec(source).meta.get("directions", DIRECTIONS)
        if direction not in directions:
            raise ConfigError(f"weights {source!r} translate {'/'.join(directions)} only, not {direction}")
        return generator_from_state_dict(weights_mod.resolve(source), source)
    path = Path(source)
    run = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if run.is_file() and run.suffix == ".pt":
        return run_generator(run, direction)
    if path.is_dir():
        path = _run_file(path, direction)
    elif path.is_file() and direction != "AtoB":
        raise ConfigError(f"{source}: one generator file translates in its own direction; for BtoA give the "
                          "CycleGAN run folder (with latest_net_G_B.pth) or the B->A file itself")
    if path.is_file():
        return generator_from_state_dict(weights_mod.resolve(path), str(path))
    if source in ARCHS and ARCHS.meta(source).get("family") == "translation":
        if random_weights:
            net = ARCHS.create(source)
            if not hasattr(net, "size_multiple"):
                raise ConfigError(f"{source}: is not an image-to-image generator")
            return net
        registered = weights_mod.WEIGHTS.list(arch=source)
        hint = f" (registered: {', '.join(registered)})" if registered else ""
        raise WeightsError(f"{source}: an architecture without weights; give a weights name{hint} or a checkpoint "
                           "file, or --random-weights to run it untrained")
    known = [n for n in weights_mod.WEIGHTS.list() if weights_mod.get_spec(n).meta.get("arch") in
             ARCHS.list(family="translation")]
    raise WeightsError(f"{source}: neither a weights name ({', '.join(known) or 'none registered'}), "
                       "a checkpoint file or run folder, nor a translation architecture")


def _fit_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """RGB <-> grey to the channels the network takes (grey: ITU-R 601 luma)."""
    if x.shape[1] == channels:
        return x
    if channels == 1 and x.shape[1] == 3:
        return (x * x.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    raise BadInputError(f"the network takes {channels}-channel inputs (label maps?); translate feeds it images, "
                        f"got {x.shape[1]} channels")


class Translator:
    """A loaded generator and how to run it: ``Translator(net)(images)`` with images (N, C, H, W) in [0, 1]."""

    def __init__(self, net: nn.Module, device: str | torch.device | None = None, eval_mode: bool | None = None):
        self.device = default_device(device)
        dropout = any(isinstance(m, nn.Dropout) for m in net.modules())
        self.eval_mode = not dropout if eval_mode is None else eval_mode
        self.net = net.to(self.device).train(not self.eval_mode)
        self.multiple = net.size_multiple
        self.in_channels = getattr(net, "in_channels", 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] in, [0, 1] out, any size (padded to the network's multiple, cropped back)."""
        padded, (h, w) = pad_to_multiple(x * 2 - 1, self.multiple)
        return ((self.net(padded)[..., :h, :w] + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, tile: int | None = None) -> torch.Tensor:
        x = _fit_channels(images.to(self.device, torch.float32), self.in_channels)
        if tile and tile < 32:
            raise ConfigError(f"tile must be at least 32 px, got {tile}")
        if tile:
            from .style.tiling import tiled

            return tiled(self.forward, x, tile, max(16, tile // 8))
        return self.forward(x)


def translate(image: Any, model: str | os.PathLike | nn.Module, direction: str = "AtoB", tile: int | None = None,
              device: str | torch.device | None = None, random_weights: bool = False,
              eval_mode: bool | None = None) -> Any:
    """Translate ``image`` (a file, PIL image, NumPy array or tensor, one image or a batch: see
    :func:`pixforge.io.as_batch`) with ``model`` (a weights name, checkpoint file, run folder, loaded generator,
    or with ``random_weights`` an architecture name) in ``direction``; returns the same kind of image."""
    batch, kind = as_batch(image)
    net = model if isinstance(model, nn.Module) else load_generator(model, direction, random_weights)
    return restore(Translator(net, device, eval_mode)(batch, tile), kind)


class _CallableModule(types.ModuleType):
    """This module is also the top-level function: ``pixforge.translate(image, model=...)`` calls
    :func:`translate`, while ``from pixforge.translate import Translator`` and ``import pixforge.translate``
    keep working (a function bound over the name would be replaced by the module on its first import)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return translate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
