"""Datasets downloaded on first use: MNIST, Fashion-MNIST, CIFAR-10 (binary version), the image-to-image
translation sets of the CycleGAN release (horse2zebra, monet2photo, summer2winter_yosemite, facades, maps,
cityscapes) and pix2pix's edges2shoes, and the super-resolution test sets (Set5, Set14, BSD100, Urban100, DIV2K
validation), registered on :data:`pixforge.registry.DATASETS` with ``kind="download"``.

Files are cached unchanged in ``$PIXFORGE_HOME/datasets/NAME/`` and checked against their published size and
sha256 (the digests TensorFlow Datasets publishes in its ``url_checksums``; an md5 where that is all that is
published) after download and on every load.
Offline (``PIXFORGE_OFFLINE=1`` or no network) a missing file raises :class:`BadInputError` naming the URL
and the exact path to put the file at. Where a distribution package installs the same files (Debian's
``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist``), they are read from there instead of
downloaded, after the same sha256 check (see :func:`published_bytes`). Parsing never unpickles: MNIST-style
files are IDX (big-endian header + raw bytes) and CIFAR-10 comes as its binary version (1 label byte + 3072
pixel bytes per record), read straight out of the tar.gz. Translation archives are unpacked once next to the archive (regular files only,
no path leaving the folder) and read as image folders (:class:`ArchiveDataset`).
"""
from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import BadInputError
from ..registry import DATASETS
from ..weights import check_file, download, home, offline
from .builtin import Loaded, finish_images


@dataclass(frozen=True)
class RemoteFile:
    """One published file: mirrors tried in order, its size and sha256 (or, where only that is published, its
    md5 with ``sha256=""`` and ``size=None``)."""

    filename: str
    urls: tuple[str, ...]
    sha256: str
    size: int | None
    gzip_mtime: int | None = None  # the time in the published gzip header (see published_bytes)
    md5: str = ""

    @property
    def checksum(self) -> str:
        return f"sha256 {self.sha256}, {self.size} bytes" if self.sha256 else f"md5 {self.md5}"

    def check(self, path: Path) -> None:
        """BadInputError unless ``path`` is this file (published size and sha256, or md5)."""
        what = f"dataset file {self.filename}"
        if self.sha256:
            check_file(path, self.sha256, self.size, what, error=BadInputError)
            return
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != self.md5:
            raise BadInputError(f"{path}: md5 {digest.hexdigest()} does not match {what} ({self.md5}); the file is "
                                f"damaged or not the published one")


@dataclass(frozen=True)
class RemoteDataset:
    name: str
    description: str
    files: dict[str, RemoteFile]  # role ("train-images", ...) -> file
    parse: Callable[["RemoteDataset", str], tuple[np.ndarray, np.ndarray]]  # (dataset, split) -> uint8 NCHW, labels
    classes: tuple[str, ...]
    license: str
    homepage: str
    system_dirs: tuple[str, ...] = ()  # where distribution packages install the same files
    store: str = ""  # cache folder, when several datasets share one published file (default: the name)

    def __call__(self, split: str = "train", size: int | None = None, channels: int | None = None,
                 download_ok: bool = True, progress: bool = True) -> Loaded:
        """Images (N, C, H, W) in [-1, 1] and int64 labels (fetched and checked on first use)."""
        _splits(split)
        fetch_dataset(self.name, download_ok, progress)
        images, labels = self.parse(self, split)
        x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255)
        return finish_images(x, size, channels), torch.from_numpy(labels)


