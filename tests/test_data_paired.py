"""Translation data: the reference's folder layouts (A|B, A/ + B/, trainA/ + trainB/) with one crop and flip per
pair, replayable draws, and the built-in offline datasets."""
from __future__ import annotations

import pytest
import torch

from pixforge.data import paired
from pixforge.errors import BadInputError
from pixforge.io import save_image
from pixforge.registry import DATASETS

pytestmark = pytest.mark.usefixtures("one_thread")


def gradient(h: int, w: int, seed: int) -> torch.Tensor:
    """A smooth random image in [0.2, 0.8] (so +-0.2 offsets stay in range and survive JPEG-free PNG saving)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(small[None], (h, w), mode="bilinear", align_corners=True)[0] * 0.6 + 0.2


def test_aligned_pairs_share_their_crop_and_flip(tmp_path):
    for k in range(3):
        a = gradient(40, 40, k)
        save_image(torch.cat([a, (a + 0.2).clamp(0, 1)], -1), tmp_path / f"{k}.png")
    ds = paired.AlignedDataset(tmp_path, size=32, load_size=36, seed=1)
    assert len(ds) == 3
    flips = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(3):
            item = ds[i]
            assert item["A"].shape == item["B"].shape == (3, 32, 32)
            diff = item["B"] - item["A"]  # B = A + 0.2 in [0, 1], i.e. +0.4 in [-1, 1], wherever the pair lines up
            assert (diff - 0.4).abs().max() < 0.03
            flips.add(ds.params(ds.rng(i))[2])
    assert flips == {True, False}  # some items flipped, others not
    ds.set_epoch(2)
    again = paired.AlignedDataset(tmp_path, size=32, load_size=36, seed=1)
    again.set_epoch(2)
    assert torch.equal(ds[1]["A"], again[1]["A"])  # a pure function of (seed, epoch, index)
    again.set_epoch(3)
    assert not torch.equal(ds[1]["A"], again[1]["A"])
    swapped = paired.AlignedDataset(tmp_path, direction="BtoA", size=32, augment=False)[0]
    assert ((swapped["A"] - swapped["B"]) - 0.4).abs().max() < 0.03
    with pytest.raises(IndexError):
        ds[3]


def test_paired_and_unpaired_folders_and_layout_detection(tmp_path):
    for name in ("x", "y", "sub/z"):
        save_image(gradient(20, 30, 0), tmp_path / "p" / "A" / f"{name}.png")
        save_image(gradient(20, 30, 1), tmp_path / "p" / "B" / f"{name}.jpg")
    ds = paired.translation_dataset(tmp_path / "p", size=16)
    assert isinstance(ds, paired.PairedFolderDataset) and len(ds) == 3
    assert [p[0].stem for p in ds.pairs] == ["z", "x", "y"]  # sorted by relative name: sub/z, x, y
    save_image(gradient(20, 30, 2), tmp_path / "p" / "B" / "extra.png")
    with pytest.raises(BadInputError, match="1 image\\(s\\) without a partner of the same name: extra"):
        paired.translation_dataset(tmp_path / "p")

    for k in range(2):
        save_image(gradient(24, 24, k), tmp_path / "u" / "trainA" / f"{k}.png")
    for k in range(5):
        save_image(gradient(24, 24, 10 + k), tmp_path / "u" / "trainB" / f"{k}.png")
    ds = paired.translation_dataset(tmp_path / "u", size=16)
    assert isinstance(ds, paired.UnpairedFolderDataset) and len(ds) == 5
    partners = {tuple(ds[i]["B"].flatten()[:3].tolist()) for i in range(5)}
    assert len(partners) > 1

    save_image(torch.rand(3, 16, 32), tmp_path / "a" / "train" / "1.png")
    assert isinstance(paired.translation_dataset(tmp_path / "a"), paired.AlignedDataset)
    with pytest.raises(BadInputError, match="not a folder"):
        paired.translation_dataset(tmp_path / "missing")


def test_builtin_translation_datasets():
    assert DATASETS.list(family="translation", kind="download") == [
        "horse2zebra", "monet2photo", "summer2winter_yosemite", "facades", "maps", "cityscapes", "edges2shoes"]
    assert [n for n in DATASETS.list(family="translation") if DATASETS.meta(n)["kind"] != "download"] == [
        "edges2photos", "grey2colour", "digits2mnist", "labels2shapes", "mnist-domains"]
    edges = DATASETS.create("edges2photos", size=48, length=5)
    item = edges[2]
    assert item["A"].shape == item["B"].shape == (3, 48, 48) and len(edges) == 5
    dark = (item["A"] < 0).float().mean()
    assert 0.005 < dark < 0.4  # thin black edges on white
    assert torch.equal(item["A"], paired.canny_edges((item["B"] + 1) / 2) * 2 - 1)  # the photo's own edges
    assert torch.equal(edges[2]["B"], item["B"]) and not torch.equal(edges[3]["B"], item["B"])

    grey = DATASETS.create("grey2colour", size=32, length=3)[0]
    assert grey["A"].shape == (1, 32, 32)
    assert torch.allclose((grey["A"] + 1) / 2, paired._grey((grey["B"] + 1) / 2), atol=1e-6)

    digits = DATASETS.create("digits2mnist")
    assert len(digits) == 5000
    item = digits[4999]
    assert item["A"].shape == item["B"].shape == (1, 32, 32)
    assert 0 <= int(item["A_label"]) < 10 and 0 <= int(item["B_label"]) < 10


def test_label_map_scenes_and_instance_edges():
    scenes = DATASETS.create("labels2shapes", size=48, length=8, seed=3)
    for i in range(8):
        item = scenes[i]
        assert item["A"].shape == (4, 48, 48) and torch.equal(item["A"].sum(0), torch.ones(48, 48))
        assert torch.equal(item["A"].argmax(0), item["label"][0])
        assert ((item["instance"] > 0) == (item["label"] > 0)).all()  # every shape pixel has an instance
        image = (item["B"] + 1) / 2
        means = {c: image[:, item["label"][0] == c].mean(1) for c in range(4) if (item["label"] == c).sum() > 30}
        assert len(means) >= 2
        cs = sorted(means)
        assert all((means[a] - means[b]).abs().max() > 0.05 for a in cs for b in cs if a < b)  # classes look different
    inst = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])[None, None]
    assert paired.instance_edges(inst)[0, 0].tolist() == [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]


def test_hed_post_processing_keeps_one_pixel_lines():
    """pix2pix's PostprocessHED: a soft ridge becomes a 1 px line; faint ridges (< 25/255) and specks go; the
    lines fade out at the border."""
    cols = torch.arange(48).float()
    p = 0.8 * torch.exp(-((cols - 20) ** 2) / 4.5).expand(48, 48).clone()  # a strong vertical edge
    p += 0.06 * torch.exp(-((cols - 36) ** 2) / 4.5)  # a faint one
    p[10:12, 42:44] = torch.tensor([[0.3, 0.5], [0.5, 0.3]])  # a speck
    lines = paired.hed_lines(p[None])
    assert lines.shape == (3, 48, 48) and set(lines.unique().tolist()) == {0.0, 1.0}
    dark = lines[0] == 0
    assert dark.any(0).nonzero().flatten().tolist() == [20]
    assert dark[:, 20].nonzero().flatten().tolist() == list(range(1, 47))


@pytest.fixture
def small_photos(monkeypatch):
    """Two small photos in place of scikit-image's six (HED on them takes a fraction of a second)."""
    from pixforge.data.builtin import skimage_images

    chelsea, coffee = skimage_images(["chelsea", "coffee"])
    photos = (paired.resize(chelsea, (96, 144)), paired.resize(coffee, (80, 120)))
    monkeypatch.setattr(paired, "_photos", lambda: photos)
    paired._hed_maps.cache_clear()
    yield photos
    paired._hed_maps.cache_clear()


