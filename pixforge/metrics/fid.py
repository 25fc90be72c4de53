"""Fréchet Inception Distance, Kernel Inception Distance and Inception Score on precomputed features.

Everything here works on arrays (features or class probabilities), in float64, so it is independent of the
network that produced them (see :mod:`pixforge.metrics.features`).

* FID (Heusel et al. 2017): ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians fitted to
  two feature sets. ``method="sqrtm"`` is pytorch-fid's computation (``scipy.linalg.sqrtm``);
  ``method="eig"`` (default) uses ``Tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2)))``, a symmetric
  PSD eigenproblem: faster, and stable for singular covariances (fewer samples than dimensions).
* KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3``,
  averaged over random subsets (1000 samples, 100 subsets by default, as their reference code).
* IS (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` over 10 splits, mean and std.
* Statistics files: ``.npz`` with ``mu`` and ``sigma``, as pytorch-fid writes and reads them.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from ..utils import atomic_path


@dataclass
class Stats:
    """Mean and covariance of a feature set; ``features`` names the extractor that produced them."""

    mu: np.ndarray
    sigma: np.ndarray
    features: str = ""
    count: int = 0


def feature_stats(feats: np.ndarray, features: str = "") -> Stats:
    """Mean and (unbiased, as ``np.cov``) covariance of an (N, D) feature array."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise BadInputError(f"need at least 2 feature vectors (N, D) for statistics, got shape {feats.shape}")
    return Stats(feats.mean(0), np.cov(feats, rowvar=False), features, len(feats))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, method: str = "eig", eps: float = 1e-6) -> float:
    """``Tr((sigma1 sigma2)^(1/2))`` for covariance matrices."""
    if method == "eig":
        root = _sqrt_psd(sigma1)
        w = np.linalg.eigvalsh(root @ sigma2 @ root)
        return float(np.sqrt(np.clip(w, 0, None)).sum())
    if method != "sqrtm":
        raise ValueError(f"method must be 'eig' or 'sqrtm', not {method!r}")
    from scipy import linalg

    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: pytorch-fid's fallback, add eps to the diagonals
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary component {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1, sigma1, mu2, sigma2, method: str = "eig") -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise BadInputError(
            f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape} "
            f"(were they computed with the same feature extractor?)")
    diff = mu1 - mu2
    tr = trace_sqrt_product(sigma1, sigma2, method)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def fid_from_stats(a: Stats, b: Stats, method: str = "eig") -> float:
    if a.features and b.features and a.features != b.features:
        raise BadInputError(f"statistics come from different features ({a.features!r} vs {b.features!r})")
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method)


def fid_from_features(feats1: np.ndarray, feats2: np.ndarray, method: str = "eig") -> float:
    """FID between two (N, D) feature arrays."""
    return fid_from_stats(feature_stats(feats1), feature_stats(feats2), method)


def save_stats(stats: Stats, path: str | os.PathLike) -> Path:
    """Write ``mu``/``sigma`` (what pytorch-fid reads) plus ``features`` and ``count``, atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise BadInputError(f"{path}: statistics files end in .npz")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, mu=stats.mu, sigma=stats.sigma, features=np.array(stats.features),
                                count=np.array(stats.count))
    return path


def load_stats(path: str | os.PathLike) -> Stats:
    """Read a pytorch-fid style ``.npz`` (``mu``, ``sigma``; ``features``/``count`` when pixforge wrote it)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise BadInputError(f"{path}: not an .npz statistics file (expected a zip of arrays 'mu' and 'sigma')")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "mu" not in f or "sigma" not in f:
                raise BadInputError(f"{path}: not a statistics file (needs arrays 'mu' and 'sigma', has {sorted(f.files)})")
            stats = Stats(f["mu"].astype(np.float64), f["sigma"].astype(np.float64),
                          str(f["features"]) if "features" in f else "", int(f["count"]) if "count" in f else 0)
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"{path}: cannot read as .npz statistics ({type(exc).__name__}: {exc})") from None
    d = stats.mu.shape
    if stats.mu.ndim != 1 or stats.sigma.shape != d * 2:
        raise BadInputError(f"{path}: mu {stats.mu.shape} and sigma {stats.sigma.shape} do not fit together")
    return stats


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 between equal-size sets with the kernel ``(x.y / d + coef0)^degree``."""
    m, d = x.shape
    kxx = (x @ x.T / d + coef0) ** degree
    kyy = (y @ y.T / d + coef0) ** degree
    kxy = (x @ y.T / d + coef0) ** degree
    off_diag = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off_diag - 2 * kxy.sum() / (m * m))


def kernel_inception_distance(feats1: np.ndarray, feats2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID: mean and std of the polynomial-kernel MMD^2 over ``subsets`` random subsets (without replacement)."""
    x, y = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise BadInputError(f"KID needs two (N, D) feature arrays of the same D, got {x.shape} and {y.shape}")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise BadInputError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS: mean and std over ``splits`` equal parts of ``exp(mean_x KL(p(y|x) || p(y)))``.

    ``probs`` are (N, classes) softmax outputs; like the reference code, trailing samples that do not fill a
    split are dropped. Bounds: 1 (every prediction the same) to the number of classes.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise BadInputError(f"IS needs an (N, classes) array with N >= {splits} splits, got shape {p.shape}")
    n = len(p) // splits
    scores = []
    for k in range(splits):
        part = p[k * n:(k + 1) * n]
        marginal = part.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
