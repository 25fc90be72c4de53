"""Multimodal and multi-domain translation with a trained model: MUNIT/UNIT, StarGAN, StarGAN v2, U-GAT-IT,
BicycleGAN, FUNIT.

    from pixforge.multimodal import translate_guided
    outs = translate_guided("edges.png", "runs/munit", seed=0, n=8)          # (8, 3, H, W): 8 styles
    out = translate_guided("x.png", "100000_nets_ema.ckpt", target_domain=1, style_image="ref.png")[0]

``model`` is a pixforge run folder of the ``munit``, ``unit``, ``stargan``, ``stargan2``, ``ugatit``,
``bicyclegan`` or ``funit`` task (its ``checkpoints/last.pt``; the EMA networks of stargan2 and funit), or a
reference checkpoint: NVlabs/MUNIT's ``gen_*.pt`` (MUNIT or UNIT), yunjey/stargan's ``*-G.ckpt``,
clovaai/stargan-v2's ``*_nets_ema.ckpt``, znxlwm/UGATIT-pytorch's ``*_params_*.pt``, junyanz/BicycleGAN's
``latest_net_G.pth``, NVlabs/FUNIT's ``gen_*.pt``, all read with ``torch.load(weights_only=True)`` and sized from
their tensors.

How the output is chosen:
* MUNIT: the content of the input (domain A for ``direction="AtoB"``) with a style of the other domain: the style
  code of ``style_image`` (reference-guided), else ``n`` codes drawn from N(0, I) with ``seed`` (latent-guided).
* StarGAN v2: ``target_domain`` (an index or a name) and a style from ``style_image`` (through the style encoder)
  or ``n`` latent codes through the mapping network.
* BicycleGAN: A -> B with the mean code that the encoder gives for ``style_image`` (reference-guided), else ``n``
  codes from N(0, I) with ``seed``; reads a ``bicyclegan`` run or the reference's ``latest_net_G.pth``, with its
  ``latest_net_E.pth`` when that lies beside it (needed for a ``where_add=input`` generator: the code length).
* FUNIT: the input in the class of ``style_image`` (K images: their class codes averaged); one output. Reads a
  ``funit`` run (its EMA generator) or NVlabs/FUNIT's ``gen_*.pt`` (``gen_test``).
* StarGAN: ``target_domain``: an index or name (one-hot), or for attribute models (CelebA) a 0/1 vector
  ``1,0,0,1,1``; one output. UNIT and U-GAT-IT: ``direction``; one output.

Images of any size: padded (reflection) to the generator's multiple and cropped back; the full U-GAT-IT generator
takes one size only, so the image is resized to it and back. Reference images are resized to the StarGAN v2 style
encoder's size (BicycleGAN: its encoder's). Outputs are (N, K, C, H, W) in [0, 1]: K = ``n`` styles (or 1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, WeightsError
from .io import resize
from .nn.conv import pad_to_multiple
from .io import as_batch
from .translate import DIRECTIONS, _fit_channels
from .utils import default_device

Tensor = torch.Tensor


class NotGuided(Exception):
    """``model`` is none of this module's kinds (the caller may try the image-to-image loaders)."""


