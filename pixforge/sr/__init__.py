"""Super-resolution: released upscalers (Real-ESRGAN, RealSR, waifu2x, Real-CUGAN) and BasicSR-layout networks.

    from pixforge.sr import upscale
    big = upscale(image, model="realesrgan-x4plus", tile=256)

The networks live in :mod:`pixforge.models` (``sr``, ``rrdbnet``, ``waifu2x``), their weights in the weights
registry (``pixforge weights list``), metrics in :mod:`pixforge.metrics.sr`.
"""
from .load import load_model, network_from_state_dict, with_denoise
from .upscale import run_network, upscale

__all__ = ["load_model", "network_from_state_dict", "run_network", "upscale", "with_denoise"]
