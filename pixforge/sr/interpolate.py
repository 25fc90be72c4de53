"""ESRGAN's network interpolation: the weights ``(1 - α)·A + α·B`` of two networks of one architecture (a PSNR
model and its GAN fine-tuning), trading fidelity for detail without retraining (Wang et al. 2018, section 3.4)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import BadInputError
from .load import load_model


def interpolate_weights(a: str | Path, b: str | Path, alpha: float) -> dict[str, torch.Tensor]:
    """The interpolated state dict of ``a`` and ``b`` (anything ``pixforge upscale --model`` takes: registry
    weights, weights files, SR run folders); α = 0 gives A, 1 gives B."""
    if not 0 <= alpha <= 1:
        raise BadInputError(f"--alpha must be in [0, 1], got {alpha}")
    net_a, net_b = load_model(a, "cpu"), load_model(b, "cpu")
    sa, sb = net_a.state_dict(), net_b.state_dict()
    same = type(net_a) is type(net_b) and net_a.scale == net_b.scale and sa.keys() == sb.keys() and \
        all(sa[k].shape == sb[k].shape for k in sa)
    if not same:
        raise BadInputError(f"{a} ({type(net_a).__name__} x{net_a.scale}) and {b} ({type(net_b).__name__} "
                            f"x{net_b.scale}) are not the same architecture: nothing to interpolate")
    return {k: torch.lerp(sa[k].float(), sb[k].float(), alpha).to(sa[k].dtype) if sa[k].is_floating_point()
            else sa[k] for k in sa}


def output_file(out: str | Path) -> Path:
    """``OUT.safetensors`` as it is; any other name is a folder that gets ``model.safetensors`` (a model folder
    ``pixforge upscale --model`` reads)."""
    out = Path(out)
    return out if out.suffix == ".safetensors" else out / "model.safetensors"