class GuidedModel:
    """A loaded multimodal / multi-domain model; ``__call__`` translates a batch (see the module docstring)."""

    kind = ""
    multimodal = False  # takes style images / latent codes
    multi_domain = False  # takes a target domain
    num_domains = 0

    def __init__(self, nets: dict[str, nn.Module], names: Sequence[str] = ()):
        self.nets, self.names = nets, tuple(names)
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> "GuidedModel":
        self.device = device
        for net in self.nets.values():
            net.to(device).eval()
        return self

    @property
    def channels(self) -> int:
        return next(iter(self.nets.values())).in_channels

    @property
    def style_channels(self) -> int:
        """Channels of the style images (the target domain's)."""
        return self.channels

    def domain(self, target: str | int | None, count: int) -> Tensor:
        """The target domain as a (count,) index tensor, from an index or a domain name."""
        if target is None or str(target) == "":
            known = f" ({', '.join(f'{i}: {n}' for i, n in enumerate(self.names))})" if self.names else ""
            raise ConfigError(f"a {self.kind} model needs --target-domain: an index{known}")
        text = str(target)
        if text in self.names:
            index = self.names.index(text)
        elif text.lstrip("-").isdigit() and 0 <= int(text) < self.num_domains:
            index = int(text)
        else:
            names = f": {', '.join(self.names)}" if self.names else ""
            raise ConfigError(f"unknown target domain {text!r}; the model has {self.num_domains} domains "
                              f"(0..{self.num_domains - 1}{names})")
        return torch.full((count,), index, dtype=torch.int64, device=self.device)

    def check_options(self, style: Tensor | None, n: int, target: Any, direction: str) -> None:
        if (style is not None or n != 1) and not self.multimodal:
            raise ConfigError(f"a {self.kind} model gives one output per input: --style-image and --n apply to "
                              "MUNIT, StarGAN v2, BicycleGAN and FUNIT models")
        if target not in (None, "") and not self.multi_domain:
            raise ConfigError(f"a {self.kind} model translates between two domains: use --direction, not "
                              "--target-domain")
        if direction not in DIRECTIONS:
            raise ConfigError(f"unknown direction {direction!r}; known: {', '.join(DIRECTIONS)}")
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")

    @torch.no_grad()
    def __call__(self, images: Tensor, direction: str = "AtoB", style: Tensor | None = None, seed: int = 0,
                 n: int = 1, target: str | int | None = None) -> Tensor:
        """``images`` (N, C, H, W) in [0, 1] -> (N, K, C, H, W) in [0, 1]; ``style``: reference images (R, C, h, w)
        in [0, 1] (K = R), else K = ``n`` latent codes from ``seed``."""
        self.check_options(style, n, target, direction)
        x = _fit_channels(images.to(self.device, torch.float32), self.channels) * 2 - 1
        if style is not None:
            style = _fit_channels(style.to(self.device, torch.float32), self.style_channels) * 2 - 1
        out = self.run(x, direction, style, torch.Generator().manual_seed(seed), n, target)
        return ((out + 1) / 2).clamp(0, 1)

    def run(self, x: Tensor, direction: str, style: Tensor | None, gen: torch.Generator, n: int,
            target: Any) -> Tensor:
        raise NotImplementedError


def fully_convolutional(net, x: Tensor, multiple: int, *args: Tensor) -> Tensor:
    """``net(x, *args)`` with x padded to ``multiple`` and the result cropped back."""
    padded, (h, w) = pad_to_multiple(x, multiple)
    out = net(padded, *args)
    return (out[0] if isinstance(out, tuple) else out)[..., :h, :w]


class Munit(GuidedModel):
    kind = "MUNIT"
    multimodal = True

    def run(self, x, direction, style, gen, n, target):
        src, dst = (self.nets["a"], self.nets["b"]) if direction == "AtoB" else (self.nets["b"], self.nets["a"])
        padded, (h, w) = pad_to_multiple(x, src.size_multiple)
        content = src.enc_content(padded)
        codes = dst.enc_style(style) if style is not None else \
            torch.randn(n, dst.style_dim, 1, 1, generator=gen).to(self.device)
        outs = [dst.decode(content, code[None].expand(len(x), -1, -1, -1)) for code in codes]
        return torch.stack(outs, 1)[..., :h, :w]


class Unit(GuidedModel):
    kind = "UNIT"

    def run(self, x, direction, style, gen, n, target):
        src, dst = (self.nets["a"], self.nets["b"]) if direction == "AtoB" else (self.nets["b"], self.nets["a"])
        return fully_convolutional(lambda t: dst.decode(src.encode(t)[0]), x, src.size_multiple)[:, None]


class StarGan(GuidedModel):
    kind = "StarGAN"
    multi_domain = True

    @property
    def num_domains(self) -> int:
        return self.nets["G"].c_dim

    def labels(self, target: Any, count: int) -> Tensor:
        """One-hot for an index or name; a 0/1 vector ``1,0,1,...`` as it is (attribute models)."""
        text = str(target or "")
        if "," in text:
            values = [float(v) for v in text.split(",")]
            if len(values) != self.num_domains:
                raise ConfigError(f"--target-domain {text}: {len(values)} values for {self.num_domains} attributes")
            return torch.tensor(values, device=self.device).expand(count, -1)
        return F.one_hot(self.domain(target, count), self.num_domains).float()

    def run(self, x, direction, style, gen, n, target):
        g = self.nets["G"]
        return fully_convolutional(g, x, g.size_multiple, self.labels(target, len(x)))[:, None]