# --------------------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped), the format of MNIST and Fashion-MNIST, into an array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BadInputError(f"{path}: damaged gzip data ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise BadInputError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4")) if ndim else ()
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise BadInputError(f"{path}: IDX header says {shape} ({expected} bytes) but {len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


CIFAR_RECORD = 1 + 3 * 32 * 32


def parse_cifar_batch(data: bytes, source: str = "CIFAR-10 batch") -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 binary batch (records of 1 label byte + 32x32 R, G, B planes) -> (uint8 N x 3 x 32 x 32, labels)."""
    if len(data) % CIFAR_RECORD:
        raise BadInputError(f"{source}: {len(data)} bytes is not a whole number of {CIFAR_RECORD}-byte records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() > 9:
        raise BadInputError(f"{source}: label {labels.max()} out of range 0..9; not a CIFAR-10 binary batch")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _parse_idx_pair(ds: RemoteDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [(read_idx(_path(ds, f"{s}-images")), read_idx(_path(ds, f"{s}-labels"))) for s in _splits(split)]
    for images, labels in parts:
        if images.ndim != 3 or len(images) != len(labels):
            raise BadInputError(f"dataset {ds.name!r}: images {images.shape} and labels {labels.shape} do not match")
    return np.concatenate([p[0] for p in parts])[:, None], np.concatenate([p[1] for p in parts]).astype(np.int64)


def _parse_cifar_tar(ds: RemoteDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = _path(ds, "archive")
    members = {"train": [f"data_batch_{k}.bin" for k in range(1, 6)], "test": ["test_batch.bin"]}
    wanted = [m for s in _splits(split) for m in members[s]]
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:  # only regular files, matched by base name; nothing is extracted to disk
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInputError(f"{path}: cannot read the archive ({exc})") from None
    missing = [m for m in wanted if m not in found]
    if missing:
        raise BadInputError(f"{path}: has no {', '.join(missing)}; is it cifar-10-binary.tar.gz?")
    batches = [parse_cifar_batch(found[m], f"{path}:{m}") for m in wanted]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _splits(split: str) -> list[str]:
    if split not in ("train", "test", "all"):
        raise BadInputError(f"split must be 'train', 'test' or 'all', not {split!r}")
    return ["train", "test"] if split == "all" else [split]


# --------------------------------------------------------------------------------------------------------
# The catalogue (sizes and sha256 as published in TensorFlow Datasets' url_checksums)
# --------------------------------------------------------------------------------------------------------

def _idx_files(bases: tuple[str, ...], table: dict[str, tuple]) -> dict[str, RemoteFile]:
    """The four IDX files from ``table``: file name -> (size, sha256[, gzip header time])."""
    roles = {"train-images": "train-images-idx3-ubyte.gz", "train-labels": "train-labels-idx1-ubyte.gz",
             "test-images": "t10k-images-idx3-ubyte.gz", "test-labels": "t10k-labels-idx1-ubyte.gz"}
    return {role: RemoteFile(fn, tuple(b + fn for b in bases), table[fn][1], table[fn][0], *table[fn][2:])
            for role, fn in roles.items()}


def _register(ds: RemoteDataset) -> None:
    DATASETS.register(ds.name, ds, kind="download", description=ds.description)


_register(RemoteDataset(
    name="mnist",
    description="70000 x 1x28x28 handwritten digits (60000 train / 10000 test), 10 classes",
    files=_idx_files(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {"train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
         "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
         "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
         "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")}),
    parse=_parse_idx_pair,
    classes=tuple("0123456789"),
    license="CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. Burges)",
    homepage="http://yann.lecun.com/exdb/mnist/",
))
_register(RemoteDataset(
    name="fashion-mnist",
    description="70000 x 1x28x28 Zalando article images (60000 train / 10000 test), 10 classes",
    files=_idx_files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        # (size, sha256, the time in the published gzip header: Debian's copies lost it, see published_bytes)
        {"train-images-idx3-ubyte.gz": (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                        1504176606),
         "train-labels-idx1-ubyte.gz": (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                        1504176606),
         "t10k-images-idx3-ubyte.gz": (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                       1504176627),
         "t10k-labels-idx1-ubyte.gz": (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                       1504176627)}),
    parse=_parse_idx_pair,
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    license="MIT (Zalando Research)",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian/Ubuntu: apt install dataset-fashion-mnist
))
_register(RemoteDataset(
    name="cifar10",
    description="60000 x 3x32x32 colour images (50000 train / 10000 test), 10 classes",
    files={"archive": RemoteFile("cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
                                 "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171)},
    parse=_parse_cifar_tar,
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    license="no licence stated; cite Krizhevsky 2009 (Learning Multiple Layers of Features from Tiny Images)",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
))


# --------------------------------------------------------------------------------------------------------
# Image-to-image translation archives (CycleGAN's release; sizes and sha256 from TensorFlow Datasets'
# url_checksums/cycle_gan.txt). pix2pix's own .tar.gz versions (at efrosgans.eecs.berkeley.edu/pix2pix/datasets/)
# have no digest published by their authors or TensorFlow Datasets; the CycleGAN zips of facades, maps and
# cityscapes hold the same pairs split into trainA/ and trainB/. edges2shoes exists only as pix2pix's tar.gz: it is
# checked against the one digest found published, an md5 in TheProjectsGuy/MLHub's src/mlhub/pix2pix/data.py
# (commit d12398786f15), a third party's record (no size is published).
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchiveDataset(RemoteDataset):
    """A translation dataset published as one zip of image folders (``NAME/trainA``, ``trainB``, ``testA``,
    ``testB``): fetched and checked as the other downloads, unpacked once into ``$PIXFORGE_HOME/datasets/NAME/``.
    ``folder()`` is the unpacked root (what ``pixforge train pix2pix|cyclegan --data NAME`` reads); calling the
    dataset gives its pairs (:func:`~pixforge.data.paired.translation_dataset`)."""

    paired: bool = False  # trainA/X_A.jpg and trainB/X_B.jpg are the two sides of one pair (facades, maps, ...)

    def folder(self, download_ok: bool = True, progress: bool = True) -> Path:
        archive = fetch_dataset(self.name, download_ok, progress) / self.files["archive"].filename
        root = dataset_dir(self.name) / self.name
        marker = dataset_dir(self.name) / ".unpacked"
        if not marker.is_file() or marker.read_text() != self.files["archive"].checksum:
            unpack(archive, dataset_dir(self.name))
            marker.write_text(self.files["archive"].checksum)
        return root

    def __call__(self, phase: str = "train", size: int = 256, seed: int = 0):  # type: ignore[override]
        from .paired import translation_dataset

        return translation_dataset(self.folder(), phase, size=size, augment=False, seed=seed)


def _regular_files(archive: Path):
    """(name, readable file) of each regular file in a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    with z.open(info) as src:
                        yield info.filename, src
        return
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile():  # links, devices and folders are skipped
                yield member.name, tar.extractfile(member)


def unpack(archive: Path, target: Path) -> None:
    """Unpack the regular files of a zip or tar archive into ``target`` (refusing absolute paths and ``..``),
    via a temporary folder so an interrupted unpack leaves no half-written file."""
    tmp = target / ".unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name, src in _regular_files(archive):
            parts = Path(name).parts
            if not parts or Path(name).is_absolute() or ".." in parts:
                continue
            dest = tmp.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BadInputError(f"{archive}: cannot unpack ({exc})") from None
    for src in sorted(q for q in tmp.rglob("*") if q.is_file()):  # merged file by file: archives may share folders
        final = target / src.relative_to(tmp)
        final.parent.mkdir(parents=True, exist_ok=True)
        src.replace(final)
    shutil.rmtree(tmp, ignore_errors=True)


_CYCLEGAN = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/"
_MIRROR = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
for _name, _size, _digest, _paired, _what in (
        ("horse2zebra", 116_867_962, "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1", False,
         "ImageNet horses (A) and zebras (B), unpaired"),
        ("monet2photo", 305_231_073, "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04", False,
         "Monet paintings (A) and landscape photos (B), unpaired"),
        ("summer2winter_yosemite", 132_640_856, "167fe1726807a9d22bd106b4a6c0bd7953b688af924ac1bf967439c4961e49f9",
         False, "Yosemite photos in summer (A) and winter (B), unpaired"),
        ("facades", 35_135_868, "9a31ebf3a31b9b5cd195dd5bf62e9308e00cb94604d1019e3889ac84248695c0", True,
         "CMP facades: photos and label maps in pairs (the CycleGAN zip)"),
        ("maps", 1_476_754_427, "639534f69dbf9f36bef8d6292a7698006361221f83f0285d7c9ca78afe6e8a9e", True,
         "aerial photos (A) and Google maps (B) in pairs (the CycleGAN zip)"),
        ("cityscapes", 279_601_602, "d2f6910fd056c1ee9873777ae838e7ac4a2c833598ae62a04188e5ab2f4ea036", True,
         "Cityscapes photos and colour label maps in pairs (the CycleGAN zip)")):
    DATASETS.register(_name, ArchiveDataset(
        name=_name, description=_what, parse=None, classes=(), paired=_paired,
        files={"archive": RemoteFile(f"{_name}.zip", (_CYCLEGAN + f"{_name}.zip", _MIRROR + f"{_name}.zip"),
                                     _digest, _size)},
        license="research use; see the CycleGAN repository's datasets page",
        homepage="https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix/blob/master/docs/datasets.md"),
        kind="download", family="translation", layout="paired" if _paired else "unpaired", description=_what)

_EDGES2SHOES = "edges2shoes: HED edges (A) | UT Zappos50K shoe photos (B), 50k pairs (pix2pix's tar.gz)"
DATASETS.register("edges2shoes", ArchiveDataset(
    name="edges2shoes", description=_EDGES2SHOES, parse=None, classes=(), paired=True,
    files={"archive": RemoteFile("edges2shoes.tar.gz", (
        "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz",
        "https://people.eecs.berkeley.edu/~tinghuiz/projects/pix2pix/datasets/edges2shoes.tar.gz"), "", None,
        md5="71da478b54fedde126e234a2a050bc15")},
    license="research use; UT Zappos50K terms (see the pix2pix repository)",
    homepage="https://github.com/phillipi/pix2pix#datasets"),
    kind="download", family="translation", layout="aligned", description=_EDGES2SHOES)


# --------------------------------------------------------------------------------------------------------
# Super-resolution test sets. DIV2K validation: the four zips of the NTIRE 2017 release, sizes and sha256 from
# TensorFlow Datasets' url_checksums/div2k.txt. Set5, Set14, B100 and Urban100: EDSR's benchmark.tar (HR and
# MATLAB-bicubic LR x2/x3/x4 of all four), for which only an md5 is published (torchSR's datasets/benchmarks.py);
# the four sets share that one cached file. (The Hugging Face copies, eugenesiow/Set5 etc., publish no digest
# outside their LFS pointers, which were not available to check, so they are not used.)
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SRDataset(RemoteDataset):
    """An SR test set: HR images (``hr_dir`` inside the unpacked files) and the source's own bicubic LR images
    (``lr_dir``, ``{s}`` the scale; file role ``lr-xS``, or the HR file when one archive holds both). Only the
    files a call needs are fetched, and each is unpacked once into the cache. ``pixforge eval sr --data NAME``
    reads :meth:`hr` and makes its own LR (MATLAB-style bicubic), as BasicSR does."""

    hr_dir: str = ""
    lr_dir: str = ""
    scales: tuple[int, ...] = (2, 3, 4)

    def hr(self, download_ok: bool = True, progress: bool = True) -> Path:
        return self._unpacked("hr", download_ok, progress) / self.hr_dir

    def lr(self, scale: int, download_ok: bool = True, progress: bool = True) -> Path:
        if scale not in self.scales:
            raise BadInputError(f"dataset {self.name!r} has bicubic LR images at x{', x'.join(map(str, self.scales))}, "
                                f"not x{scale}")
        role = f"lr-x{scale}" if f"lr-x{scale}" in self.files else "hr"
        return self._unpacked(role, download_ok, progress) / self.lr_dir.format(s=scale)

    def _unpacked(self, role: str, download_ok: bool, progress: bool) -> Path:
        f = self.files[role]
        archive = fetch_file(self, f, download_ok, progress)
        root = _cache(self)
        marker = root / f".unpacked-{f.filename}"
        if not marker.is_file() or marker.read_text() != f.checksum:
            unpack(archive, root)
            marker.write_text(f.checksum)
        return root

    def __call__(self, size: int = 128) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        """The HR images resized and centre-cropped to ``size`` (for previews: `pixforge data show NAME`)."""
        from .folders import load_folder

        return load_folder(self.hr(), size=size)[0], None


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
DATASETS.register("div2k-valid", SRDataset(
    name="div2k-valid", description="DIV2K validation: 100 2K photos (0801-0900), with bicubic LR x2/x3/x4",
    files={"hr": RemoteFile("DIV2K_valid_HR.zip", (_DIV2K + "DIV2K_valid_HR.zip",),
                            "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc", 448_993_893),
           "lr-x2": RemoteFile("DIV2K_valid_LR_bicubic_X2.zip", (_DIV2K + "DIV2K_valid_LR_bicubic_X2.zip",),
                               "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57", 117_763_600),
           "lr-x3": RemoteFile("DIV2K_valid_LR_bicubic_X3.zip", (_DIV2K + "DIV2K_valid_LR_bicubic_X3.zip",),
                               "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3", 54_513_392),
           "lr-x4": RemoteFile("DIV2K_valid_LR_bicubic_X4.zip", (_DIV2K + "DIV2K_valid_LR_bicubic_X4.zip",),
                               "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553", 31_505_881)},
    hr_dir="DIV2K_valid_HR", lr_dir="DIV2K_valid_LR_bicubic/X{s}", parse=None, classes=(),
    license="academic research only (DIV2K terms)", homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/"),
    kind="download", family="sr", description="DIV2K validation: 100 2K photos (0801-0900), bicubic LR x2/x3/x4")

_BENCHMARK = RemoteFile("benchmark.tar", ("https://cv.snu.ac.kr/research/EDSR/benchmark.tar",), "", None,
                        md5="4ace41d33c2384b97e6b320cd0afd6ba")
for _name, _folder, _what, _home in (
        ("set5", "Set5", "Set5: 5 images (baby, bird, butterfly, head, woman)",
         "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html"),
        ("set14", "Set14", "Set14: 14 images (Zeyde et al. 2010)", "https://sites.google.com/site/romanzeyde/"),
        ("bsd100", "B100", "BSD100: the 100 test photos of the Berkeley segmentation set",
         "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/"),
        ("urban100", "Urban100", "Urban100: 100 photos of buildings (Huang et al. 2015)",
         "https://github.com/jbhuang0604/SelfExSR")):
    DATASETS.register(_name, SRDataset(
        name=_name, description=_what, files={"hr": _BENCHMARK}, store="sr-benchmark",
        hr_dir=f"benchmark/{_folder}/HR", lr_dir=f"benchmark/{_folder}/LR_bicubic/X{{s}}", parse=None, classes=(),
        license="research use (see the homepage)", homepage=_home),
        kind="download", family="sr", description=f"{_what}, with bicubic LR x2/x3/x4 (EDSR's benchmark.tar)")


# --------------------------------------------------------------------------------------------------------
# Cache, fetch, load
# --------------------------------------------------------------------------------------------------------

def get_remote(name: str) -> RemoteDataset:
    if DATASETS.meta(name)["kind"] != "download":
        raise BadInputError(f"dataset {name!r} is built in: there is nothing to download "
                            f"(downloadable: {', '.join(DATASETS.list(kind='download'))})")
    return DATASETS.get(name)


def dataset_dir(name: str) -> Path:
    return home() / "datasets" / name


def _cache(ds: RemoteDataset) -> Path:
    return dataset_dir(ds.store or ds.name)


def is_present(name: str) -> bool:
    """True when every file of ``name`` is in the cache or a system package (not yet checksum-verified)."""
    ds = get_remote(name)
    return all(local_path(ds, f).is_file() for f in ds.files.values())


def local_path(ds: RemoteDataset, f: RemoteFile) -> Path:
    """Where ``f`` is read from: the cache, else a distribution package's copy (``ds.system_dirs``), else the
    cache path that a download writes."""
    cached = _cache(ds) / f.filename
    if cached.is_file():
        return cached
    return next((p for p in (Path(d) / f.filename for d in ds.system_dirs) if p.is_file()), cached)


def _path(ds: RemoteDataset, role: str) -> Path:
    return local_path(ds, ds.files[role])


def published_bytes(raw: bytes, f: RemoteFile) -> bytes:
    """The published file that a package's copy ``raw`` came from. Debian's build (dh_strip_nondeterminism)
    rewrites gzip headers: the file name is dropped and the time set to the package's, the compressed data
    untouched. With the published header time (``f.gzip_mtime``) the original header is rebuilt, so the copy
    is checked against the published sha256 after all; other files are returned as they are."""
    if f.gzip_mtime is None or raw[:4] != b"\x1f\x8b\x08\x00":  # gzip, deflate, no name field
        return raw
    name = f.filename.removesuffix(".gz").encode() + b"\0"
    return raw[:3] + b"\x08" + struct.pack("<I", f.gzip_mtime) + raw[8:10] + name + raw[10:]


def check_system_copy(ds: RemoteDataset, path: Path, f: RemoteFile) -> None:
    """BadInputError unless the package's file at ``path`` is the published ``f`` (size and sha256)."""
    raw = published_bytes(path.read_bytes(), f)
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) != f.size or digest != f.sha256:
        raise BadInputError(f"{path}: not the published {f.filename} (sha256 {digest} of {len(raw)} bytes, expected "
                            f"{f.sha256} of {f.size}); put the published file into {_cache(ds)}/ (read "
                            "first) or remove the package")


def _missing_message(ds: RemoteDataset, files: list[RemoteFile]) -> str:
    listing = "; ".join(f"{f.filename} from {f.urls[0]} ({f.checksum})" for f in files)
    package = f" (or install the package that puts them into {', '.join(ds.system_dirs)})" if ds.system_dirs else ""
    return (f"dataset {ds.name!r} is not available offline: put {'these files' if len(files) > 1 else 'this file'} "
            f"into {_cache(ds)}/{package}: {listing}")


def fetch_file(ds: RemoteDataset, f: RemoteFile, download_ok: bool = True, progress: bool = True) -> Path:
    """The verified local path of one file (the cache's or a system package's), downloading it into the cache
    (trying each mirror) when allowed and needed."""
    path = local_path(ds, f)
    if path.parent != _cache(ds):
        check_system_copy(ds, path, f)
        return path
    if not path.is_file():
        if not download_ok or offline():
            raise BadInputError(_missing_message(ds, [f]))
        errors = []
        for url in f.urls:
            try:
                download(url, path, f.filename, f.size, progress, check=f.check)
                break
            except Exception as exc:  # network and checksum errors alike: try the next mirror
                errors.append(f"{url}: {exc.__class__.__name__}: {exc}")
        else:
            raise BadInputError(f"download failed ({'; '.join(errors)}). " + _missing_message(ds, [f]))
    f.check(path)
    return path


def fetch_dataset(name: str, download_ok: bool = True, progress: bool = True) -> Path:
    """Download (if needed) and verify every file of ``name``; return its folder (the cache's, or the system
    package's that holds its files).

    Offline, one error lists every missing file with its URL, checksum and the folder to put it in.
    """
    ds = get_remote(name)
    files = list(dict.fromkeys(ds.files.values()))  # a file serving several roles is fetched once
    missing = [f for f in files if not local_path(ds, f).is_file()]
    if missing and (not download_ok or offline()):
        raise BadInputError(_missing_message(ds, missing))
    return [fetch_file(ds, f, download_ok, progress) for f in files][0].parent


def load_download(name: str, split: str = "train", size: int | None = None, channels: int | None = None,
                  download_ok: bool = True, progress: bool = True) -> Loaded:
    """Images (N, C, H, W) in [-1, 1] and int64 labels of a downloadable dataset (fetched on first use)."""
    return get_remote(name)(split, size, channels, download_ok, progress)