def test_edges2photos_with_hed_edges(small_photos, hed_weights):
    edges = DATASETS.create("edges2photos", size=32, length=6, edges="hed")
    assert [m.shape[-2:] for m in edges.maps] == [p.shape[-2:] for p in small_photos]
    found = 0
    for i in range(6):
        item = edges[i]
        assert item["A"].shape == item["B"].shape == (3, 32, 32)
        assert set(item["A"].unique().tolist()) <= {-1.0, 1.0}  # black lines on white
        dark = item["A"][0] < 0
        grey = paired._grey((item["B"] + 1) / 2)[0]
        gradient = (grey[1:-1, 2:] - grey[1:-1, :-2]).abs() + (grey[2:, 1:-1] - grey[:-2, 1:-1]).abs()
        inner = dark[1:-1, 1:-1]
        if inner.sum() >= 5:  # the lines lie on the photo's strong gradients
            assert gradient[inner].mean() > 1.5 * gradient[~inner].mean()
            found += 1
    assert found >= 3


def test_hed_edges_without_weights_say_how_to_get_them(small_photos, isolated_home, monkeypatch):
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    with pytest.raises(BadInputError, match=r"edges=hed needs the HED weights: run `pixforge weights fetch vgg16-hed`"):
        DATASETS.create("edges2photos", edges="hed")
    with pytest.raises(BadInputError, match="unknown edges 'sobel'"):
        DATASETS.create("edges2photos", edges="sobel")
