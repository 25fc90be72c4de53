"""Paired image-to-image translation on the GAN task: ``pix2pix``, ``pix2pixhd`` and ``spade``, and the pieces every
translation task shares (the unpaired ones in :mod:`pixforge.tasks.unpaired` import them from here).

Each task is :class:`~pixforge.tasks.gan.GanTask` with its hooks filled in: G takes the input image A (a picture,
or a one-hot label map plus pix2pixHD's instance-edge channel), D judges ``cat(A, image)``, and G's loss adds the
task's terms. One step = one D step on ``(A, B)`` and ``(A, G(A))``, then one G step on the same G(A) with D
frozen, as pytorch-CycleGAN-and-pix2pix does (pix2pixHD computes both from one forward pass before either update,
SPADE runs G's step first; here both follow pix2pix). The losses are weighted as in the references:

* pix2pix: ``gan · cGAN + l1 · L1(G(A), B)``, λ_L1 = 100; ``l1=0`` is the cGAN alone, ``gan=0`` L1 alone (no D).
* pix2pixHD: LSGAN summed over ``num_D`` scales, feature matching ``feat · 4/(n_layers+1) · 1/num_D`` per D layer,
  VGG loss ``vgg · Σ w_l L1`` with w = 1/32, 1/16, 1/8, 1/4, 1 on relu1_1 … relu5_1.
* SPADE: hinge (mean over scales), feature matching ``feat / num_D`` per D layer, the same VGG loss, and with
  ``use_vae`` the style encoder's KL term (``kld`` = 0.05); TTUR (G 1e-4, D 4e-4, betas (0, 0.9)).

The reference GAN terms are ``c(D(fake), 1)`` for G and ``½(c(D(real), 1) + c(D(fake), 0))`` for D with c the
BCE-with-logits (vanilla) or the MSE (lsgan): :func:`reference_loss` maps them onto :mod:`pixforge.losses`.

Shared pieces: :func:`open_pairs` (a dataset from a built-in name, a downloadable archive or a folder),
:class:`PairItems` (step-indexed, exactly resumable batches of pairs, streamed by DataLoader workers),
:func:`translation_grid` (input | output | target sample grids), :func:`inference` / :func:`translate_all` (G as
``pixforge translate`` runs it), :func:`paired_scores` (L1 / PSNR / SSIM to ground truth) and
:func:`epoch_schedule` (the references' "N epochs, then N epochs of linear decay" in steps). Initialisation is the
networks' own (N(0, 0.02), SPADE Xavier 0.02, see :func:`pixforge.models.pix2pix.init_weights`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check
from ..data.paired import EDGES, TranslationDataset, as_rgb, instance_edges, translation_dataset
from ..errors import BadInputError, ConfigError
from ..losses.adversarial import AdversarialLoss, feature_matching_loss, get_loss
from ..losses.regularizers import kl_normal
from ..registry import DATASETS, TASKS
from ..train import LoopConfig
from .gan import GanTask, PlainGanSettings, to_device

Tensor = torch.Tensor
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "translate"
DIRECTIONS = ("AtoB", "BtoA")


# ------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------

def _folder_phase(root: Path, phase: str) -> bool:
    """Whether a folder in a reference layout has ``phase`` (train/val/test) images of its own."""
    return any(p.is_dir() for p in (root / phase, root / f"{phase}A", root / "A" / phase, root / f"{phase}_label"))


def data_root(data: str) -> Path | None:
    """The folder behind ``data``: a downloadable translation archive (fetched and unpacked on first use), a
    folder, or None for a built-in dataset."""
    if data in DATASETS and DATASETS.meta(data).get("kind") == "download":
        folder = getattr(DATASETS.get(data), "folder", None)
        if folder is None:
            raise BadInputError(f"dataset {data!r} is not a translation dataset (see `pixforge data list`)")
        return folder()
    if Path(data).is_dir():
        return Path(data)
    if data in DATASETS and DATASETS.meta(data).get("family") == "translation":
        return None
    known = [n for n in DATASETS.list(family="translation")]
    raise BadInputError(f"unknown translation data {data!r}; known: {', '.join(known)}; or give a folder "
                        "(A|B images, A/ + B/, or trainA/ + trainB/)")


def open_pairs(data: str, size: int, phase: str = "train", seed: int = 0, load_size: int | None = None,
               augment: bool = True, length: int | None = None, paired: bool = True,
               label_nc: int = 0, edges: str = "canny") -> TranslationDataset | None:
    """The translation dataset ``data`` names, for ``phase`` "train" or "test" (held out; None if there is none).

    Built-in sets take ``size``, ``seed`` and ``length`` (if they have one); "test" is their held-out ``split``,
    or, for synthetic ones, another seed. Folders and downloaded archives (reference layouts, see
    :func:`~pixforge.data.paired.translation_dataset`) use ``phase`` (test: their ``val/`` or ``test/`` part),
    resized to ``load_size`` and randomly cropped to ``size`` and flipped when ``augment`` (train only);
    ``paired``: ``trainA/`` + ``trainB/`` folders are matched by file name (the paired tasks), else unpaired;
    ``label_nc``: the class count of label-map folders (``train_label/`` + ``train_img/``); ``edges``: how
    ``edges2photos`` draws its edges (canny, hed).
    """
    root = data_root(data)
    loader = DATASETS.get(data) if root is None else None
    accepted = inspect.signature(loader).parameters if loader is not None else {}
    if edges != "canny" and "edges" not in accepted:
        raise ConfigError(f"edges={edges} applies to the built-in edges2photos data only, not {data!r}")
    if loader is not None:
        kw: dict[str, Any] = {"size": size, "seed": seed, "edges": edges}
        if length and "length" in accepted:
            kw["length"] = length
        if "split" in accepted:
            kw["split"] = "train" if phase == "train" else "test"
        elif phase != "train":
            kw["seed"] = seed + 1_000_003  # synthetic data: new random scenes
        return loader(**{k: v for k, v in kw.items() if k in accepted})
    if phase != "train":
        found = [p for p in ("val", "test") if _folder_phase(root, p)]
        if not found:
            return None
        phase, augment = found[0], False
    return translation_dataset(root, phase, paired, label_nc, size=size, load_size=load_size, augment=augment,
                               seed=seed)


class PairItems(torch.utils.data.Dataset):
    """A translation dataset addressed by the ``(item, seed)`` keys of :mod:`pixforge.train.data`: the seed picks
    the item's random crop, flip (and unpaired partner), so batch N is a function of (seed, N) and a resumed run
    sees the batches an uninterrupted one would. ``BtoA`` swaps the sides; a bad file comes back as its error
    (raised in the main process as one line)."""

    def __init__(self, dataset: TranslationDataset, direction: str = "AtoB"):
        if direction not in DIRECTIONS:
            raise ConfigError(f"unknown direction {direction!r}; known: {', '.join(DIRECTIONS)}")
        self.dataset, self.swap = dataset, direction == "BtoA"

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor] | BadInputError:
        index, seed = key
        self.dataset.set_epoch(seed)
        try:
            item = dict(self.dataset[index])
        except BadInputError as exc:
            return exc
        if self.swap:
            item["A"], item["B"] = item["B"], item["A"]
        return item

    def first(self, count: int) -> dict[str, Tensor]:
        """The first ``count`` items as one batch (fixed: seed 0), for samples and validation."""
        from ..train.data import _stack

        batch = _stack([self[(i, 0)] for i in range(min(count, len(self)))])
        if isinstance(batch, BadInputError):
            raise batch
        return batch


def with_edges(batch: dict[str, Tensor], edges: bool) -> Tensor:
    """The generator's input: A, with pix2pixHD's instance-edge channel appended when ``edges`` (label data)."""
    if not edges:
        return batch["A"]
    if "instance" not in batch:
        raise ConfigError("instance=true needs label-map data with instance maps (e.g. labels2shapes)")
    return torch.cat([batch["A"], instance_edges(batch["instance"]).to(batch["A"].dtype)], 1)


# ------------------------------------------------------------------------------------------------------------
# Inference, samples, scores, schedules
# ------------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def inference(g: nn.Module) -> Iterator[nn.Module]:
    """G as ``pixforge translate`` runs it, restored afterwards: eval(); or, for networks with dropout (pix2pix's
    U-Net, as the reference's test script), train mode with dropout on and each batch's own statistics, leaving
    the batch-norm running statistics untouched."""
    was_training = g.training
    dropout = any(isinstance(m, nn.Dropout) for m in g.modules())
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    g.train(dropout)
    for m in norms if dropout else ():
        m.track_running_stats = False
    try:
        with torch.no_grad():
            yield g
    finally:
        for m in norms if dropout else ():
            m.track_running_stats = True
        g.train(was_training)


def translate_all(g: nn.Module, inputs: Tensor, batch_size: int = 16) -> Tensor:
    """G(inputs) in [-1, 1], in batches, on the CPU as float32 (see :func:`inference`)."""
    device = next(g.parameters()).device
    with inference(g):
        return torch.cat([g(inputs[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(inputs), batch_size)])


def translation_grid(*columns: Tensor) -> Tensor:
    """One row per item, one column per batch (input | output | target; images in [-1, 1], label maps as grey
    levels): (3, H, W) in [0, 1]."""
    from ..io import image_grid

    cells = [as_rgb(x.float().cpu()) for row in zip(*columns) for x in row]
    return image_grid((torch.stack(cells).clamp(-1, 1) + 1) / 2, nrow=len(columns))


def paired_scores(outputs: Tensor, targets: Tensor) -> dict[str, float]:
    """Mean L1, PSNR (dB) and SSIM to ground truth over a batch of images in [-1, 1], measured in [0, 1] RGB
    (PSNR/SSIM as :mod:`pixforge.metrics.sr` computes them, on all channels)."""
    from ..metrics.sr import psnr, ssim

    a, b = (outputs.float().cpu().clamp(-1, 1) + 1) / 2, (targets.float().cpu() + 1) / 2
    n = len(a)
    return {"l1": float((a - b).abs().mean()),
            "psnr": sum(min(psnr(x, y), 100.0) for x, y in zip(a, b)) / n,
            "ssim": sum(ssim(x, y) for x, y in zip(a, b)) / n}


def epoch_schedule(loop: LoopConfig, epochs: int, epochs_decay: int, items: int, batch_size: int) -> LoopConfig:
    """The references' schedule, ``epochs`` at the base rate then ``epochs_decay`` decaying linearly to 0, as
    steps of the loop (``epochs`` = ``epochs_decay`` = 0 leaves ``loop`` as it is)."""
    if not (epochs or epochs_decay):
        return loop
    per_epoch = math.ceil(items / batch_size)
    return dataclasses.replace(loop, steps=(epochs + epochs_decay) * per_epoch, lr_schedule="linear",
                               lr_decay_start=epochs * per_epoch, lr_final=0.0)


#: the references' GAN modes -> (pixforge loss, D weight, G weight): see :func:`reference_loss`
REFERENCE_GAN = {"vanilla": ("nonsaturating", 0.5, 1.0), "lsgan": ("lsgan", 1.0, 2.0), "hinge": ("hinge", 1.0, 1.0)}


def reference_loss(mode: str, weight: float = 1.0, scales: int = 1) -> AdversarialLoss:
    """The references' adversarial loss on pixforge's: D minimises ½(c(D(x), 1) + c(D(G(a)), 0)), G c(D(G(a)), 1),
    c = BCE-with-logits (``vanilla``) or MSE (``lsgan``): ½x pixforge's nonsaturating D loss, 2x its lsgan G
    loss (``hinge``: SPADE's, pixforge's as it is). ``scales``: pix2pixHD sums over its discriminators where
    pixforge (and SPADE) average; ``weight`` scales G's term (pix2pix ``gan``)."""
    if mode not in REFERENCE_GAN:
        raise ConfigError(f"unknown gan_mode {mode!r}; known: {', '.join(REFERENCE_GAN)}")
    name, d_weight, g_weight = REFERENCE_GAN[mode]
    base = get_loss(name)
    d_weight, g_weight = d_weight * scales, g_weight * scales * weight
    return dataclasses.replace(base, name=mode, d=lambda real, fake: d_weight * base.d(real, fake),
                               g=lambda fake: g_weight * base.g(fake))


def vgg_loss(weights: str = "auto") -> nn.Module:
    """pix2pixHD's and SPADE's VGG loss: Σ w_l·L1(φ_l(x), φ_l(y)) over relu1_1 … relu5_1 with w = 1/32, 1/16, 1/8,
    1/4, 1 (images in [0, 1]); ``auto`` takes the first VGG present (torchvision VGG19, else VGG16-HED)."""
    from ..losses.perceptual import VGGPerceptualLoss

    layers = {"relu1_1": 1 / 32, "relu2_1": 1 / 16, "relu3_1": 1 / 8, "relu4_1": 1 / 4, "relu5_1": 1.0}
    return VGGPerceptualLoss(layers, criterion="l1", arch=None, weights=weights).requires_grad_(False).eval()


# ------------------------------------------------------------------------------------------------------------
# The tasks
# ------------------------------------------------------------------------------------------------------------

@dataclass
class TranslationConfig(PlainGanSettings):
    """Settings every paired translation task shares (GanTask reads the class-level ones)."""

    data: str = "edges2photos"  # built-in pairs (edges2photos, grey2colour, labels2shapes), download or folder
    direction: str = "AtoB"  # AtoB or BtoA: which side is the input
    size: int = 256  # training crop (px)
    load_size: int = 286  # folders: resize to this, then crop `size` (the reference's resize_and_crop)
    augment: bool = True  # folders: random crop and left-right flip
    length: int = 1000  # built-in data: items per epoch
    label_nc: int = 0  # label-map folders (train_label/ + train_img/ [+ train_inst/]): number of classes
    edges: str = "canny"  # edges2photos: canny, or hed (the HED network's edges, post-processed as edges2shoes)
    batch_size: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    epochs: int = 0  # > 0: train this many epochs at the base rate (sets loop.steps) ...
    epochs_decay: int = 0  # ... then this many decaying linearly to 0 (the references: 100 + 100)
    val_items: int = 32  # held-out items scored by validation (L1/PSNR/SSIM -> best.pt)
    sample_items: int = 6  # rows of the input | output | target sample grids
    channels_last: bool | None = None  # None: on with CUDA; off on CPUs (slower there for these nets, measured)
    fused_optim: bool = True
    gan_mode: str = "vanilla"  # vanilla (BCE), lsgan, hinge; each task's reference default below
    in_channels: int = 0  # filled from the data
    out_channels: int = 0  # filled from the data
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=2000, sample_every=500, ckpt_every=500, val_every=500, best_metric="val_l1", best_mode="min"))

    ema: ClassVar[float] = 0.0  # (and PlainGanSettings: what GanTask reads and these tasks fix)
    gp: ClassVar[float] = 0.0
    z_dim: ClassVar[int] = 0

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr_g", "lr_d", "betas", "fused_optim", "channels_last",
                                                    "val_items", "sample_items")

    def __post_init__(self) -> None:
        check(self, positive=("size", "load_size", "length", "batch_size", "lr_g", "lr_d"),
              non_negative=("epochs", "epochs_decay", "val_items", "sample_items", "in_channels", "out_channels",
                            "label_nc"),
              choices={"direction": DIRECTIONS, "gan_mode": tuple(REFERENCE_GAN), "edges": EDGES},
              ranges={"betas": (0, 1)})

    @property
    def loss(self) -> str:
        """The LOSSES entry behind the reference's ``gan_mode``."""
        return REFERENCE_GAN[self.gan_mode][0]

    @property
    def sample_shape(self) -> list[int]:
        return [self.out_channels, self.size, self.size]


