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

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F

from ..config import check
from ..errors import ConfigError
from ..io import image_grid, read_image, save_image
from ..registry import TASKS
from ..train import LoopConfig, Task, TrainImages, make_batches, run
from ..weights import load_file, save_state_dict
from ..losses import perceptual as losses
from ..losses.pixel import total_variation
from ..models.transformer_net import LAYOUTS, TransformerNet, freeze_for_new_style, net_from_state_dict

#: How much larger Caffe-normalised VGG activations are than torchvision ones (0-255 input vs ImageNet std).
CAFFE_FEATURE_SCALE = 255.0 * 0.226


@dataclass
class FastStyleConfig:
    """Everything a fast-style (or CIN) training needs; ``loop`` holds the shared loop options."""

    styles: list[str] = field(default_factory=list)  # style images: one trains a fast net, several a CIN net
    arch: str = "johnson"  # johnson (the published layout) or slim (8/16/32 channels, ~12x faster)
    content: Optional[str] = None  # folder of content photos; None: scikit-image's built-in photos
    size: int = 256  # training crop size
    style_size: Optional[int] = None  # long side of the style images (None: size)
    batch_size: int = 4
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0  # total-variation weight
    content_layer: str = "relu2_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    vgg_weights: str = "auto"  # VGG16 weights: a registry name, a file, or random
    lr: float = 1e-3
    add_style: Optional[str] = None  # CIN: learn this extra style's gamma/beta only ...
    from_model: Optional[str] = None  # ... on top of this trained CIN network (.safetensors/.pth)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(steps=2000, out="runs/fast", sample_every=200,
                                                                ckpt_every=200))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr",)

    def __post_init__(self) -> None:
        check(self, positive=("size", "style_size", "batch_size", "lr"),
              non_negative=("content_weight", "style_weight", "tv_weight"), choices={"arch": list(LAYOUTS)})
        if self.add_style and (self.styles or not self.from_model):
            raise ConfigError("add_style (--add-style) takes from_model (--from: the trained CIN network to extend) "
                              "and no styles")
        if not self.add_style and not self.styles:
            raise ConfigError("styles: give a style image (--style FILE)")


@dataclass
class CinConfig(FastStyleConfig):
    """A multi-style (conditional instance norm) network: two or more styles, or one more for a trained one."""

    loop: LoopConfig = field(default_factory=lambda: LoopConfig(steps=4000, out="runs/cin", sample_every=200,
                                                                ckpt_every=200))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.add_style and len(self.styles) < 2:
            raise ConfigError("styles: give at least two style images (--style a.jpg --style b.jpg), "
                              "or --add-style with --from")


_ALIASES = {"style": "styles", "vgg": "vgg_weights", "from": "from_model"}


@TASKS.register("fast-style", aliases=_ALIASES, examples=(
    "pixforge train fast-style --style starry.jpg --content photos/ --steps 2000 --out runs/starry",
    "pixforge train fast-style --style starry.jpg --arch slim loop.amp=true --out runs/starry-slim",
    "pixforge stylize photo.jpg --method fast --model runs/starry/model.safetensors -o out.png",
))
class FastStyleTask(Task):
    """Train a Johnson et al. feed-forward network for one style image (several: a CIN network).

    Perceptual loss on VGG16 (content at relu2_2, Gram style at relu1_2..relu4_3); content photos from
    --content (default: scikit-image's built-in photos, offline), random crops and flips. Writes
    OUT/model.safetensors for `pixforge stylize --method fast --model ...`.
    """

    Config = FastStyleConfig

    def __init__(self, cfg: FastStyleConfig, device: torch.device):
        super().__init__()
        from ..nn.vgg import create_vgg

        self.cfg, self.device = cfg, device
        style_paths = [cfg.add_style] if cfg.add_style else list(cfg.styles)
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
        photos = TrainImages(cfg.content, cfg.size, load_size=round(cfg.size * 1.25), flip=True)
        self.contents = make_batches(photos, None, cfg.batch_size, cfg.loop.seed, device, cfg.loop.workers)
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
        return self.contents.batch(step)[0]

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.net.train()
        x = self.batch(step)
        result = self.perceptual_loss(x, self._style_ids(step, len(x)))
        self.opt.zero_grad(set_to_none=True)
        result["loss"].backward()
        self.opt.step()
        return {k: v.detach() for k, v in result.items()}

    def validate(self, step: int) -> dict[str, float]:
        """The perceptual loss on a fixed batch of content crops (styles taken in turn)."""
        self.net.eval()
        x = self.contents.preview(self.cfg.batch_size)
        ids = torch.arange(len(x)) % self.net.num_styles if self.new_style is None else self._style_ids(0, len(x))
        return {"val_" + k: float(v) for k, v in self.perceptual_loss(x, ids).items()}

    @torch.no_grad()
    def sample(self, path: Path, step: int) -> None:
        """A grid: content crops in the first row, then one row per style."""
        self.net.eval()
        x = self.contents.preview(4)
        rows = [x]
        for s in range(self.net.num_styles):
            if self.net.num_styles > 1:
                self.net.set_style(s)
            rows.append((self.net(x * 255.0) / 255.0).clamp(0, 1))
        save_image(image_grid(torch.cat(rows).cpu(), nrow=len(x)), path)

    def finish(self, result) -> list[str]:
        """OUT/model.safetensors in the examples' key layout, with the style names in its metadata."""
        cfg = self.cfg
        if cfg.add_style:
            old = _names_of(cfg.from_model) or [f"style{i}" for i in range(self.net.num_styles - 1)]
            names = [*old, Path(cfg.add_style).stem]
        else:
            names = [Path(s).stem for s in cfg.styles]
        self.model_path = Path(cfg.loop.out) / "model.safetensors"
        save_state_dict(self.net.state_dict(), self.model_path, metadata={"styles": ",".join(names)})
        return [f"wrote {self.model_path}"]


@TASKS.register("cin", aliases=_ALIASES, examples=(
    "pixforge train cin --style a.jpg --style b.jpg --style c.jpg --steps 4000 --out runs/cin",
    "pixforge train cin --add-style d.jpg --from runs/cin/model.safetensors --steps 1000 --out runs/cin_d",
    "pixforge stylize photo.jpg --method cin --model runs/cin/model.safetensors --style-blend 0.5,0.5,0 -o o.png",
))
class CinTask(FastStyleTask):
    """Train one multi-style network with conditional instance norm (Dumoulin et al.), or add a style to one.

    Each sample of a batch takes a random style; --add-style learns only the new style's gamma/beta on top of
    --from. Writes OUT/model.safetensors for `pixforge stylize --method cin --model ...`.
    """

    Config = CinConfig


def train_fast_style(cfg: FastStyleConfig) -> Path:
    """Train and write ``OUT/model.safetensors`` (examples key layout); returns its path."""
    task, _ = run(FastStyleTask, cfg)
    return task.model_path


def _names_of(model: str | None) -> list[str]:
    """Style names recorded in a pixforge-trained safetensors file (empty when unknown)."""
    if not model or not str(model).endswith(".safetensors"):
        return []
    from safetensors import safe_open

    with safe_open(model, "pt") as f:
        names = (f.metadata() or {}).get("styles", "")
    return [n for n in names.split(",") if n]
