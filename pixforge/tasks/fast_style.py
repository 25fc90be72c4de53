"""Training of feed-forward style networks (Johnson et al. 2016) and multi-style CIN networks (Dumoulin et al.).

The perceptual loss is the examples' recipe with pixforge's shared pieces: VGG16 (``create_vgg``) content loss
at relu2_2, normalised-Gram style loss (``losses.style_loss``) at relu1_2/2_2/3_3/4_3, weights 1e5 / 1e10.
The network sees 0-255 images (as in pytorch/examples), VGG sees [0, 1]. Caffe-born VGG weights (the offline
``vgg16-hed``) take 0-255 input and give activations about 255 x 0.226 (the ImageNet std) times larger than
torchvision's, so with them the content weight is divided by that factor squared and the style weight by its
fourth power: the examples' weights then keep their meaning. Training runs through the shared
loop (:func:`pixforge.train.fit`), so checkpoints, ``--resume``, the NaN guard and logging come from there.
The final weights are written as ``OUT/model.safetensors`` with the examples' key names, ready for
``pixforge stylize --method fast --model OUT/model.safetensors`` (``--method cin`` for several styles).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from ..data.folders import random_crops as shared_random_crops
from ..errors import BadInputError, ConfigError
from ..io import image_grid, list_images, read_image, resize, save_image
from ..train import LoopConfig, StepBatches, Task, fit, setup
from ..weights import load_file, save_state_dict
from ..losses import perceptual as losses
from ..losses.pixel import total_variation
from ..models.transformer_net import LAYOUTS, TransformerNet, freeze_for_new_style, net_from_state_dict

#: scikit-image sample photos used when no content folder is given (offline, a few hundred kB each).
BUILTIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field",
                  "immunohistochemistry")
#: How much larger Caffe-normalised VGG activations are than torchvision ones (0-255 input vs ImageNet std).
CAFFE_FEATURE_SCALE = 255.0 * 0.226


@dataclass
class FastStyleConfig:
    """Everything a fast-style (or CIN) training needs; ``loop`` holds the shared loop options."""

    styles: list[str] = field(default_factory=list)  # one image: a fast net; several: a CIN net
    arch: str = "johnson"              # "johnson" (the published layout) or "slim" (8/16/32 channels, ~12x faster)
    content: Optional[str] = None      # folder of content photos; None: scikit-image's built-in photos
    size: int = 256                    # training crop size
    style_size: Optional[int] = None   # long side of the style images (None: size)
    batch_size: int = 4
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0
    content_layer: str = "relu2_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    vgg_weights: str = "auto"
    lr: float = 1e-3
    add_style: Optional[str] = None    # CIN: learn this extra style's gamma/beta only ...
    from_model: Optional[str] = None   # ... on top of this trained CIN network (.safetensors/.pth)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(steps=2000, out="runs/fast", sample_every=200))


def load_contents(folder: str | None, size: int) -> list[torch.Tensor]:
    """Content photos in memory, short side resized to 1.25 x ``size`` so random crops vary in framing."""
    if folder is None:
        from ..data.builtin import skimage_images

        photos = skimage_images(BUILTIN_PHOTOS)
    else:
        paths = list_images(folder)
        if not paths:
            raise BadInputError(f"{folder}: no images found")
        photos = [read_image(p) for p in paths]
    short = int(round(size * 1.25))
    out = []
    for p in photos:
        h, w = p.shape[-2:]
        scale = short / min(h, w)
        out.append(resize(p, (max(size, round(h * scale)), max(size, round(w * scale)))))
    return out


def random_crops(images: list[torch.Tensor], idx: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Random ``size`` crops (and horizontal flips) of ``images[idx]``, a pure function of ``seed``."""
    return shared_random_crops(images, idx, size, torch.Generator().manual_seed(seed), flip=True)


