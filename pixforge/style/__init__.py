"""Neural style transfer: the stylisation methods (each registered on ``pixforge.registry.METHODS`` with the
options it reads), the pixel optimiser of the optimisation-based ones, colour control, video.

    from pixforge.style import stylize, stylize_gatys
    out = stylize_gatys("photo.jpg", "starry_night.jpg", size=384, steps=300)   # PIL image
    out = stylize(content, [style], method="magenta", alpha=0.8)                # (3, H, W) tensor
"""
from .methods import StylizeOptions, available, build, stylize, stylize_file, validate  # noqa: F401
from .gatys import stylize_gatys  # noqa: E402,F401