class TranslationTask(GanTask):
    """A paired translation task: G(A) against B. Subclasses set ``Config``, build the networks
    (:meth:`build_generator`, :meth:`build_discriminator`) and add G's loss terms (:meth:`extra_losses`)."""

    edges: bool = False  # append the instance-edge channel to A
    paired: ClassVar[bool] = True  # trainA/ + trainB/ folders: matched by name (False: unpaired, CycleGAN's)

    def __init__(self, cfg: TranslationConfig, train: TranslationDataset, val: TranslationDataset | None,
                 device: torch.device):
        self.edges = getattr(cfg, "instance", False)
        super().__init__(cfg, PairItems(train, cfg.direction), None, device, self.build_generator(cfg),
                         self.build_discriminator(cfg))
        self.loss = self.adversarial_loss(cfg)
        self.val = PairItems(val, cfg.direction) if val is not None else None
        self._critic_out: Any = None

    # ---------------------------------------------------------------- building
    @classmethod
    def default_config(cls, values: dict[str, Any]) -> Path | None:
        """The shipped recipe ``configs/translate/<task>_<data>.yaml`` for a built-in dataset, else the reference
        recipe ``configs/translate/<task>.yaml``."""
        data = str(values.get("data", cls.Config.data))
        own = CONFIGS / f"{cls.task_name}_{data}.yaml"
        return own if Path(data).name == data and own.is_file() else CONFIGS / f"{cls.task_name}.yaml"

    @classmethod
    def from_config(cls, cfg: TranslationConfig, device: torch.device) -> "TranslationTask":
        """Open the training and held-out data, fill the channels from the data and the steps from the epochs."""
        train = open_pairs(cfg.data, cfg.size, "train", cfg.loop.seed, cfg.load_size, cfg.augment, cfg.length,
                           cls.paired, cfg.label_nc, cfg.edges)
        val = open_pairs(cfg.data, cfg.size, "test", cfg.loop.seed, cfg.load_size, False, cfg.val_items,
                         cls.paired, cfg.label_nc, cfg.edges) if cfg.val_items or cfg.sample_items else None
        first = PairItems(train, cfg.direction).first(1)
        a = with_edges(first, getattr(cfg, "instance", False))
        loop = epoch_schedule(cfg.loop, cfg.epochs, cfg.epochs_decay, len(train), cfg.batch_size)
        channels_last = device.type == "cuda" if cfg.channels_last is None else cfg.channels_last
        cfg = dataclasses.replace(cfg, in_channels=a.shape[1], out_channels=first["B"].shape[1], epochs=0,
                                  epochs_decay=0, loop=loop, channels_last=channels_last)
        return cls(cfg, train, val, device)

    @staticmethod
    def build_generator(cfg: Any) -> nn.Module:
        raise NotImplementedError

    @staticmethod
    def build_discriminator(cfg: Any) -> nn.Module:
        raise NotImplementedError

    def adversarial_loss(self, cfg: Any) -> AdversarialLoss:
        return reference_loss(cfg.gan_mode)

    @classmethod
    def load_generator(cls, cfg: Any, modules: dict[str, dict[str, Tensor]], direction: str) -> nn.Module:
        """The trained generator of a run (``pixforge translate --model RUN``): the direction it was trained in."""
        if direction != "AtoB":
            raise ConfigError(f"a {cls.task_name} run translates in the direction it was trained in (its "
                              f"direction={cfg.direction} is the AtoB of translate); --direction BtoA needs a "
                              "CycleGAN-style run")
        g = cls.build_generator(cfg)
        g.load_state_dict(modules["G"])
        return g

    # ---------------------------------------------------------------- what G and D see
    def real(self, index: int) -> tuple[Tensor, Tensor]:
        """(B, A): the target image and the input D sees it with."""
        batch, _ = self.data.batch(index)
        self.batch = batch
        mf = self.memory_format
        return batch["B"].contiguous(memory_format=mf), with_edges(batch, self.edges).contiguous(memory_format=mf)

    def fake(self, condition: Tensor, n: int) -> tuple[Tensor, Tensor]:
        return self.G(condition), condition

    def critic(self, d: nn.Module, x: Tensor, condition: Tensor) -> Any:
        """D(cat(A, image)), as the references' conditional D; the last output is kept for feature matching."""
        self._critic_out = d(torch.cat([condition, x], 1))
        return self._critic_out

    def generator_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        return self.extra_losses(fake, condition, real)

    def extra_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        """G's weighted terms beside the adversarial one; ``self._critic_out`` holds D(cat(A, fake))."""
        return {}

    def feature_matching(self, condition: Tensor, real: Tensor, weight: float) -> Tensor:
        """``weight`` · Σ over D's scales and intermediate layers of L1(D_l(fake), D_l(real)) / num_D (the real
        features from the current D, without gradient): pix2pixHD's weight is λ_feat·4/(n_layers+1), SPADE's
        λ_feat. :func:`~pixforge.losses.adversarial.feature_matching_loss` is the mean over scales and layers."""
        with torch.no_grad():
            real_features = self.d(torch.cat([condition, real], 1))
        layers = len(real_features[0]) - 1
        return weight * layers * feature_matching_loss(real_features, self._critic_out)

    # ---------------------------------------------------------------- samples and validation
    def _held_out(self, count: int) -> dict[str, Tensor]:
        return (self.val or self.data.images).first(count)

    def sample(self, path: Path, step: int) -> None:
        from ..io import save_image

        if not self.cfg.sample_items:
            return
        batch = self._held_out(self.cfg.sample_items)
        a = with_edges(batch, self.edges)
        save_image(translation_grid(a, translate_all(self.g, a), batch["B"]), path)

    def validate(self, step: int) -> dict[str, float]:
        """L1 (in [0, 1]), PSNR and SSIM of G's outputs against the held-out targets (G as translate runs it)."""
        if self.val is None or not self.cfg.val_items:
            return {}
        batch = self.val.first(self.cfg.val_items)
        out = translate_all(self.g, with_edges(batch, self.edges))
        return {f"val_{k}": v for k, v in paired_scores(out, batch["B"]).items()}

    def finish(self, result) -> list[str]:
        return [f"translate with: pixforge translate IMAGE -o OUT.png --model {result.out}"]