class FastStyleTask(Task):
    """One Adam step on the perceptual loss per call; CIN nets draw a random style per sample."""

    def __init__(self, cfg: FastStyleConfig, device: torch.device):
        super().__init__()
        from ..nn.vgg import create_vgg

        self.cfg, self.device = cfg, device
        if cfg.add_style and not cfg.from_model:
            raise ConfigError("--add-style needs --from: the trained CIN network to extend")
        style_paths = [cfg.add_style] if cfg.add_style else list(cfg.styles)
        if not style_paths:
            raise ConfigError("give at least one style image")
        layers = sorted({cfg.content_layer, *cfg.style_layers})
        self.vgg = create_vgg(layers, arch="vgg16", weights=cfg.vgg_weights, device=device)
        style_size = cfg.style_size or cfg.size
        with torch.no_grad():
            grams = []
            for path in style_paths:
                feats = self.vgg(read_image(path, size=style_size).unsqueeze(0).to(device), cfg.style_layers)
                grams.append({k: losses.gram(v)[0] for k, v in feats.items()})
        self.style_grams = {k: torch.stack([g[k] for g in grams]) for k in cfg.style_layers}  # (S, C, C)
        scale = CAFFE_FEATURE_SCALE if self.vgg.normalization == "caffe" else 1.0
        self.content_weight = cfg.content_weight / scale ** 2
        self.style_weight = cfg.style_weight / scale ** 4

        if cfg.add_style:
            self.net = net_from_state_dict(load_file(cfg.from_model), cfg.from_model).to(device)
            self.new_style = self.net.add_style()
            params = freeze_for_new_style(self.net, self.new_style)
        else:
            if cfg.arch not in LAYOUTS:
                raise ConfigError(f"unknown arch {cfg.arch!r}; choose one of {', '.join(LAYOUTS)}")
            self.net = TransformerNet(len(style_paths), LAYOUTS[cfg.arch]).to(device)
            # The network outputs 0-255 values; with the default init they start near 0 (black) and take ~1000
            # Adam steps to reach the pixel range. Starting the last bias at mid-grey skips that phase.
            with torch.no_grad():
                self.net.deconv3.conv2d.bias.fill_(127.5)
            self.new_style = None
            params = list(self.net.parameters())
        self.contents = load_contents(cfg.content, cfg.size)
        self.batches = StepBatches(len(self.contents), cfg.batch_size, seed=cfg.loop.seed)
        self.opt = torch.optim.Adam(params, lr=cfg.lr)
        self.modules, self.optimizers = {"net": self.net}, {"opt": self.opt}

    def _style_ids(self, step: int, n: int) -> torch.Tensor:
        if self.new_style is not None:
            return torch.full((n,), self.new_style)
        g = torch.Generator().manual_seed(self.cfg.loop.seed * 1_000_003 + step + 17)
        return torch.randint(0, len(self.style_grams[self.cfg.style_layers[0]]), (n,), generator=g)

    def perceptual_loss(self, x: torch.Tensor, style_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Content, style and total losses of the network's output for content batch ``x`` in [0, 1]."""
        cfg = self.cfg
        gram_index = torch.zeros_like(style_ids) if self.new_style is not None else style_ids
        if self.net.num_styles > 1:
            self.net.set_style(F.one_hot(style_ids, self.net.num_styles).float())
        y = self.net(x * 255.0) / 255.0
        with torch.no_grad():
            target = self.vgg(x, [cfg.content_layer])[cfg.content_layer]
        feats = self.vgg(y)
        content = self.content_weight * losses.content_loss(feats[cfg.content_layer], target)
        targets = {k: v[gram_index.to(v.device)] for k, v in self.style_grams.items()}
        style = self.style_weight * losses.style_loss(feats, targets)
        total = content + style
        if cfg.tv_weight:
            total = total + cfg.tv_weight * total_variation(y)
        return {"loss": total, "content": content, "style": style}

    def batch(self, step: int) -> torch.Tensor:
        idx = self.batches.batch(step)
        return random_crops(self.contents, idx, self.cfg.size, self.cfg.loop.seed * 1_000_003 + step).to(self.device)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.net.train()
        x = self.batch(step)
        result = self.perceptual_loss(x, self._style_ids(step, len(x)))
        self.opt.zero_grad(set_to_none=True)
        result["loss"].backward()
        self.opt.step()
        return result

    @torch.no_grad()
    def sample(self, path: Path, step: int) -> None:
        """A grid: content crops in the first row, then one row per style."""
        self.net.eval()
        x = random_crops(self.contents, torch.arange(min(4, len(self.contents))), self.cfg.size, 0).to(self.device)
        rows = [x]
        for s in range(self.net.num_styles):
            if self.net.num_styles > 1:
                self.net.set_style(s)
            rows.append((self.net(x * 255.0) / 255.0).clamp(0, 1))
        save_image(image_grid(torch.cat(rows).cpu(), nrow=len(x)), path)


def train_fast_style(cfg: FastStyleConfig) -> Path:
    """Train and write ``OUT/model.safetensors`` (examples key layout); returns its path."""
    device = setup(cfg.loop)
    task = FastStyleTask(cfg, device)
    fit(task, cfg.loop, {"fast_style": asdict(cfg)})
    if cfg.add_style:
        old = _names_of(cfg.from_model) or [f"style{i}" for i in range(task.net.num_styles - 1)]
        names = [*old, Path(cfg.add_style).stem]
    else:
        names = [Path(s).stem for s in cfg.styles]
    out = Path(cfg.loop.out) / "model.safetensors"
    save_state_dict(task.net.state_dict(), out, metadata={"styles": ",".join(names)})
    return out


def _names_of(model: str | None) -> list[str]:
    """Style names recorded in a pixforge-trained safetensors file (empty when unknown)."""
    if not model or not str(model).endswith(".safetensors"):
        return []
    from safetensors import safe_open

    with safe_open(model, "pt") as f:
        names = (f.metadata() or {}).get("styles", "")
    return [n for n in names.split(",") if n]
