"""PhotoWCT (Li et al. 2018, FastPhotoStyle): photorealistic WCT plus closed-form smoothing.

Two changes to WCT keep photos looking like photos: decoders max-unpool with the encoder's pool indices
instead of upsampling (so edges stay where they were), and a smoothing step makes pixels that look alike in
the content image get alike colours: solve ``(I + lambda L) r = y`` per channel, where ``y`` is the stylised
image and ``L = I - D^-1/2 W D^-1/2`` the normalised graph Laplacian of an 8-neighbour affinity
``W_ij = exp(-|I_i - I_j|^2 / sigma^2)`` on the content image. ``lambda = beta / (1 - beta)`` with
FastPhotoStyle's propagation weight beta; lambda = 0 returns ``y`` unchanged.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from . import methods
from .wct import LEVELS, build_wct

BETA = 0.99                  # FastPhotoStyle's propagation weight (its code uses 0.9999 with the matting affinity)
LAMBDA = BETA / (1 - BETA)   # = 99: smoothness weight of (I + lambda L) r = y
SIGMA = 0.1                  # affinity bandwidth on [0, 1] RGB
LU_MAX_PIXELS = 512 * 512    # direct solve up to this size, conjugate gradients above
CG_RTOL = 1e-6


def affinity(image: np.ndarray, sigma: float = SIGMA) -> scipy.sparse.csr_matrix:
    """Symmetric 8-neighbour Gaussian affinity (HW x HW) of an image (3, H, W)."""
    c, h, w = image.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        a = image[:, ys:ye, xs:xe]
        b = image[:, ys + dy:ye + dy, xs + dx:xe + dx]
        weight = np.exp(-((a - b) ** 2).sum(0) / sigma ** 2)
        i, j = index[ys:ye, xs:xe].ravel(), index[ys + dy:ye + dy, xs + dx:xe + dx].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [weight.ravel(), weight.ravel()]
    return scipy.sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(h * w, h * w))


def smoothing_system(content: np.ndarray, lam: float = LAMBDA, sigma: float = SIGMA) -> scipy.sparse.csc_matrix:
    """The matrix ``I + lambda (I - D^-1/2 W D^-1/2)`` for a content image (3, H, W)."""
    w = affinity(content, sigma)
    d = np.asarray(w.sum(1)).ravel()
    inv_sqrt = scipy.sparse.diags(1.0 / np.sqrt(np.maximum(d, 1e-12)))
    n = w.shape[0]
    return ((1 + lam) * scipy.sparse.identity(n) - lam * (inv_sqrt @ w @ inv_sqrt)).tocsc()


def smooth(stylised: torch.Tensor, content: torch.Tensor, lam: float = LAMBDA, sigma: float = SIGMA) -> torch.Tensor:
    """Closed-form smoothing of a stylised batch (N, 3, H, W) guided by the content batch of the same size."""
    if lam == 0:
        return stylised
    out = torch.empty_like(stylised)
    for i in range(stylised.shape[0]):
        y = stylised[i].detach().double().cpu().numpy()
        a = smoothing_system(content[i].double().cpu().numpy(), lam, sigma)
        if a.shape[0] <= LU_MAX_PIXELS:  # sparse LU once, three cheap solves
            solve = scipy.sparse.linalg.factorized(a)
        else:  # LU fill-in grows too fast: conjugate gradients (the matrix is symmetric positive definite)
            solve = lambda b: scipy.sparse.linalg.cg(a, b, x0=b, rtol=CG_RTOL)[0]  # noqa: E731
        r = np.stack([solve(y[ch].ravel()) for ch in range(y.shape[0])]).reshape(y.shape)
        out[i] = torch.from_numpy(r).to(stylised)
    return out


@methods.register("photowct", options=(*methods.DECODER_OPTIONS, "smooth"),
                  summary="photorealistic WCT: max-unpooling decoders and closed-form smoothing (Li et al. 2018)")
def build_photowct(styles: list[torch.Tensor], opts):
    """Method "photowct": WCT with max-unpooling decoders, then smoothing unless ``opts.smooth`` is False."""
    stylizer = build_wct(styles, opts, unpool=True, levels=LEVELS)
    if not opts.smooth:
        return stylizer

    def smoothed(content: torch.Tensor) -> torch.Tensor:
        batch = content if content.dim() == 4 else content.unsqueeze(0)
        return smooth(stylizer(batch), batch.to(torch.float32)).clamp(0, 1)

    return smoothed