class StarGan2(GuidedModel):
    kind = "StarGAN v2"
    multimodal = multi_domain = True

    @property
    def num_domains(self) -> int:
        return self.nets["mapping_network"].num_domains

    def run(self, x, direction, style, gen, n, target):
        g, f, e = self.nets["generator"], self.nets["mapping_network"], self.nets["style_encoder"]
        if style is not None:
            side = 2 ** (sum(1 for m in e.shared if type(m).__name__ == "ResBlk") + 2)
            ref = resize((style + 1) / 2, (side, side)) * 2 - 1
            codes = e(ref, self.domain(target, len(ref)))
        else:
            codes = f(torch.randn(n, f.latent_dim, generator=gen).to(self.device), self.domain(target, n))
        outs = [fully_convolutional(g, x, g.size_multiple, code[None].expand(len(x), -1)) for code in codes]
        return torch.stack(outs, 1)


class BicycleGan(GuidedModel):
    kind = "BicycleGAN"
    multimodal = True

    @property
    def style_channels(self) -> int:
        return self.nets["E"].in_channels if "E" in self.nets else self.channels

    def run(self, x, direction, style, gen, n, target):
        g, e = self.nets["G"], self.nets.get("E")
        if direction != "AtoB":
            raise ConfigError("a BicycleGAN model translates A to B only (--direction AtoB)")
        if style is not None:
            if e is None:
                raise ConfigError("this BicycleGAN checkpoint has no encoder (E): use --seed/--n, not --style-image")
            codes = e(resize((style + 1) / 2, (e.input_size, e.input_size)) * 2 - 1)[0]  # the mean, as its test
        else:
            codes = torch.randn(n, g.nz, generator=gen).to(self.device)
        outs = [fully_convolutional(g, x, g.size_multiple, code[None].expand(len(x), -1)) for code in codes]
        return torch.stack(outs, 1)


class Funit(GuidedModel):
    kind = "FUNIT"
    multimodal = True

    def run(self, x, direction, style, gen, n, target):
        g = self.nets["gen"]
        if style is None or n != 1:
            raise ConfigError("a FUNIT model translates into the class of its example images: give them with "
                              "--style-image (repeated for K shots), not --seed/--n")
        code = g.class_code(style)  # the mean over the K shots
        return fully_convolutional(lambda t: g.decode(g.enc_content(t), code.expand(len(t), -1, -1, -1)), x,
                                   g.size_multiple)[:, None]


class Ugatit(GuidedModel):
    kind = "U-GAT-IT"

    def run(self, x, direction, style, gen, n, target):
        g = self.nets["genA2B" if direction == "AtoB" else "genB2A"]
        if g.light:
            return fully_convolutional(g, x, g.size_multiple)[:, None]
        h, w = x.shape[-2:]
        out = g(resize((x + 1) / 2, (g.img_size, g.img_size)) * 2 - 1)[0]
        return (resize((out + 1) / 2, (h, w)) * 2 - 1)[:, None]


# ------------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------------

def from_modules(states: dict[str, Any], what: str, names: Sequence[str] = (), w_hpf: float | None = None
                 ) -> GuidedModel:
    """The model that a dict of state dicts (a reference checkpoint, or a pixforge run's modules) holds."""
    from .models import bicyclegan, funit, munit, stargan, stargan2, ugatit

    if isinstance(states.get("a"), dict) and isinstance(states.get("b"), dict):
        nets = {d: munit.generator_from_state_dict(states[d], f"{what} ({d})") for d in "ab"}
        return (Munit if isinstance(nets["a"], munit.AdaINGen) else Unit)(nets, names)
    if isinstance(states.get("generator"), dict):
        ema = {k[:-4]: v for k, v in states.items() if k.endswith("_ema")}
        wanted = {k: v for k, v in (ema or states).items() if k in ("generator", "mapping_network", "style_encoder")}
        missing = {"generator", "mapping_network", "style_encoder"} - set(wanted)
        if missing:
            raise WeightsError(f"{what}: a StarGAN v2 checkpoint without {', '.join(sorted(missing))}")
        return StarGan2(stargan2.networks_from_state_dicts(wanted, what, w_hpf), names)
    if isinstance(states.get("genA2B"), dict):
        return Ugatit({k: ugatit.network_from_state_dict(states[k], f"{what} ({k})") for k in ("genA2B", "genB2A")
                       if isinstance(states.get(k), dict)}, names)
    if isinstance(states.get("gen_test"), dict):  # NVlabs/FUNIT gen_*.pt, or a funit run: the EMA generator
        return Funit({"gen": funit.generator_from_state_dict(states["gen_test"], f"{what} (gen_test)")}, names)
    if isinstance(states.get("G"), dict) and isinstance(states.get("E"), dict):
        e = bicyclegan.encoder_from_state_dict(states["E"], f"{what} (E)")
        return BicycleGan({"G": bicyclegan.generator_from_state_dict(states["G"], f"{what} (G)", e.nz), "E": e}, names)
    if "model.down.0.weight" in states and "model.submodule.down.1.weight" in states:  # BicycleGAN latest_net_G
        return BicycleGan({"G": bicyclegan.generator_from_state_dict(states, what)}, names)
    if "main.0.weight" in states and any(".main.0.weight" in k for k in states):  # yunjey/stargan *-G.ckpt
        return StarGan({"G": stargan.network_from_state_dict(states, what)}, names)
    raise NotGuided(what)