# ---------------------------------------------------------------------------------------------------- pix2pix
NET_G = ("unet", "unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
NET_D = ("basic", "n_layers", "pixel", "full")


def receptive_field(n_layers: int) -> int:
    """Receptive field (px) of one output of the N-layer PatchGAN: 16, 34, 70, 142, 286 for n_layers 1 … 5."""
    r = 7  # the two stride-1 4x4 convs at the end
    for _ in range(n_layers):
        r = 2 * r + 2
    return r


def patch_layers_for(net_d: str, n_layers: int, size: int) -> int:
    """The PatchGAN depth of ``netD``: basic 3 (70x70), n_layers as given, full the shallowest whose patches
    cover the whole ``size`` image (the paper's "ImageGAN": 286x286 at 256 px)."""
    if net_d == "basic":
        return 3
    if net_d == "full":
        return next(n for n in range(1, 12) if receptive_field(n) >= size)
    return n_layers


@dataclass
class Pix2PixConfig(TranslationConfig):
    """pix2pix (Isola et al. 2017); defaults as pytorch-CycleGAN-and-pix2pix (``--model pix2pix``)."""

    task: str = "pix2pix"  # what the run holds (read by `pixforge translate --model RUN`)
    netG: str = "unet_256"  # unet (depth for `size`: 1x1 at the bottleneck), unet_256, unet_128, resnet_9blocks, resnet_6blocks
    ngf: int = 64
    norm: str = "batch"  # batch, instance, instance-affine, none
    dropout: bool = True  # dropout 0.5 in G (kept on at inference, as the reference)
    netD: str = "basic"  # basic (70x70 PatchGAN), n_layers, pixel (1x1), full (patches cover the image)
    n_layers_D: int = 3  # netD=n_layers: 1 -> 16x16, 2 -> 34x34, 3 -> 70x70, 5 -> 286x286 patches
    ndf: int = 64
    gan: float = 1.0  # weight of the cGAN term (0 = L1 only, no D)
    l1: float = 100.0  # λ_L1 (0 = cGAN only)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "ndf", "n_layers_D"), non_negative=("gan", "l1"),
              choices={"netG": NET_G, "netD": NET_D, "task": ("pix2pix",),
                       "norm": ("batch", "instance", "instance-affine", "none")})
        if not (self.gan or self.l1):
            raise ConfigError("gan and l1 are both 0: G would have no loss")


