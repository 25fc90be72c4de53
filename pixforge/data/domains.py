"""Image sets split into domains, for multimodal (MUNIT, U-GAT-IT: two domains) and multi-domain (StarGAN: any
number) translation: :func:`domain_data` returns :class:`Domains`, the images of every domain with each image's
domain label (known) and, where there is one, its content class (the digit) for measuring label preservation.

Built in, offline:
* ``mnist-domains`` (registered in ``DATASETS``): MNIST 5k at 32 px in four domains, each digit image in exactly
  one of them (a fixed random assignment, so the domains are unpaired): red, green and blue strokes on black,
  and ``bold`` white strokes (dilated by a 3x3 maximum). 3 channels.
* ``digits2mnist``: scikit-learn's digits (domain 0) and MNIST 5k (domain 1), 1 channel, 32 px.
* ``edges2photos``: Canny edges (domain 0) and photo crops (domain 1) of the scikit-image photos, 64 px; the
  edges come from one half of the generated pairs and the photos from the other, so nothing is paired.

Multi-label attributes (StarGAN on CelebA): :class:`AttributeImages`, the images of a folder that a file in
CelebA's ``list_attr_celeba.txt`` format lists, each with the 0/1 vector of some of its attributes; streamed.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import BadInputError
from ..registry import DATASETS
from .builtin import digits, mnist5k

Tensor = torch.Tensor
MNIST_DOMAINS = ("red", "green", "blue", "bold")
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 1.0, 0.1), "blue": (0.2, 0.4, 1.0), "bold": (1.0, 1.0, 1.0)}
#: the domains of each built-in set, in label order
DOMAIN_NAMES = {"mnist-domains": MNIST_DOMAINS, "digits2mnist": ("digits", "mnist"),
                "edges2photos": ("edges", "photos")}
NAMES = tuple(DOMAIN_NAMES)


@dataclass
class Domains:
    images: Tensor  # (N, C, H, W) in [-1, 1]
    domains: Tensor  # (N,) int64 domain labels
    names: tuple[str, ...]  # one per domain
    classes: Tensor | None = None  # (N,) content labels (digits), if known

    def __post_init__(self) -> None:
        if len(self.images) != len(self.domains):
            raise BadInputError(f"{len(self.images)} images but {len(self.domains)} domain labels")
        empty = [n for d, n in enumerate(self.names) if not (self.domains == d).any()]
        if empty:
            raise BadInputError(f"domain(s) without images: {', '.join(empty)}")

    @property
    def num_domains(self) -> int:
        return len(self.names)

    def index(self, domain: int) -> Tensor:
        """The indices of the images of ``domain``."""
        return (self.domains == domain).nonzero().flatten()

    def select(self, names: Sequence[str]) -> "Domains":
        """Only the images of the named domains, labelled 0, 1, ... in the order given (e.g. ``("red", "bold")``
        of ``mnist-domains`` for a two-domain model)."""
        unknown = [n for n in names if n not in self.names]
        if unknown or len(set(names)) != len(names) or len(names) < 2:
            raise BadInputError(f"domains {','.join(names)}: name two or more different domains of "
                                f"{', '.join(self.names)}")
        parts = [self.index(self.names.index(n)) for n in names]
        keep = torch.cat(parts)
        labels = torch.cat([torch.full((len(p),), i, dtype=torch.int64) for i, p in enumerate(parts)])
        return Domains(self.images[keep], labels, tuple(names), None if self.classes is None else self.classes[keep])


def render_domain(digits01: Tensor, name: str) -> Tensor:
    """(N, 1, H, W) strokes in [0, 1] -> (N, 3, H, W) in [0, 1] in the look of an ``mnist-domains`` domain."""
    x = F.max_pool2d(digits01, 3, 1, 1) if name == "bold" else digits01
    return x * torch.tensor(COLOURS[name])[:, None, None]


@functools.lru_cache(maxsize=4)
def _mnist_domains(size: int, seed: int) -> Domains:
    images, classes = mnist5k(size=size, channels=1)
    strokes = (images + 1) / 2
    domains = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)) % len(MNIST_DOMAINS)
    out = torch.empty(len(images), 3, size, size)
    for d, name in enumerate(MNIST_DOMAINS):
        where = domains == d
        out[where] = render_domain(strokes[where], name)
    return Domains(out * 2 - 1, domains, MNIST_DOMAINS, classes)


@DATASETS.register("mnist-domains", family="translation", kind="domains",
                   description="MNIST 5k in 4 unpaired domains (red, green, blue, bold white strokes), 3x32x32, "
                               "domain labels")
def mnist_domains(size: int = 32, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(images (5000, 3, size, size) in [-1, 1], domain labels); :func:`domain_data` adds the digit labels."""
    data = _mnist_domains(size, seed)
    return data.images, data.domains


