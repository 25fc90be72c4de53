"""Datasets: built-ins, image folders, IDX / CIFAR-10 parsers and the offline download path."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from pixforge.data import DATASETS, ImageFolderDataset, load_dataset, load_folder
from pixforge.data.downloads import dataset_dir, fetch_dataset, load_download, parse_cifar_batch, read_idx
from pixforge.errors import BadInputError
from pixforge.metrics.modes import get_mixture, mixture_modes

IMAGE_SETS = {  # name -> (N, C, H, W, number of classes or None)
    "digits": (1797, 1, 8, 8, 10),
    "mnist5k": (5000, 1, 28, 28, 10),
    "faces": (100, 1, 25, 25, None),
}


@pytest.mark.parametrize("name", sorted(IMAGE_SETS))
def test_builtin_image_sets_have_the_documented_shape_range_and_labels(name):
    n, c, h, w, classes = IMAGE_SETS[name]
    images, labels = load_dataset(name)
    assert images.shape == (n, c, h, w) and images.dtype == torch.float32
    assert images.min() == -1 and images.max() == 1
    if classes is None:
        assert labels is None
    else:
        assert labels.dtype == torch.int64 and labels.shape == (n,)
        assert set(labels.tolist()) == set(range(classes))


def test_resize_and_channels_options():
    images, labels = load_dataset("mnist5k", size=32, channels=3)
    assert images.shape == (5000, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images[:, 0], images[:, 2]) and len(labels) == 5000
    with pytest.raises(BadInputError, match="no option n"):
        load_dataset("digits", n=5)
    with pytest.raises(BadInputError, match="unknown dataset 'nope'; known: digits, mnist5k"):
        load_dataset("nope")


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixtures_sample_the_metric_modes(name):
    points, modes = load_dataset(name, n=20_000, seed=3)
    mix = get_mixture(name)
    assert points.shape == (20_000, 2) and points.dtype == torch.float32
    report = mixture_modes(points.numpy(), name)
    assert report["modes"] == len(mix.centres) and report["high_quality"] > 0.98  # 3 std in 2D: 98.9%
    nearest = np.linalg.norm(points.numpy()[:, None] - mix.centres[None], axis=2).argmin(1)
    assert (nearest == modes.numpy()).all()  # labels are the mode each point was drawn from
    again, _ = load_dataset(name, n=20_000, seed=3)
    other, _ = load_dataset(name, n=20_000, seed=4)
    assert torch.equal(points, again) and not torch.equal(points, other)


def test_stacked_mnist_labels_are_the_stacked_digits():
    images, labels = load_dataset("stacked-mnist", n=300, seed=1)
    assert images.shape == (300, 3, 28, 28) and labels.max() < 1000
    digits, digit_labels = load_dataset("mnist5k")
    flat = digits.view(len(digits), -1)
    for k in range(0, 300, 37):  # each channel is an mnist5k digit whose class is that decimal place
        for ch, place in enumerate((100, 10, 1)):
            match = (flat == images[k, ch].reshape(1, -1)).all(1).nonzero()[:, 0]
            assert len(match) >= 1 and int(digit_labels[match[0]]) == int(labels[k]) // place % 10
    assert len(set(labels.tolist())) > 200  # spread over the 1000 modes
    again, again_labels = load_dataset("stacked-mnist", n=300, seed=1)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert load_dataset("stacked-mnist", n=4, size=32)[0].shape == (4, 3, 32, 32)


def _save(img: Image.Image, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


def test_folder_of_mixed_modes_loads_to_one_shape(tmp_path):
    rng = np.random.default_rng(0)
    _save(Image.fromarray(rng.integers(0, 255, (40, 60), dtype=np.uint8), "L"), tmp_path / "grey.png")
    _save(Image.fromarray(rng.integers(0, 255, (50, 30, 4), dtype=np.uint8), "RGBA"), tmp_path / "sub" / "rgba.png")
    _save(Image.fromarray(rng.integers(0, 65535, (33, 33), dtype=np.uint16)), tmp_path / "deep16.png")
    _save(Image.fromarray(rng.integers(0, 255, (20, 70, 3), dtype=np.uint8)), tmp_path / "rgb.jpg")
    images, labels, names = load_folder(tmp_path, size=16)
    assert images.shape == (4, 3, 16, 16) and labels is None and names == []
    assert images.min() >= -1 and images.max() <= 1
    grey, _, _ = load_folder(tmp_path, size=16, channels=1)
    assert grey.shape == (4, 1, 16, 16)


def test_resize_crop_keeps_the_centre(tmp_path):
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[:, 20:40] = 255  # white centre third, black sides
    _save(Image.fromarray(wide), tmp_path / "wide.png")
    images, _, _ = load_folder(tmp_path, size=20)
    assert images.shape == (1, 3, 20, 20) and images.mean() > 0.95  # the sides were cropped away


def test_labelled_folders_give_sorted_class_indices(tmp_path):
    for cls, count in [("cat", 2), ("ant", 3), ("bee", 1)]:
        for k in range(count):
            _save(Image.new("RGB", (12, 12), (k * 40, 0, 0)), tmp_path / cls / f"{k}.png")
    (tmp_path / ".hidden").mkdir()
    images, labels, names = load_folder(tmp_path, size=8, labelled=True)
    assert names == ["ant", "bee", "cat"] and labels.tolist() == [0, 0, 0, 1, 2, 2]
    lazy = ImageFolderDataset(tmp_path, size=8, labelled=True)
    assert len(lazy) == 6 and lazy.class_names == names
    image, label = lazy[3]
    assert torch.allclose(image, images[3]) and label == 1
    batch, batch_labels = lazy.batch(torch.tensor([5, 0]))
    assert torch.allclose(batch, images[[5, 0]]) and batch_labels.tolist() == [2, 0]
    (tmp_path / "dog").mkdir()
    with pytest.raises(BadInputError, match="'dog' contains no images"):
        load_folder(tmp_path, size=8, labelled=True)


def test_corrupt_file_is_skipped_with_a_warning_or_raises(tmp_path):
    for k in range(3):
        _save(Image.new("RGB", (10, 10), (0, 80 * k, 0)), tmp_path / f"ok{k}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) of 4: .*broken.png"):
        images, _, _ = load_folder(tmp_path, size=8)
    assert len(images) == 3
    with pytest.raises(BadInputError, match="broken.png"):
        load_folder(tmp_path, size=8, on_error="raise")
    with pytest.raises(BadInputError, match="broken.png"):
        ImageFolderDataset(tmp_path, size=8).batch([0, 1, 2, 3])  # "broken" sorts first


def test_load_dataset_dispatches(tmp_path):
    _save(Image.new("RGB", (10, 10)), tmp_path / "a.png")
    assert load_dataset("digits")[0].shape == (1797, 1, 8, 8)
    assert load_dataset(tmp_path, size=4)[0].shape == (1, 3, 4, 4)
    with pytest.raises(BadInputError, match="needs size="):
        load_dataset(tmp_path)
    with pytest.raises(BadInputError, match="unknown dataset .*; or give an image folder"):
        load_dataset(tmp_path / "missing")


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_parser_reads_exact_format(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "img.idx.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x08)))
    assert np.array_equal(read_idx(tmp_path / "img.idx.gz"), images)
    shorts = np.array([-2, 300, 7], dtype=np.int16)
    (tmp_path / "s.idx").write_bytes(_idx_bytes(shorts, 0x0B))
    assert np.array_equal(read_idx(tmp_path / "s.idx"), shorts)
    (tmp_path / "cut.idx").write_bytes(_idx_bytes(images, 0x08)[:-1])
    with pytest.raises(BadInputError, match="IDX header says"):
        read_idx(tmp_path / "cut.idx")
    (tmp_path / "junk.idx").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(BadInputError, match="not an IDX file"):
        read_idx(tmp_path / "junk.idx")


def _cifar_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    return b"".join(bytes([int(lab)]) + img.tobytes() for img, lab in zip(images, labels))


def test_cifar_binary_parser_reads_exact_format():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    labels = np.array([9, 0, 4])
    got, got_labels = parse_cifar_batch(_cifar_records(images, labels))
    assert np.array_equal(got, images) and got_labels.tolist() == [9, 0, 4]
    with pytest.raises(BadInputError, match="whole number"):
        parse_cifar_batch(_cifar_records(images, labels)[:-5])


def test_offline_download_names_every_file_and_its_path(isolated_home):
    with pytest.raises(BadInputError) as err:
        load_dataset("mnist")
    message = str(err.value)
    folder = dataset_dir("mnist")
    assert str(folder) in message and str(isolated_home) in message
    for f in DATASETS.get("mnist").files.values():
        assert f.filename in message and f.sha256 in message
    with pytest.raises(BadInputError, match=r"cifar-10-binary\.tar\.gz from https://www\.cs\.toronto\.edu"):
        fetch_dataset("cifar10")


def _write_fake_mnist(folder, monkeypatch, n_train=5, n_test=2):
    """Tiny IDX files in the cache, with the registry pointed at their real sizes and digests."""
    from dataclasses import replace

    from pixforge.utils import sha256_file

    rng = np.random.default_rng(1)
    ds = DATASETS.get("mnist")
    contents = {"train-images": _idx_bytes(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), 8),
                "train-labels": _idx_bytes(np.arange(n_train, dtype=np.uint8) % 10, 8),
                "test-images": _idx_bytes(np.zeros((n_test, 28, 28), dtype=np.uint8), 8),
                "test-labels": _idx_bytes(np.full(n_test, 7, dtype=np.uint8), 8)}
    files = {}
    folder.mkdir(parents=True)
    for role, raw in contents.items():
        path = folder / ds.files[role].filename
        path.write_bytes(gzip.compress(raw))
        files[role] = replace(ds.files[role], sha256=sha256_file(path), size=path.stat().st_size)
    monkeypatch.setattr(DATASETS.entry("mnist"), "target", replace(ds, files=files))
    return files


def test_cached_files_load_and_are_checked(isolated_home, monkeypatch):
    files = _write_fake_mnist(dataset_dir("mnist"), monkeypatch)
    images, labels = load_download("mnist", split="all", size=32)
    assert images.shape == (7, 1, 32, 32) and labels.tolist() == [0, 1, 2, 3, 4, 7, 7]
    test_images, _ = load_download("mnist", split="test")
    assert test_images.shape == (2, 1, 28, 28) and (test_images == -1).all()
    path = dataset_dir("mnist") / files["test-labels"].filename
    raw = path.read_bytes()
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # same size, one bit flipped
    with pytest.raises(BadInputError, match="sha256 .* does not match dataset file t10k-labels"):
        load_download("mnist", split="test")


def test_debian_package_copies_are_read_and_checked_against_the_published_digest(isolated_home, tmp_path,
                                                                                 monkeypatch):
    """Debian's dataset-fashion-mnist installs the published .gz files with a normalised gzip header (no file
    name, the package's time); they are read from there, checked against the published sha256."""
    import struct
    from dataclasses import replace

    from pixforge.data.downloads import is_present, published_bytes

    published_time, package_time = 1504176606, 1591347949
    rng = np.random.default_rng(3)
    contents = {"train-images": _idx_bytes(rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), 8),
                "train-labels": _idx_bytes(np.array([3, 1, 4, 1], dtype=np.uint8), 8),
                "test-images": _idx_bytes(rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), 8),
                "test-labels": _idx_bytes(np.array([5, 9], dtype=np.uint8), 8)}
    ds = DATASETS.get("fashion-mnist")
    package = tmp_path / "usr" / "share" / "datasets" / "fashion-mnist"
    package.mkdir(parents=True)
    files, published = {}, {}
    for role, raw in contents.items():
        f = ds.files[role]
        buf = io.BytesIO()
        with gzip.GzipFile(f.filename, "wb", fileobj=buf, mtime=published_time) as gz:  # as upstream made them
            gz.write(raw)
        published[role] = buf.getvalue()
        name = len(f.filename) - len(".gz") + 1  # the name field and its NUL
        assert published[role][3] == 0x08 and published[role][10:10 + name - 1] == f.filename[:-3].encode()
        copy = published[role][:3] + b"\0" + struct.pack("<I", package_time) + published[role][8:10] + \
            published[role][10 + name:]  # what dh_strip_nondeterminism leaves
        (package / f.filename).write_bytes(copy)
        files[role] = replace(f, sha256=hashlib.sha256(published[role]).hexdigest(), size=len(published[role]),
                              gzip_mtime=published_time)
        assert published_bytes(copy, files[role]) == published[role]
    monkeypatch.setattr(DATASETS.entry("fashion-mnist"), "target", replace(ds, files=files, system_dirs=(
        str(tmp_path / "nowhere"), str(package))))
    assert is_present("fashion-mnist") and fetch_dataset("fashion-mnist") == package
    images, labels = load_download("fashion-mnist", split="all")
    assert images.shape == (6, 1, 28, 28) and labels.tolist() == [3, 1, 4, 1, 5, 9]
    assert not dataset_dir("fashion-mnist").exists()  # nothing copied or downloaded

    path = package / files["test-images"].filename
    raw = path.read_bytes()
    path.write_bytes(raw[:40] + bytes([raw[40] ^ 1]) + raw[41:])  # one bit of the compressed data flipped
    with pytest.raises(BadInputError, match="t10k-images-idx3-ubyte.gz: not the published .* put the published"):
        load_download("fashion-mnist", split="test")
    dataset_dir("fashion-mnist").mkdir(parents=True)
    (dataset_dir("fashion-mnist") / path.name).write_bytes(published["test-images"])  # the cache is read first
    assert load_download("fashion-mnist", split="test")[1].tolist() == [5, 9]