@TASKS.register("pix2pix", examples=(
    "pixforge train pix2pix --data edges2photos --out runs/p2p",
    "pixforge translate photo_edges.png -o photo.png --model runs/p2p",
    "pixforge train pix2pix --data facades --direction BtoA --out runs/facades",
    "pixforge train pix2pix --data grey2colour l1=0 --out runs/cgan-only",
    "pixforge train pix2pix --data edges2photos netD=pixel --out runs/pixelgan",
))
class Pix2PixTask(TranslationTask):
    """Train pix2pix: a U-Net (or ResNet) G and a PatchGAN D on (input, output) pairs, cGAN + λ·L1 (λ = 100).

    Built-in data start from a small CPU recipe (configs/translate/pix2pix_<data>.yaml); folders and downloads
    from the reference's (configs/translate/pix2pix.yaml: batch 1, load 286 / crop 256 with flips, Adam 2e-4
    β1 0.5, 100 + 100 epochs of linear decay). Held-out L1/PSNR/SSIM every loop.val_every steps -> best.pt;
    sample grids input | output | target. The run folder works as `pixforge translate --model OUT`.
    """

    Config = Pix2PixConfig
    task_name = "pix2pix"

    def __init__(self, cfg: Pix2PixConfig, train, val, device):
        super().__init__(cfg, train, val, device)
        if not cfg.gan:  # L1 only: no discriminator
            for table in (self.modules, self.optimizers):
                del table["D"]
        elif cfg.loop.amp and device.type == "cpu" and not cfg.channels_last:
            # bf16 on a CPU: D alone channels-last (oneDNN's fast bf16 layout; the U-Net's transposed convs are
            # not faster so; measured in benchmarks/translation_paired.py)
            to_device(self.d, device, torch.channels_last)

    @staticmethod
    def build_generator(cfg: Pix2PixConfig) -> nn.Module:
        from ..models.pix2pix import ResnetGenerator, UnetGenerator

        if cfg.netG.startswith("resnet"):
            return ResnetGenerator(cfg.in_channels, cfg.out_channels, cfg.ngf, cfg.norm, int(cfg.netG[7]),
                                   dropout=cfg.dropout)
        downs = {"unet_256": 8, "unet_128": 7}.get(cfg.netG) or int(math.log2(cfg.size))
        if cfg.size % 2 ** downs:
            raise ConfigError(f"netG={cfg.netG} halves the image {downs} times: size must be a multiple of "
                              f"{2 ** downs}, got {cfg.size} (netG=unet fits the U-Net to the size)")
        return UnetGenerator(cfg.in_channels, cfg.out_channels, downs, cfg.ngf, cfg.norm, cfg.dropout)

    @staticmethod
    def build_discriminator(cfg: Pix2PixConfig) -> nn.Module:
        from ..models.pix2pix import NLayerDiscriminator, PixelDiscriminator

        channels = cfg.in_channels + cfg.out_channels
        if cfg.netD == "pixel":
            return PixelDiscriminator(channels, cfg.ndf, cfg.norm)
        return NLayerDiscriminator(channels, cfg.ndf, patch_layers_for(cfg.netD, cfg.n_layers_D, cfg.size), cfg.norm)

    def adversarial_loss(self, cfg: Pix2PixConfig) -> AdversarialLoss:
        return reference_loss(cfg.gan_mode, weight=cfg.gan)

    def extra_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        return {"l1": self.cfg.l1 * F.l1_loss(fake, real)} if self.cfg.l1 else {}

    def train_step(self, step: int) -> dict[str, Tensor]:
        if not self.cfg.gan:
            return self.train_generator_only(step, self.extra_losses)
        return super().train_step(step)


