"""Style-swap (Chen & Schmidt 2016): replace every content patch by its best-matching style patch at relu3_1.

Matching uses normalised cross-correlation: the normalised style patches are the filters of a convolution
over the content features and the arg-max channel picks each position's patch. Reconstruction is the
transposed convolution of that one-hot map with the unnormalised patches, divided by how many patches
cover each position; here it is computed as gather + ``fold`` (the same sum, without the one-hot tensor
of size #patches x H x W). A relu3_1 decoder (``opts.decoder``: the file of ``pixforge train wct-decoders``, whose relu3_1
entry is used, or a single relu3_1 decoder) turns the swapped features into an image in one pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import methods
from .arbitrary import blend_weights, color_wrap, load_decoder, prepare, region_labels
from .wct import how_to_train

LAYER = "relu3_1"


def style_swap(content: torch.Tensor, style: torch.Tensor, patch_size: int = 3, chunk: int = 4096) -> torch.Tensor:
    """Swap each patch of content features (N, C, H, W) for the most correlated patch of style (1, C, h, w)."""
    n, c, h, w = content.shape
    k = patch_size
    patches = F.unfold(style, k)[0].T                       # (L, C*k*k), unnormalised style patches
    filters = patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-8)
    filters = filters.reshape(-1, c, k, k)
    out = []
    for i in range(n):
        x = content[i:i + 1]
        best_val = best_idx = None
        for start in range(0, filters.shape[0], chunk):      # arg-max over style patches, chunked for memory
            score = F.conv2d(x, filters[start:start + chunk])[0]
            val, idx = score.max(0)
            if best_val is None:
                best_val, best_idx = val, idx + start
            else:
                better = val > best_val
                best_val = torch.where(better, val, best_val)
                best_idx = torch.where(better, idx + start, best_idx)
        chosen = patches[best_idx.reshape(-1)].T[None]        # (1, C*k*k, positions)
        summed = F.fold(chosen, (h, w), k)
        counts = F.fold(torch.ones_like(chosen[:, :1].expand(1, k * k, -1)), (h, w), k)
        out.append(summed / counts)
    return torch.cat(out)


@methods.register("swap", options=(*methods.DECODER_OPTIONS, "patch_size"),
                  summary="style-swap: each content patch replaced by the closest style patch (Chen & Schmidt 2016)")
def build_swap(styles: list[torch.Tensor], opts):
    """Method "swap": style-swap at relu3_1 (blend: weighted sum of per-style swaps; masks: per region)."""
    prep = prepare(styles, opts, LAYER)
    enc = prep.encoder
    source = methods.require_trained(opts, opts.decoder, f"decoder ({LAYER})", how_to_train(levels=f" --levels {LAYER}"))
    decoder = load_decoder(enc, LAYER, source, prefix=f"{LAYER}.").to(prep.device)
    cached = [enc(s, [LAYER])[LAYER] for s in prep.styles]

    def run(content: torch.Tensor, style_imgs: list[torch.Tensor]) -> torch.Tensor:
        fc = enc(content, [LAYER])[LAYER]
        fs = cached if style_imgs is prep.styles else [enc(s, [LAYER])[LAYER] for s in style_imgs]
        swapped = [style_swap(fc, s, opts.patch_size) for s in fs]
        if opts.masks is not None:
            labels = region_labels(opts.masks, fc.shape[-2:]).to(fc.device).reshape(1, 1, *fc.shape[-2:])
            t = sum((labels == k).to(fc) * s for k, s in enumerate(swapped))
        else:
            t = sum(wk * s for wk, s in zip(blend_weights(len(fs), opts.style_blend), swapped))
        return decoder(opts.alpha * t + (1 - opts.alpha) * fc)

    return color_wrap(run, prep.styles, opts)
