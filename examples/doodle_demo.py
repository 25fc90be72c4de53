"""Neural doodle demo: Starry Night annotated in three flat colours, repainted from a new doodle.

The style map is made here by clustering the painting's (blurred) colours into sky / stars / dark land;
the target map is drawn with PIL. Writes OUT/starry_{map,doodle,result,panel}.png.

    python examples/doodle_demo.py --out out/doodle --size 192 --steps 80
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pixforge.io import read_image, save_image, side_by_side, to_tensor
from pixforge.style.doodle import doodle

# shared/ lies beside the project root (in a git worktree, beside the main checkout: look further up)
STYLE = next((p / "shared" / "data" / "style" / "starry_night.jpg" for p in Path(__file__).resolve().parents
              if (p / "shared" / "data" / "style" / "starry_night.jpg").is_file()), None)
SKY, STARS, LAND = (40, 90, 230), (250, 220, 40), (20, 110, 40)


def style_map(path: Path, long_side: int = 256) -> Image.Image:
    """Three-class annotation of the painting: k-means on blurred colours, labels ordered by brightness."""
    from scipy import ndimage
    from sklearn.cluster import KMeans

    img = Image.open(path).convert("RGB")
    img = img.resize((long_side, round(long_side * img.height / img.width)), Image.LANCZOS)
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(3)), dtype=np.float32).reshape(-1, 3) / 255
    km = KMeans(3, n_init=4, random_state=0).fit(pixels)
    rank = np.argsort(np.argsort(km.cluster_centers_.sum(1)))  # 0 darkest ... 2 brightest
    labels = rank[km.labels_].reshape(img.height, img.width)
    labels = ndimage.median_filter(labels, size=5)  # clean speckles, like a hand-drawn map
    palette = np.array([LAND, SKY, STARS], dtype=np.uint8)
    return Image.fromarray(palette[labels])


def target_map(width: int, height: int) -> Image.Image:
    """A new doodle: sky, a big moon and two stars, rolling hills and a cypress."""
    img = Image.new("RGB", (width, height), SKY)
    d = ImageDraw.Draw(img)
    w, h = width, height
    d.ellipse([0.62 * w, 0.08 * h, 0.82 * w, 0.40 * h], fill=STARS)
    for cx, cy, r in ((0.18, 0.2, 0.06), (0.42, 0.32, 0.05)):
        d.ellipse([(cx - r) * w, cy * h - r * w, (cx + r) * w, cy * h + r * w], fill=STARS)
    d.polygon([(0, 0.72 * h), (0.3 * w, 0.6 * h), (0.6 * w, 0.75 * h), (w, 0.62 * h), (w, h), (0, h)], fill=LAND)
    d.polygon([(0.80 * w, h), (0.86 * w, 0.25 * h), (0.92 * w, h)], fill=LAND)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/doodle"))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--scales", type=int, default=3)
    parser.add_argument("--layers", default="relu2_1,relu3_1,relu4_1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stride", type=int, default=1, help="style patch stride (2: faster)")
    parser.add_argument("--style", type=Path, default=STYLE, help="Starry Night (default: shared/data)")
    args = parser.parse_args()
    if args.style is None:
        parser.error("shared/data/style/starry_night.jpg not found; pass --style")
    args.out.mkdir(parents=True, exist_ok=True)
    style = read_image(args.style, size=args.size)
    smap = style_map(args.style)
    tmap = target_map(args.size, round(args.size * 0.625))
    smap.save(args.out / "starry_map.png")
    tmap.save(args.out / "starry_doodle.png")
    result = doodle(style, smap, tmap, size=args.size, steps=args.steps, scales=args.scales, seed=args.seed,
                    stride=args.stride,
                    layers=args.layers.split(","))
    save_image(result, args.out / "starry_result.png")
    panel = side_by_side([style, to_tensor(smap), to_tensor(tmap), result], height=args.size * 5 // 8)
    save_image(panel, args.out / "starry_panel.png")
    print(f"wrote {args.out}/starry_panel.png (style | style map | doodle | result)")


if __name__ == "__main__":
    main()