# ---------------------------------------------------------------------------------------------------- pix2pixHD
class VGGTerm:
    """Mixin: the VGG loss ``vgg · Σ w_l L1`` (see :func:`vgg_loss`), built once on the task's device."""

    def vgg_term(self, fake: Tensor, real: Tensor) -> dict[str, Tensor]:
        if not self.cfg.vgg:
            return {}
        if getattr(self, "_vgg", None) is None:
            self._vgg = vgg_loss(self.cfg.vgg_weights).to(self.device)
        return {"vgg": self.cfg.vgg * self._vgg((fake.float() + 1) / 2, (real.float() + 1) / 2)}


@dataclass
class LabelMapConfig(TranslationConfig):
    """What pix2pixHD and SPADE share: label-map input, num_D multi-scale PatchGANs, feature matching and the VGG
    loss (pix2pixHD's defaults; SPADE changes the depth of D and the GAN loss)."""

    data: str = "labels2shapes"
    instance: bool = True  # label data with instance maps: append the instance-edge map to G's and D's input
    num_D: int = 2
    n_layers_D: int = 3
    ndf: int = 64
    feat: float = 10.0  # λ_feat of feature matching (0 = off)
    vgg: float = 10.0  # weight of the VGG loss (0 = off)
    vgg_weights: str = "auto"  # VGG backbone for the VGG loss (auto: first present; random: for tests)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("num_D", "n_layers_D", "ndf"), non_negative=("feat", "vgg"))