def test_cifar_archive_is_read_without_extraction(isolated_home, monkeypatch):
    from dataclasses import replace

    from pixforge.utils import sha256_file

    rng = np.random.default_rng(2)
    path = dataset_dir("cifar10") / "cifar-10-binary.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]
        for k, name in enumerate(names):
            raw = _cifar_records(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8), np.array([k, 9 - k]))
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    ds = DATASETS.get("cifar10")
    spec = replace(ds.files["archive"], sha256=sha256_file(path), size=path.stat().st_size)
    monkeypatch.setattr(DATASETS.entry("cifar10"), "target", replace(ds, files={"archive": spec}))
    images, labels = load_download("cifar10")
    assert images.shape == (10, 3, 32, 32) and labels.tolist() == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]
    assert load_download("cifar10", split="test")[1].tolist() == [5, 4]


def test_data_cli_lists_every_dataset(isolated_home, tmp_path):
    from click.testing import CliRunner

    from pixforge.cli import main

    result = CliRunner().invoke(main, ["data", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(DATASETS) == 26
    kinds = {line.split()[0]: line.split()[1] for line in lines}
    assert kinds["digits"] == "builtin" and kinds["cifar10"] == "download" and kinds["ring8"] == "mixture"
    assert kinds["edges2photos"] == "paired" and kinds["digits2mnist"] == "unpaired"
    assert kinds["horse2zebra"] == kinds["facades"] == kinds["set5"] == kinds["div2k-valid"] == "download"
    assert kinds["edges2shoes"] == "download"
    assert kinds["mnist-domains"] == "domains"
    result = CliRunner().invoke(main, ["data", "show", "labels2shapes", "-o", str(tmp_path / "p.png"), "--count", "3"])
    assert result.exit_code == 0 and "3 of 1000 A|B pairs" in result.output
    from PIL import Image
    assert Image.open(tmp_path / "p.png").size[0] > 2 * 64  # two columns: A beside B
    result = CliRunner().invoke(main, ["data", "show", "digits", "--out", str(tmp_path / "g.png"), "--count", "9"])
    assert result.exit_code == 0 and (tmp_path / "g.png").is_file()
    result = CliRunner().invoke(main, ["data", "fetch", "mnist"])
    assert result.exit_code == 2 and "not available offline" in result.output


def test_download_tries_mirrors_and_rejects_a_wrong_checksum(isolated_home, tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("PIXFORGE_OFFLINE", "0")
    served = tmp_path / "served"
    files = _write_fake_mnist(served, monkeypatch)  # registry now has these files' digests
    ds = DATASETS.get("mnist")
    mirrored = {role: replace(f, urls=((tmp_path / "nowhere" / f.filename).as_uri(), (served / f.filename).as_uri()))
                for role, f in files.items()}
    monkeypatch.setattr(DATASETS.entry("mnist"), "target", replace(ds, files=mirrored))
    assert fetch_dataset("mnist", progress=False) == dataset_dir("mnist")
    assert load_download("mnist", split="test")[0].shape == (2, 1, 28, 28)

    bad = replace(mirrored["train-images"], sha256="0" * 64)
    monkeypatch.setattr(DATASETS.entry("mnist"), "target", replace(ds, files={**mirrored, "train-images": bad}))
    (dataset_dir("mnist") / bad.filename).unlink()
    with pytest.raises(BadInputError, match="download failed .*does not match dataset file train-images"):
        fetch_dataset("mnist", progress=False)
    left = [p.name for p in dataset_dir("mnist").iterdir()]
    assert bad.filename not in left and not [n for n in left if n.endswith(".tmp.gz")]  # no half-checked file


def test_classifier_cli_refuses_unlabelled_data(tmp_path):
    from click.testing import CliRunner

    from pixforge.cli import main

    result = CliRunner().invoke(main, ["train", "classifier", "--data", "faces", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "needs labelled images" in result.output
