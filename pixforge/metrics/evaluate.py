"""One-call metrics on image sets: what the CLI and the benchmarks use.

Every image-set argument may be a tensor/array (N, C, H, W) in [-1, 1], a ``.npy`` file of one, or an image
folder; FID also takes ``.npz`` statistics files (``mu``, ``sigma``) or :class:`Stats`. ``features`` is
'inception' or 'classifier:PATH' (see :mod:`pixforge.metrics.features`); extractors are built once per
process and reused. Each metric registers itself on :data:`pixforge.registry.METRICS` (``METRICS.create("fid",
a=..., b=...)``).

    from pixforge.metrics import compute_fid, compute_modes
    compute_fid("real_stats.npz", fake_samples, features="classifier:runs/mnist-classifier")
    compute_modes(points, "grid25")["modes"]
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from ..errors import BadInputError
from ..registry import METRICS
from . import fid as fid_mod
from .features import Extracted, create_extractor, extract, open_source
from .fid import Stats


@functools.lru_cache(maxsize=4)
def _extractor(features: str, device: str | None):
    return create_extractor(features, device)


def compute_features(source, features: str = "inception", batch_size: int = 50, device: str | None = None,
                     progress: bool = True) -> Extracted:
    """Features and class probabilities of an image set (checked before any network is built)."""
    source = open_source(source)
    return extract(_extractor(features, device), source, batch_size, progress)


@METRICS.register("stats", inputs=1, summary="mean and covariance of features (pytorch-fid .npz statistics)")
def compute_stats(source, features: str = "inception", **kw) -> Stats:
    """Stats of a ``.npz`` file as they are, else mean/covariance of the set's features."""
    if _is_stats(source):
        return source if isinstance(source, Stats) else fid_mod.load_stats(source)
    return fid_mod.feature_stats(compute_features(source, features, **kw).features, features)


@METRICS.register("fid", inputs=2, summary="Fréchet Inception Distance between two image sets or statistics files")
def compute_fid(a, b, features: str = "inception", method: str = "eig", **kw) -> float:
    """FID between two image sets or statistics files (two ``.npz`` files need no network at all)."""
    given = [compute_stats(s) if _is_stats(s) else None for s in (a, b)]
    recorded = {s.features for s in given if s is not None and s.features}
    if None in given and recorded - {features}:  # fail before extracting anything
        raise BadInputError(f"statistics were computed with {recorded.pop()!r} features, not {features!r} "
                            f"(pass --features to match)")
    sa, sb = (g if g is not None else compute_stats(s, features, **kw) for g, s in zip(given, (a, b)))
    return fid_mod.fid_from_stats(sa, sb, method)


def _is_stats(source) -> bool:
    return isinstance(source, Stats) or (isinstance(source, (str, os.PathLike)) and Path(source).suffix == ".npz")


@METRICS.register("kid", inputs=2, summary="Kernel Inception Distance (unbiased MMD^2, cubic kernel)")
def compute_kid(a, b, features: str = "inception", subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                **kw) -> tuple[float, float]:
    """KID (mean, std over subsets) between two image sets."""
    fa, fb = compute_features(a, features, **kw).features, compute_features(b, features, **kw).features
    return fid_mod.kernel_inception_distance(fa, fb, subsets, subset_size, seed)


@METRICS.register("is", inputs=1, summary="Inception Score (or a domain classifier's analogue)")
def compute_is(a, features: str = "inception", splits: int = 10, **kw) -> tuple[float, float]:
    """Inception Score (mean, std over splits) of an image set (or a domain classifier's analogue)."""
    return fid_mod.inception_score(compute_features(a, features, **kw).probs, splits)


@METRICS.register("pr", inputs=2, summary="improved precision/recall, density and coverage")
def compute_pr(real, fake, features: str = "inception", k: int = 3, **kw) -> dict[str, float]:
    """Improved precision/recall (plus density/coverage) of ``fake`` against ``real``."""
    from .prdc import precision_recall

    fr, ff = compute_features(real, features, **kw).features, compute_features(fake, features, **kw).features
    return precision_recall(fr, ff, k)


@METRICS.register("modes", inputs=1, summary="mode coverage of 2D mixtures and Stacked MNIST")
def compute_modes(samples, data: str, classifier: str | None = None, device: str | None = None,
                  progress: bool = True) -> dict:
    """Mode coverage of samples: 2D points (N, 2) for 'ring8'/'grid25', (N, 3, H, W) for 'stacked-mnist'."""
    from ..registry import DATASETS
    from .features import check_samples, load_array
    from .modes import mixture_modes, stacked_mnist_modes

    if isinstance(samples, (str, os.PathLike)):
        samples = load_array(samples)
    if DATASETS.meta(data)["kind"] == "mixture":  # (an unknown name: "unknown dataset 'x'; known: ...")
        return mixture_modes(samples, data)
    if data != "stacked-mnist":
        raise BadInputError(f"mode metrics need a 2D mixture ({', '.join(DATASETS.list(kind='mixture'))}) or "
                            f"stacked-mnist, not {data!r}")
    if not classifier:
        raise BadInputError("stacked-mnist mode counting needs a digit classifier (--classifier PATH; "
                            "train one with `pixforge train classifier --data mnist5k --out DIR`)")
    check_samples(samples, "samples")
    return stacked_mnist_modes(samples, _extractor(f"classifier:{classifier}", device), progress=progress)