@dataclass
class Pix2PixHDConfig(LabelMapConfig):
    """pix2pixHD (Wang et al. 2018); defaults as NVIDIA/pix2pixHD's train options."""

    task: str = "pix2pixhd"  # what the run holds (read by `pixforge translate --model RUN`)
    size: int = 512  # the reference trains the global G at 1024x512 Cityscapes; any multiple of 2^(4+enhancers)
    load_size: int = 1024
    netG: str = "global"  # global, or local (a local enhancer around the global G, coarse to fine)
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_local_enhancers: int = 1
    n_blocks_local: int = 3
    norm: str = "instance"
    gan_mode: str = "lsgan"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "n_downsample_global", "n_blocks_global", "n_local_enhancers"),
              non_negative=("n_blocks_local",),
              choices={"netG": ("global", "local"), "task": ("pix2pixhd",),
                       "norm": ("batch", "instance", "instance-affine", "none")})


@TASKS.register("pix2pixhd", examples=(
    "pixforge train pix2pixhd --data labels2shapes --out runs/hd",
    "pixforge train pix2pixhd --data labels2shapes netG=local --out runs/hd-local",
    "pixforge train pix2pixhd --data ~/cityscapes_pairs --size 512 --out runs/cityscapes",
))
class Pix2PixHDTask(VGGTerm, TranslationTask):
    """Train pix2pixHD: the global generator (optionally inside a local enhancer), num_D multi-scale PatchGANs,
    LSGAN + feature matching (λ 10, 4/(n_layers+1)/num_D per layer) + VGG loss (10, layers 1/32 … 1); label
    maps get the instance-edge channel (instance=true). Not here: the instance-wise feature encoder and
    niter_fix_global (training the local enhancer alone first)."""

    Config = Pix2PixHDConfig
    task_name = "pix2pixhd"

    @staticmethod
    def build_generator(cfg: Pix2PixHDConfig) -> nn.Module:
        from ..models.pix2pixhd import LocalEnhancer, global_generator

        if cfg.netG == "local":
            g = LocalEnhancer(cfg.in_channels, cfg.out_channels, cfg.ngf // 2, cfg.n_downsample_global,
                              cfg.n_blocks_global, cfg.n_local_enhancers, cfg.n_blocks_local, cfg.norm)
        else:
            g = global_generator(cfg.in_channels, cfg.out_channels, cfg.ngf, cfg.n_downsample_global,
                                 cfg.n_blocks_global, cfg.norm)
        if cfg.size % g.size_multiple:
            raise ConfigError(f"netG={cfg.netG} needs sizes that are multiples of {g.size_multiple}, got {cfg.size}")
        return g

    @staticmethod
    def build_discriminator(cfg: Pix2PixHDConfig) -> nn.Module:
        from ..models.pix2pixhd import MultiscaleDiscriminator

        return MultiscaleDiscriminator(cfg.in_channels + cfg.out_channels, cfg.ndf, cfg.n_layers_D, cfg.num_D,
                                       cfg.norm)

    def adversarial_loss(self, cfg: Pix2PixHDConfig) -> AdversarialLoss:
        return reference_loss(cfg.gan_mode, scales=cfg.num_D)

    def extra_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        out = {"feat": self.feature_matching(condition, real, cfg.feat * 4 / (cfg.n_layers_D + 1))} if cfg.feat else {}
        return {**out, **self.vgg_term(fake, real)}


