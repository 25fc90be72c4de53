"""pixforge: deep generative imaging in PyTorch.

    import pixforge
    art = pixforge.stylize("photo.jpg", "starry_night.jpg")          # PIL image (arrays give arrays, ...)
    big = pixforge.upscale(art, model="realesr-animevideov3")
    old = pixforge.translate(art, model="cyclegan-vintage")
    faces = pixforge.sample("dcgan-faces64", n=16)                   # list of PIL images
    pixforge.evaluate(big, big, metrics=("psnr", "ssim"))            # {"psnr": inf, "ssim": 1.0}
    image = pixforge.read_image("photo.jpg", size=512)       # float tensor (3, H, W) in [0, 1]
    vgg = pixforge.create_vgg(["relu1_1", "relu4_2"])        # pretrained VGG feature extractor
"""
from . import translate  # the module, callable as pixforge.translate(image, model=...) (see translate.py)
from .api import evaluate, sample, stylize, upscale
from .errors import BadInputError, ConfigError, DivergenceError, PixforgeError, WeightsError
from .io import read_image, save_image, to_pil, to_tensor
from .nn.vgg import VGGFeatures, create_vgg
from .utils import default_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "stylize", "upscale", "translate", "sample", "evaluate",
    "PixforgeError", "BadInputError", "WeightsError", "ConfigError", "DivergenceError",
    "read_image", "save_image", "to_pil", "to_tensor",
    "VGGFeatures", "create_vgg", "default_device", "seed_everything",
]
