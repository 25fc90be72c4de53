"""Side-by-side figure of the pretrained upscalers: docs/img/sr_side_by_side.png.

    .venv/bin/python benchmarks/sr_figure.py [--crop 64] [--out docs/img/sr_side_by_side.png]

A crop of scikit-image's ``chelsea`` is downscaled x4 with MATLAB bicubic (the evaluation protocol) and brought
back with bicubic and each x4 model (x2 models run twice); columns: bicubic | models | original.
"""
from __future__ import annotations

import argparse

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=96, help="side of the original crop (px)")
    ap.add_argument("--models", nargs="+", default=["waifu2x-photo-x2", "realsr-df2k-x4", "realesrgan-x4plus",
                                                     "realesr-animevideov3"])
    ap.add_argument("--out", default="docs/img/sr_side_by_side.png")
    args = ap.parse_args()

    from pixforge.data.builtin import skimage_images
    from pixforge.io import image_grid, save_image
    from pixforge.metrics.sr import imresize, quantize
    from pixforge.sr import load_model, upscale

    torch.set_grad_enabled(False)
    photo = skimage_images(["chelsea"])[0]
    h, w = photo.shape[-2:]
    top, left = h // 2 - args.crop // 2 - 40, w // 2 - args.crop // 2 - 30
    hr = photo[:, top:top + args.crop, left:left + args.crop]
    lr = quantize(imresize(hr, 0.25)).float().clamp(0, 1)
    columns = [quantize(imresize(lr, 4)).float().clamp(0, 1)]
    for name in args.models:
        net = load_model(name)
        out = lr
        while out.shape[-1] < hr.shape[-1]:
            out = upscale(out, net)
        columns.append(out[:, :hr.shape[-2], :hr.shape[-1]].clamp(0, 1))
    columns.append(hr)
    save_image(image_grid(torch.stack(columns), nrow=len(columns), padding=4, pad_value=1.0), args.out)
    print(f"wrote {args.out}: bicubic | {' | '.join(args.models)} | original")


if __name__ == "__main__":
    main()