# ---------------------------------------------------------------------------------------------------- SPADE
class SPADEWithEncoder(nn.Module):
    """SPADE's generator with its VAE style encoder: ``forward(seg, image)`` encodes the image into (mu, logvar),
    draws z = mu + ε·exp(logvar/2) and keeps the KL term in ``self.kl``; without an image z ~ N(0, 1)."""

    def __init__(self, generator: nn.Module, encoder: nn.Module):
        super().__init__()
        self.generator, self.encoder = generator, encoder
        self.size_multiple, self.in_channels = generator.size_multiple, generator.label_nc
        self.kl: Tensor | None = None

    def forward(self, seg: Tensor, image: Tensor | None = None) -> Tensor:
        z = None
        if image is not None:
            mu, logvar = self.encoder(image)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            self.kl = kl_normal(mu, logvar)
        return self.generator(seg, z)


@dataclass
class SPADEConfig(LabelMapConfig):
    """SPADE / GauGAN (Park et al. 2019); defaults as NVlabs/SPADE's train options."""

    task: str = "spade"  # what the run holds (read by `pixforge translate --model RUN`)
    ngf: int = 64
    num_upsampling_layers: str = "normal"  # normal (sizes: multiples of 32), more, most (128)
    use_vae: bool = False  # the style encoder: G(label map, z = E(image)) and the KL term
    z_dim: int = 256
    n_layers_D: int = 4
    gan_mode: str = "hinge"
    kld: float = 0.05  # weight of the KL term (use_vae)
    lr_g: float = 1e-4  # TTUR: lr / 2 for G ...
    lr_d: float = 4e-4  # ... lr * 2 for D
    betas: tuple[float, float] = (0.0, 0.9)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "z_dim"), non_negative=("kld",),
              choices={"num_upsampling_layers": ("normal", "more", "most"), "task": ("spade",)})


