"""Image I/O: every mode becomes float RGB, bad files give one-line errors naming the file."""
from __future__ import annotations

import io as stdio
import os

import numpy as np
import pytest
import torch
from PIL import Image

from pixforge.errors import BadInputError
from pixforge.io import image_grid, read_image, resize_long_side, save_image, side_by_side, to_pil


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_png_roundtrip_exact(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    p = _save(Image.fromarray(a), tmp_path / "x.png")
    t = read_image(p)
    assert t.shape == (3, 7, 9) and t.dtype == torch.float32
    assert np.array_equal((t * 255).round().byte().permute(1, 2, 0).numpy(), a)
    out = save_image(t, tmp_path / "y.png")
    assert np.array_equal(np.asarray(Image.open(out)), a)


def test_grey_palette_cmyk_become_rgb(tmp_path):
    grey = _save(Image.new("L", (4, 3), 128), tmp_path / "g.png")
    t = read_image(grey)
    assert t.shape == (3, 3, 4) and torch.allclose(t, torch.full_like(t, 128 / 255))
    pal = Image.new("P", (2, 2))
    pal.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    t = read_image(_save(pal, tmp_path / "p.png"))
    assert torch.allclose(t[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # pure red in CMYK
    t = read_image(_save(cmyk, tmp_path / "c.jpg", quality=100))
    assert t[0].mean() > 0.9 and t[1].mean() < 0.1 and t[2].mean() < 0.1


def test_rgba_composited_on_white_or_kept(tmp_path):
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 0))  # fully transparent black
    p = _save(rgba, tmp_path / "a.png")
    assert torch.allclose(read_image(p), torch.ones(3, 2, 2))
    assert torch.allclose(read_image(p, alpha="black"), torch.zeros(3, 2, 2))
    kept = read_image(p, alpha="keep")
    assert kept.shape == (4, 2, 2) and kept[3].max() == 0


def test_16bit_keeps_precision(tmp_path):
    a = np.array([[0, 1000, 65535]], dtype=np.uint16)
    p = _save(Image.fromarray(a), tmp_path / "16.png")
    t = read_image(p)
    assert torch.allclose(t[0, 0], torch.tensor([0.0, 1000 / 65535, 1.0]), atol=1e-7)


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    img.putpixel((0, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = _save(img, tmp_path / "r.jpg", exif=exif, quality=100)
    t = read_image(p)
    assert t.shape == (3, 4, 2)  # portrait after rotation


def test_resize_long_side():
    t = torch.rand(3, 100, 50)
    assert resize_long_side(t, 40).shape == (3, 40, 20)
    assert resize_long_side(torch.rand(1, 3, 30, 60), 20).shape == (1, 3, 10, 20)


@pytest.mark.parametrize("content, reason", [
    (b"", "cannot read|not an image"),
    (b"this is not an image at all", "not an image"),
])
def test_non_image_files(tmp_path, content, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(BadInputError, match=reason) as exc:
        read_image(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_truncated_image(tmp_path):
    buf = stdio.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(BadInputError, match="trunc.jpg: cannot read image"):
        read_image(p)


def test_missing_and_folder(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(BadInputError, match="is a folder"):
        read_image(tmp_path)


def test_huge_image_refused_with_limit(tmp_path):
    p = _save(Image.new("RGB", (200, 200)), tmp_path / "big.png")
    with pytest.raises(BadInputError, match=r"over the limit of 0 megapixels|over the limit"):
        read_image(p, max_pixels=10_000)


def test_save_is_atomic_and_leaves_no_temp_on_failure(tmp_path):
    target = tmp_path / "out.png"
    save_image(torch.zeros(3, 4, 4), target)
    before = target.read_bytes()
    with pytest.raises(Exception):
        save_image(torch.zeros(5, 4, 4), target)  # 5 channels cannot be saved
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


def test_grid_and_side_by_side():
    g = image_grid(torch.rand(5, 3, 8, 8), nrow=3, padding=1)
    assert g.shape == (3, 2 * 9 + 1, 3 * 9 + 1)
    s = side_by_side([torch.rand(3, 10, 20), torch.rand(3, 20, 20)], height=10, padding=0)
    assert s.shape == (3, 10, 30)
    assert to_pil(s).size == (30, 10)


def test_saved_files_get_normal_permissions(tmp_path):
    import os

    from pixforge.io import save_image

    umask = os.umask(0)
    os.umask(umask)
    out = save_image(torch.zeros(3, 4, 4), tmp_path / "x.png")
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
