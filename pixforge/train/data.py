"""Training data as a function of the step: batch ``N`` is a pure function of (seed, N), never of an iterator's
hidden state, so a run resumed at step N sees exactly the batches an uninterrupted run would have seen.

* :class:`StepBatches`: the item indices of batch N (epoch e is a permutation seeded by (seed, e); under data
  parallelism each rank takes its slice of the global batch);
* :class:`TensorBatches`: a dataset held as tensors (2D toys, digits), indexed per step; kept on the device
  when it is small, else in (pinned) host memory with one batch moved per step;
* :class:`TrainImages` + :class:`ImageBatches`: the one training-image loader. Image files (a folder, read on
  demand) or the built-in scikit-image photos/textures, streamed through a ``DataLoader`` whose worker
  processes decode, resize, crop and flip; each item has its own generator seeded by (seed, step, position),
  so the batch does not depend on the number of workers.

:func:`make_batches` picks the right one for a dataset.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..errors import BadInputError

#: scikit-image sample images: offline training sets (a few hundred kB each).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field", "immunohistochemistry")
TEXTURES = ("brick", "grass", "gravel")
#: tensor datasets up to this size live on the training device (indexing there beats a copy per step)
DEVICE_BYTES = 512 << 20


class StepBatches:
    """Batch indices as a pure function of the step: epoch ``e`` is a permutation seeded by (seed, e).

    Exact resume needs no iterator state, and under data parallelism each rank takes its own slice of the
    global batch. ``batch(step)`` returns the indices of this rank's part of global batch number ``step``.
    """

    def __init__(self, n_items: int, batch_size: int | Callable[[int], tuple[int, int]], seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        """``batch_size``: items per step, or a function step -> (items before it, its batch size) for batches
        whose size changes (StyleGAN's per-resolution batch)."""
        if n_items <= 0:
            raise BadInputError("the dataset is empty")
        self.span = batch_size if callable(batch_size) else lambda step: (step * batch_size, batch_size)
        self.n, self.seed = n_items, seed
        self.rank, self.world_size = rank, world_size
        self.batch_size = self.span(0)[1]
        if self.batch_size % world_size:
            raise BadInputError(f"batch size {self.batch_size} is not divisible by {world_size} processes")
        self._cache: tuple[int, torch.Tensor] | None = None

    def _epoch(self, epoch: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache = (epoch, torch.randperm(self.n, generator=g))
        return self._cache[1]

    def batch(self, step: int) -> torch.Tensor:
        start, size = self.span(step)
        parts, pos = [], start
        while pos < start + size:
            epoch, offset = divmod(pos, self.n)
            take = min(self.n - offset, start + size - pos)
            parts.append(self._epoch(epoch)[offset: offset + take])
            pos += take
        idx = torch.cat(parts)
        return idx[self.rank:: self.world_size]

    def positions(self, step: int = 0) -> range:
        """Positions of this rank's items in global batch ``step``."""
        return range(self.rank, self.span(step)[1], self.world_size)


class TensorBatches:
    """A dataset held as tensors; ``batch(step)`` -> (samples, labels or None) on the device."""

    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None, batch_size: int | Callable, seed: int,
                 device: torch.device, rank: int = 0, world_size: int = 1):
        self.order = StepBatches(len(data), batch_size, seed, rank, world_size)
        self.device = device
        near = device if data.numel() * data.element_size() <= DEVICE_BYTES else torch.device("cpu")
        pin = device.type == "cuda" and near.type == "cpu"
        self.data = data.pin_memory() if pin else data.to(near)
        self.labels = None if labels is None else labels.to(near)

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.order.batch(step).to(self.data.device)
        y = None if self.labels is None else self.labels[idx].to(self.device, non_blocking=True)
        return self.data[idx].to(self.device, non_blocking=True), y


class TrainImages(torch.utils.data.Dataset):
    """Training images: a folder or a list of files (read on demand) or, for ``source`` None/"builtin", the
    scikit-image images named in ``builtin`` (held in memory). Item ``(index, seed)``: the image with its short side
    resized to ``load_size`` (at least ``size``), a ``size`` x ``size`` crop (random, or the centre with
    ``random_crop=False``), flipped left-right at random with ``flip``; (3, size, size) in [0, 1], or
    [-1, 1] with ``signed`` (as GANs take). ``max_items`` keeps the first N files.
    """

    def __init__(self, source: str | os.PathLike | Sequence[Path] | None, size: int, load_size: int = 0,
                 flip: bool = False, random_crop: bool = True, signed: bool = False, builtin: Sequence[str] = PHOTOS,
                 max_items: int = 0):
        self.size, self.load_size = size, max(size, load_size or size)
        self.flip, self.random_crop, self.signed = flip, random_crop, signed
        self.files: list[Path] = []
        self.images: list[torch.Tensor] = []
        if isinstance(source, (list, tuple)):  # the files themselves, in this order
            self.files = [Path(f) for f in source][: max_items or None]
        elif source is None or str(source) == "builtin":
            from ..data.builtin import skimage_images

            self.images = [self.fit(img) for img in skimage_images(builtin)][: max_items or None]
        else:
            from ..io import list_images

            self.files = list_images(source)[: max_items or None]

    def __len__(self) -> int:
        return len(self.images) or len(self.files)

    def fit(self, image: torch.Tensor) -> torch.Tensor:
        from ..data.folders import resize_short_side

        return resize_short_side(image, self.load_size)

    def load(self, index: int) -> torch.Tensor:
        if self.images:
            return self.images[index]
        from ..io import read_image

        return self.fit(read_image(self.files[index]))

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor | BadInputError:
        """A bad file comes back as its error (raised in the main process, as one line naming the file)."""
        index, seed = key
        try:
            image = self.load(index)
        except BadInputError as exc:
            return exc
        g = torch.Generator().manual_seed(seed)
        h, w = image.shape[-2:]
        if self.random_crop:
            y = int(torch.randint(0, h - self.size + 1, (1,), generator=g))
            x = int(torch.randint(0, w - self.size + 1, (1,), generator=g))
        else:
            y, x = (h - self.size) // 2, (w - self.size) // 2
        crop = image[:, y:y + self.size, x:x + self.size]
        if self.flip and torch.rand(1, generator=g) < 0.5:
            crop = crop.flip(-1)
        return crop * 2 - 1 if self.signed else crop.contiguous()


def _stack(items: list) -> torch.Tensor | dict | BadInputError:
    """Collate items (tensors, or dicts of tensors as translation pairs are) into a batch, or pass on the first
    item's error."""
    bad = [x for x in items if isinstance(x, BadInputError)]
    return bad[0] if bad else torch.utils.data.default_collate(items)


class _FromStep(torch.utils.data.Sampler):
    """The item keys of batches ``start``, ``start + 1``, ... (an endless stream)."""

    def __init__(self, keys: Callable[[int], list[tuple[int, int]]], start: int):
        self.keys, self.start = keys, start

    def __iter__(self):
        step = self.start
        while True:
            yield self.keys(step)
            step += 1


def item_keys(order: StepBatches, step: int) -> list[tuple[int, int]]:
    """(item index, crop seed) of this rank's part of batch ``step``."""
    base = (order.seed * 1_000_003 + step) * 65_536
    return [(int(i), (base + pos) % 2**63) for i, pos in zip(order.batch(step), order.positions(step))]


class ImageBatches:
    """Batches of :class:`TrainImages` for step after step, decoded ahead by ``workers`` DataLoader processes.

    ``batch(step)`` -> (images on the device, their ``labels`` or None). Consecutive steps come from the running
    DataLoader; any other step (the first call, a resume) restarts it there. ``preview(n)`` is a fixed batch for
    samples and validation, computed in this process.
    """

    def __init__(self, images: TrainImages, batch_size: int | Callable, seed: int, device: torch.device,
                 workers: int = 0, rank: int = 0, world_size: int = 1, labels: torch.Tensor | None = None):
        self.images, self.device, self.workers, self.labels = images, device, workers, labels
        self.order = StepBatches(len(images), batch_size, seed, rank, world_size)
        self._stream, self._next = None, -1

    def __len__(self) -> int:
        return len(self.images)

    def _collect(self, keys: list[tuple[int, int]]) -> torch.Tensor:
        return self._deliver(_stack([self.images[k] for k in keys]))

    def _deliver(self, batch: torch.Tensor | dict | BadInputError) -> torch.Tensor | dict:
        if isinstance(batch, BadInputError):
            raise BadInputError(f"{batch} (training images: fix or remove the file, then --resume)")
        if isinstance(batch, dict):
            return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        return batch.to(self.device, non_blocking=True)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = None if self.labels is None else self.labels[self.order.batch(step)].to(self.device, non_blocking=True)
        if not self.workers:
            return self._collect(item_keys(self.order, step)), y
        if self._stream is None or step != self._next:
            keys = _FromStep(partial(item_keys, self.order), step)  # (no reference back to self: no cycle)
            self._stream = iter(torch.utils.data.DataLoader(
                self.images, batch_sampler=keys, num_workers=self.workers, collate_fn=_stack,
                pin_memory=self.device.type == "cuda", generator=torch.Generator()))  # leaves the global RNG alone
        self._next = step + 1
        return self._deliver(next(self._stream)), y

    def preview(self, n: int) -> torch.Tensor:
        return self._collect([(i, i) for i in range(min(n, len(self.images)))])

    def close(self) -> None:
        """Stop the worker processes now (the next ``batch`` starts new ones). Left to the garbage collector,
        a DataLoader in a reference cycle takes seconds to stop its workers."""
        self._stream = None


def make_batches(data: torch.Tensor | torch.utils.data.Dataset, labels: torch.Tensor | None, batch_size: int | Callable,
                 seed: int, device: torch.device, workers: int = 0) -> TensorBatches | ImageBatches:
    """The step-indexed batches of a tensor dataset, or of a :class:`TrainImages` set (or any dataset indexed by
    ``(item, seed)`` keys, as the translation tasks' pairs), for this process's rank (``batch_size``: see
    :class:`StepBatches`)."""
    from . import distributed as dist_utils

    ranks = dict(rank=dist_utils.rank(), world_size=dist_utils.world_size())
    if isinstance(data, torch.utils.data.Dataset):
        return ImageBatches(data, batch_size, seed, device, workers, labels=labels, **ranks)
    return TensorBatches(data, labels, batch_size, seed, device, **ranks)