@TASKS.register("spade", examples=(
    "pixforge train spade --data labels2shapes --out runs/spade",
    "pixforge train spade --data labels2shapes use_vae=true --out runs/spade-vae",
))
class SPADETask(VGGTerm, TranslationTask):
    """Train SPADE (GauGAN): the SPADE generator on label maps, two spectral-norm PatchGANs (n_layers 4), hinge
    loss + feature matching (λ 10) + VGG loss (10); use_vae=true adds the style encoder and its KL term (0.05);
    TTUR (G 1e-4, D 4e-4, betas (0, 0.9))."""

    Config = SPADEConfig
    task_name = "spade"

    @staticmethod
    def build_generator(cfg: SPADEConfig) -> nn.Module:
        from ..models.spade import ConvEncoder, SPADEGenerator

        g = SPADEGenerator(cfg.in_channels, cfg.ngf, cfg.num_upsampling_layers, cfg.use_vae, cfg.z_dim, cfg.size)
        if cfg.size % g.size_multiple:
            raise ConfigError(f"num_upsampling_layers={cfg.num_upsampling_layers} needs sizes that are multiples "
                              f"of {g.size_multiple}, got {cfg.size}")
        g.in_channels = cfg.in_channels
        # the encoder resizes every image to 256 px, so it always has the 6 layers of crop_size >= 256 (the
        # reference's 5-layer variant for smaller crops does not fit its own linear heads)
        return SPADEWithEncoder(g, ConvEncoder(cfg.ngf, 256, cfg.z_dim)) if cfg.use_vae else g

    @staticmethod
    def build_discriminator(cfg: SPADEConfig) -> nn.Module:
        from ..models.spade import SPADEDiscriminator

        return SPADEDiscriminator(cfg.in_channels + cfg.out_channels, cfg.ndf, cfg.n_layers_D, cfg.num_D)

    def fake(self, condition: Tensor, n: int) -> tuple[Tensor, Tensor]:
        if self.cfg.use_vae:
            return self.G(condition, self.batch["B"]), condition
        return self.G(condition), condition

    def extra_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        out = {"feat": self.feature_matching(condition, real, cfg.feat)} if cfg.feat else {}
        if cfg.use_vae and cfg.kld:
            out["kld"] = cfg.kld * self.g.kl
        return {**out, **self.vgg_term(fake, real)}
