"""Arbitrary style in one pass with a style-prediction network (Ghiasi et al. 2017, Magenta's
"arbitrary image stylization"), the small-network route to real-time arbitrary style.

The two networks (:class:`~pixforge.models.magenta.StylePredictor`, a MobileNetV2 mapping a style image to a
100-number embedding, and :class:`~pixforge.models.magenta.StyleTransformer`, a Johnson-style network whose
instance norms take their scale and shift from that embedding) and their weights live in
:mod:`pixforge.models.magenta`; this module is the ``magenta`` method that runs them.

Blending styles is a weighted sum of embeddings; ``alpha`` interpolates between the content's own embedding
(alpha 0) and the style's (1), as in the paper. The transformer is fully convolutional, so pixforge runs it at
the requested output size (the ONNX release is fixed at 384 px and upscales).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.magenta import StyleTransformer, load_predictor, load_transformer
from ..nn.conv import pad_to_multiple
from ..utils import default_device
from . import methods
from .arbitrary import blend_weights, color_wrap

STYLE_SIZE = 256  # the predictor's training size: style images are centre-cropped and resized to this


def stylize_padded(net: StyleTransformer, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """Run the transformer on any size: reflect-pad to a multiple of 4 and crop back."""
    x, (h, w) = pad_to_multiple(content, 4)
    return net(x, embedding)[..., :h, :w]


def style_input(image: torch.Tensor, size: int = STYLE_SIZE) -> torch.Tensor:
    """Centre square crop resized to ``size`` (antialiased), the predictor's training framing."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[..., top:top + side, left:left + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@methods.register("magenta", options=(*methods.STYLE_OPTIONS, "alpha", "model", "tile"),
                  check=methods.no_tile_with_masks, summary="arbitrary style with a style-prediction network "
                                                            "(Ghiasi et al. 2017; pretrained, fastest)")
def build_magenta(styles: list[torch.Tensor], opts):
    """Method "magenta" of :mod:`pixforge.style.methods`: style embedding once, then one transformer pass."""
    weights = blend_weights(len(styles), opts.style_blend)
    device = default_device(opts.device)
    predictor = load_predictor().to(device)
    # channels-last convolutions: ~1.3x faster on CPU for this network (benchmarks/arbitrary_speed.py)
    transformer = load_transformer(opts.model).to(device, memory_format=torch.channels_last)
    batches = [(s.unsqueeze(0) if s.dim() == 3 else s).to(device) for s in styles]
    with torch.inference_mode():
        cached = [predictor(style_input(s)) for s in batches]

    def run(content: torch.Tensor, style_imgs: list[torch.Tensor]) -> torch.Tensor:
        embeddings = cached if style_imgs is batches else [predictor(style_input(s)) for s in style_imgs]
        if opts.alpha < 1.0:
            own = predictor(style_input(content))
            embeddings = [opts.alpha * e + (1.0 - opts.alpha) * own for e in embeddings]
        if opts.masks is None:
            mixed = sum(w * e for w, e in zip(weights, embeddings))
            if opts.tile:  # bounded memory: tile by tile with feathered overlaps (instance norm per tile)
                from .tiling import default_overlap, tiled

                return tiled(lambda x: stylize_padded(transformer, x, mixed), content, opts.tile,
                             default_overlap(opts.tile))
            return stylize_padded(transformer, content.contiguous(memory_format=torch.channels_last), mixed)
        # spatial control: each region stylised with its own style, composited with the normalised masks
        masks = torch.stack([F.interpolate(m.float().reshape(1, 1, *m.shape[-2:]).to(content.device),
                                           size=content.shape[-2:], mode="bilinear", align_corners=False)
                             for m in opts.masks])
        masks = masks / masks.sum(0, keepdim=True).clamp_min(1e-6)
        return sum(m * stylize_padded(transformer, content, e) for m, e in zip(masks, embeddings))

    return color_wrap(run, batches, opts)