def _two(a: Tensor, b: Tensor, names: tuple[str, str], classes: tuple[Tensor, Tensor] | None = None) -> Domains:
    labels = torch.cat([torch.zeros(len(a), dtype=torch.int64), torch.ones(len(b), dtype=torch.int64)])
    return Domains(torch.cat([a, b]), labels, names, torch.cat(classes) if classes else None)


def domain_data(name: str, size: int = 0, items: int = 1000, seed: int = 0) -> Domains:
    """The built-in domain set ``name`` (see the module docstring) at ``size`` px (0: its own: 32, or 64 for
    edges2photos); ``items`` = generated edge/photo pairs for edges2photos."""
    if name == "mnist-domains":
        return _mnist_domains(size or 32, seed)
    if name == "digits2mnist":
        (a, ya), (b, yb) = digits(size=size or 32, channels=1), mnist5k(size=size or 32, channels=1)
        return _two(a, b, DOMAIN_NAMES[name], (ya, yb))
    if name == "edges2photos":
        from .paired import edges2photos

        pairs = edges2photos(size=size or 64, length=items, seed=seed)
        half = items // 2
        a = torch.stack([pairs[i]["A"] for i in range(half)])
        b = torch.stack([pairs[i]["B"] for i in range(half, items)])
        return _two(a, b, DOMAIN_NAMES[name])
    raise BadInputError(f"unknown domain dataset {name!r}; known: {', '.join(NAMES)}")


# ------------------------------------------------------------------------------------------------ attributes
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")  # exclusive in StarGAN's CelebA targets


def read_attributes(path: str | os.PathLike, selected: Sequence[str]) -> tuple[list[str], Tensor]:
    """CelebA's ``list_attr_celeba.txt`` format (the image count; the attribute names; per image its file name
    and a 1 or -1 for every attribute) -> (file names, (N, len(selected)) float 0/1 of the ``selected``
    attributes: 1 where the file says 1, as StarGAN's loader)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such attribute file")
    lines = path.read_text().splitlines()
    names = lines[1].split() if len(lines) > 2 else []
    unknown = [a for a in selected if a not in names]
    if not names or unknown or not selected:
        raise BadInputError(f"{path}: attributes {', '.join(unknown or selected) or '(none)'} not among "
                            f"{', '.join(names) or 'the names of line 2 (list_attr_celeba.txt format)'}")
    columns = [1 + names.index(a) for a in selected]
    files, rows = [], []
    for number, line in enumerate(lines[2:], 3):
        values = line.split()
        if not values:
            continue
        if len(values) != len(names) + 1 or any(v not in ("1", "-1") for v in values[1:]):
            raise BadInputError(f"{path}:{number}: expected a file name and {len(names)} values of 1 or -1")
        files.append(values[0])
        rows.append([values[c] == "1" for c in columns])
    return files, torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(selected))


class AttributeImages(torch.utils.data.Dataset):
    """The images of ``folder`` that the attribute file lists, with the ``selected`` attributes as labels
    (:func:`read_attributes`). Item ``(index, seed)``: ``{"image": (C, size, size) in [-1, 1], "label": (K,)}``,
    the centre square resized to ``size`` (for CelebA's 178 x 218 aligned faces, the reference's CenterCrop(178)
    and Resize) and flipped left-right at random, as :class:`~pixforge.train.data.TrainImages` reads them."""

    def __init__(self, folder: str | os.PathLike, attr_path: str | os.PathLike, selected: Sequence[str], size: int):
        from ..train.data import TrainImages

        files, self.labels = read_attributes(attr_path, selected)
        folder = Path(folder)
        if not folder.is_dir():
            raise BadInputError(f"{folder}: not a folder (the images that {attr_path} lists)")
        if not files:
            raise BadInputError(f"{attr_path}: lists no images")
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            raise BadInputError(f"{folder}: {len(missing)} of the {len(files)} images {attr_path} lists are "
                                f"missing: {', '.join(missing[:5])}")
        self.names = tuple(selected)
        self.images = TrainImages([folder / f for f in files], size, flip=True, random_crop=False, signed=True)

    @property
    def num_domains(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor] | BadInputError:
        image = self.images[key]
        return image if isinstance(image, BadInputError) else {"image": image, "label": self.labels[key[0]]}


def attribute_target(labels: Tensor, k: int, names: Sequence[str]) -> Tensor:
    """StarGAN's CelebA test targets (``create_labels``): attribute ``k`` changed in every row of ``labels`` — a
    hair colour set to 1 and the other hair colours to 0, any other attribute inverted."""
    out = labels.clone()
    if names[k] in HAIR_COLOURS:
        out[:, [i for i, n in enumerate(names) if n in HAIR_COLOURS]] = 0
        out[:, k] = 1
    else:
        out[:, k] = 1 - out[:, k]
    return out
