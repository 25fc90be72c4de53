"""pixforge: deep generative imaging in PyTorch.

    import pixforge
    image = pixforge.read_image("photo.jpg", size=512)       # float tensor (3, H, W) in [0, 1]
    vgg = pixforge.create_vgg(["relu1_1", "relu4_2"])        # pretrained VGG feature extractor
"""
from .errors import BadInputError, ConfigError, DivergenceError, PixforgeError, WeightsError
from .io import read_image, save_image, to_pil, to_tensor
from .nn.vgg import VGGFeatures, create_vgg
from .utils import default_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "PixforgeError", "BadInputError", "WeightsError", "ConfigError", "DivergenceError",
    "read_image", "save_image", "to_pil", "to_tensor",
    "VGGFeatures", "create_vgg", "default_device", "seed_everything",
]
