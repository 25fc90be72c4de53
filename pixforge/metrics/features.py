"""Feature extractors and image sources for the metrics: one interface for Inception and domain classifiers.

An extractor is a module whose ``forward(images in [-1, 1])`` returns ``(features, logits)``; it carries a
``name`` (recorded in statistics files) and an ``input_size``. ``create_extractor`` builds one from a spec:

* ``"inception"`` — the FID Inception network with pytorch-fid's weights (registry ``inception-fid``;
  offline without the file: a WeightsError saying what to download and import);
* ``"classifier:PATH"`` — a classifier trained with ``pixforge train classifier`` (domain features).

Image sources: a tensor/array (N, C, H, W) in [-1, 1], a ``.npy`` file of such an array, or a folder of
image files (read with :mod:`pixforge.io`, mapped to [-1, 1]), or a GAN run folder / checkpoint (``CHECKPOINT_SAMPLES``
samples are drawn from its generator). ``extract`` runs the extractor over a
source in batches on the default device (CUDA when present), with a progress bar.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError
from ..utils import default_device


def create_extractor(spec: str = "inception", device: str | torch.device | None = None,
                     download: bool = True) -> nn.Module:
    """Build the extractor named by ``spec`` ('inception' or 'classifier:PATH'), in eval mode on ``device``."""
    if spec == "inception":
        from ..models.inception import INPUT_SIZE, create_inception

        model = create_inception(download=download)
        model.input_size = INPUT_SIZE
    elif spec.startswith("classifier:"):
        from ..models.classifier import load_classifier

        model = load_classifier(spec.split(":", 1)[1])
        model.input_size = model.cfg.image_size
    else:
        raise BadInputError(f"unknown features {spec!r}: use 'inception' or 'classifier:PATH'")
    model.name = spec
    return model.eval().to(default_device(device))


class ImageSource:
    """A sized collection of images in [-1, 1] that yields (B, C, H, W) float batches."""

    def __init__(self, data: np.ndarray | torch.Tensor | None = None, files: list[Path] | None = None,
                 label: str = "images"):
        self.data, self.files, self.label = data, files, label

    def __len__(self) -> int:
        return len(self.files) if self.files is not None else len(self.data)

    def batches(self, batch_size: int, size: int | None = None):
        """Yield batches; folder images of differing sizes are resized to ``size`` (bilinear) to be stacked.

        Images of one size are passed on as they are: the extractor resizes them itself."""
        from ..io import read_image

        for start in range(0, len(self), batch_size):
            if self.files is None:
                part = self.data[start:start + batch_size]
                yield part.float() if torch.is_tensor(part) else torch.from_numpy(np.array(part, dtype=np.float32))
                continue
            imgs = [read_image(p) * 2 - 1 for p in self.files[start:start + batch_size]]
            if len({tuple(i.shape) for i in imgs}) > 1:
                hw = (size, size) if size else imgs[0].shape[-2:]
                imgs = [F.interpolate(i[None], size=hw, mode="bilinear", align_corners=False)[0] for i in imgs]
            yield torch.stack(imgs)


def check_samples(array, label: str) -> None:
    """Sample arrays must be (N, C, H, W) images in [-1, 1]."""
    if array.ndim != 4:
        raise BadInputError(f"{label}: expected images (N, C, H, W), got an array of shape {tuple(array.shape)}")
    head = np.asarray(array[: min(len(array), 256)], dtype=np.float32)
    lo, hi = float(head.min(initial=0)), float(head.max(initial=0))
    if lo < -1.05 or hi > 1.05:
        raise BadInputError(f"{label}: values span [{lo:.3g}, {hi:.3g}]; samples must be in [-1, 1]")


def load_array(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` array (memory-mapped, never unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise BadInputError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from None


#: Samples drawn from a GAN run folder / checkpoint given as an image source (seed 0, EMA weights when present).
CHECKPOINT_SAMPLES = 5000


def open_source(source) -> ImageSource:
    """An :class:`ImageSource` from an array/tensor, a ``.npy`` path, an image folder or a GAN run folder / ``.pt``."""
    if isinstance(source, ImageSource):
        return source
    if isinstance(source, (np.ndarray, torch.Tensor)):
        check_samples(source, "samples")
        return ImageSource(data=source)
    path = Path(source)
    if (path / "checkpoints" / "last.pt").is_file() or path.suffix == ".pt":
        from ..tasks.gan import sample_run

        samples, _ = sample_run(path, CHECKPOINT_SAMPLES)
        check_samples(samples, str(path))
        return ImageSource(data=samples, label=f"{path} ({CHECKPOINT_SAMPLES} samples)")
    if path.is_dir():
        from ..io import list_images

        return ImageSource(files=list_images(path), label=str(path))
    if path.suffix == ".npy":
        array = load_array(path)
        check_samples(array, str(path))
        return ImageSource(data=array, label=str(path))
    if not path.exists():
        raise BadInputError(f"{path}: no such file or folder")
    raise BadInputError(f"{path}: expected an image folder, a .npy sample array or (for FID) a .npz statistics file")


@dataclass
class Extracted:
    """Features (N, D) and class probabilities (N, classes) of one image set, as float64 arrays."""

    features: np.ndarray
    probs: np.ndarray
    extractor: str


@torch.no_grad()
def extract(extractor: nn.Module, source, batch_size: int = 50, progress: bool = True) -> Extracted:
    """Run ``extractor`` over every image of ``source`` (see :func:`open_source`) in batches."""
    from tqdm.auto import tqdm

    src = open_source(source)
    device = next(extractor.parameters()).device
    feats, probs = [], []
    name = getattr(extractor, "name", type(extractor).__name__)
    with tqdm(total=len(src), unit="img", desc=f"{name} features", disable=None if progress else True,
              leave=False) as bar:
        for batch in src.batches(batch_size, getattr(extractor, "input_size", None)):
            f, logits = extractor(batch.to(device))
            feats.append(f.double().cpu())
            probs.append(torch.softmax(logits.double(), 1).cpu())
            bar.update(len(batch))
    if not feats:
        raise BadInputError(f"{src.label}: no images")
    return Extracted(torch.cat(feats).numpy(), torch.cat(probs).numpy(), name)
