"""Neural style transfer: the method registry (``stylize``), shared perceptual losses and colour control.

    from pixforge.style import stylize, stylize_gatys
    out = stylize_gatys("photo.jpg", "starry_night.jpg", size=384, steps=300)   # PIL image
"""
from .methods import StylizeOptions, available, build, stylize  # noqa: F401
from .gatys import stylize_gatys  # noqa: E402,F401