def load_run(checkpoint: dict[str, Any], what: str) -> GuidedModel:
    """A model from a pixforge checkpoint of the munit, unit, stargan, stargan2 or ugatit task (which record their name
    in the checkpoint's extra state); NotGuided for other tasks' checkpoints."""
    task = checkpoint["task"]
    extra, modules = task.get("extra") or {}, task.get("modules") or {}
    kind, names = extra.get("task"), tuple(extra.get("domains", ()))
    if kind in ("munit", "unit"):
        return from_modules({"a": modules["gen_a"], "b": modules["gen_b"]}, what, names)
    if kind == "stargan":
        return from_modules(modules["G"], what, names)
    if kind in ("stargan2", "ugatit"):
        return from_modules(modules, what, names, w_hpf=0)
    if kind == "bicyclegan":
        return from_modules({k: modules[k] for k in ("G", "E")}, what)
    if kind == "funit":
        return from_modules({"gen_test": modules["gen_test"]}, what, names)
    raise NotGuided(what)


def load_model(model: str | os.PathLike, device: str | torch.device | None = None) -> GuidedModel:
    """The model at ``model`` (a run folder or a checkpoint file; see the module docstring), on ``device``.
    Raises :class:`NotGuided` when it is none of the kinds here."""
    from .weights import torch_load

    from .registry import ARCHS

    path = Path(model)
    if not path.exists() and str(model) in ARCHS.list(guided=True):
        raise ConfigError(f"{model}: an architecture; give a run folder of `pixforge train` or a reference "
                          "checkpoint (untrained multimodal networks are not run)")
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
        if not path.is_file():
            raise NotGuided(str(model))
    if not path.is_file():
        raise NotGuided(str(model))
    obj = torch_load(path, "a checkpoint")
    if not isinstance(obj, dict):
        raise NotGuided(str(path))
    if isinstance(obj.get("task"), dict) and "modules" in obj["task"]:
        found = load_run(obj, str(path))
    else:
        encoder = path.with_name(path.name.removesuffix("_net_G.pth") + "_net_E.pth")
        if path.name.endswith("_net_G.pth") and encoder.is_file():  # BicycleGAN's files (pix2pix saves no E)
            obj = {"G": obj, "E": torch_load(encoder, "a BicycleGAN encoder (*_net_E.pth)")}
        found = from_modules(obj, str(path))
    return found.to(default_device(device))


def translate_guided(image: Tensor | str | os.PathLike, model: str | os.PathLike | GuidedModel,
                     direction: str = "AtoB", style_image: Tensor | str | os.PathLike | None = None, seed: int = 0,
                     n: int = 1, target_domain: str | int | None = None,
                     device: str | torch.device | None = None) -> Tensor:
    """Translate ``image`` (a file or a tensor (C, H, W) / (N, C, H, W) in [0, 1]) with a multimodal or
    multi-domain ``model``; returns (K, C, H, W) for one image, (N, K, C, H, W) for a batch, in [0, 1]."""
    batch, kind = as_batch(image)
    if isinstance(model, GuidedModel):
        net = model
    else:
        try:
            net = load_model(model, device)
        except NotGuided:
            raise WeightsError(f"{model}: not a MUNIT, UNIT, StarGAN, StarGAN v2, U-GAT-IT, BicycleGAN or "
                               "FUNIT checkpoint or run folder") from None
    style = as_batch(style_image)[0] if style_image is not None else None
    out = net(batch, direction, style, seed, n, target_domain)
    return out if kind.batched else out[0]
