"""Screenshots of every tab of the web UI (`pixforge serve`) with a result on it, for the README:
docs/img/ui_<tab>.png (small palette PNGs).

    python benchmarks/ui_screenshots.py [--out docs/img]

Starts the server on a free localhost port, drives it with headless Chromium (/usr/bin/chromium, Debian's
`chromium` package) through Playwright, runs one job per tab (magenta stylisation of scikit-image's astronaut
with the shipped Starry Night, a 4x upscale, the CycleGAN "vintage" translation, 16 DCGAN faces, PSNR/SSIM of a
photo against its upscaled-and-shrunk copy) and stops the server. Needs the weights of `make weights`.
"""
from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image

from pixforge.ui.testing import browser, served

ROOT = Path(__file__).resolve().parents[1]


def small_png(png: bytes, path: Path, width: int = 1000, colors: int = 96) -> None:
    """A screenshot shrunk to ``width`` px and reduced to a palette: README-sized."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def wait_for_result(page, elem_id: str, timeout: float = 240_000) -> None:
    page.wait_for_selector(f"#{elem_id} img", timeout=timeout)
    page.wait_for_timeout(500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        photo, crop, shrunk = Path(tmp) / "astronaut.png", Path(tmp) / "crop.png", Path(tmp) / "crop_b.png"
        astronaut = Image.fromarray(data.astronaut())
        astronaut.resize((384, 384), Image.LANCZOS).save(photo)
        astronaut.crop((150, 40, 310, 200)).resize((96, 96), Image.LANCZOS).save(crop)
        Image.open(crop).resize((48, 48), Image.BICUBIC).resize((96, 96), Image.BICUBIC).save(shrunk)
        with served() as url, browser(Path(tmp) / "profile", height=640) as (page, offsite):
            page.goto(url, wait_until="networkidle")

            page.set_input_files("#stylize-photo input[type=file]", str(photo))
            page.wait_for_selector("#stylize-photo img")
            page.click("#stylize-run")
            wait_for_result(page, "stylize-result")
            small_png(page.screenshot(full_page=True), args.out / "ui_stylize.png")

            for tab, image in (("upscale", crop), ("translate", photo)):
                page.get_by_role("tab", name=tab.capitalize()).click()
                page.set_input_files(f"#{tab}-image input[type=file]", str(image))
                page.wait_for_selector(f"#{tab}-image img")
                page.click(f"#{tab}-run")
                wait_for_result(page, f"{tab}-result")
                small_png(page.screenshot(full_page=True), args.out / f"ui_{tab}.png")

            page.get_by_role("tab", name="Generate").click()
            page.click("#generate-run")
            wait_for_result(page, "generate-result")
            small_png(page.screenshot(full_page=True), args.out / "ui_generate.png")

            page.get_by_role("tab", name="Evaluate").click()
            page.set_input_files("#evaluate-first input[type=file]", [str(crop)])
            page.set_input_files("#evaluate-second input[type=file]", [str(shrunk)])
            page.wait_for_timeout(1000)
            page.click("#evaluate-run")
            page.wait_for_selector("#evaluate-scores :text('psnr')", timeout=60_000)
            small_png(page.screenshot(full_page=True), args.out / "ui_evaluate.png")
            if offsite:
                print(f"note: the page tried to reach {offsite} (refused)")


if __name__ == "__main__":
    main()
