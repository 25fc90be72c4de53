"""One registry for everything pixforge finds by name: architectures, losses, training tasks, stylisation
methods, datasets, metrics and pretrained weights.

    from pixforge.registry import ARCHS
    @ARCHS.register("dcgan-g", family="gan")
    class DCGANGenerator(nn.Module): ...

    ARCHS.create("dcgan-g", z_dim=100, shape=(3, 64, 64))
    ARCHS.list(family="gan")

An entry is an object registered with the decorator, or a lazy ``"module:attr"`` string that is imported only
when the entry is first used, so that ``import pixforge`` and ``pixforge --help`` stay cheap. A registry may
also name the ``modules`` whose import registers its entries (declared beside the code, as timm's model files
do); they are imported on the first look-up that needs them. Unknown names give one error everywhere:
``unknown <kind> 'x'; known: a, b, c``.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import BadInputError, ConfigError


@dataclass
class Entry:
    """A registered name: the object (or ``"module:attr"`` until first use) and free-form metadata."""

    name: str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    module: str = ""  # the module that registered it: orders list() the same whatever was imported first

    def load(self) -> Any:
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self.target = obj
        return self.target


class Registry:
    """Names -> objects, with lazy imports and one error message for unknown names."""

    def __init__(self, kind: str, modules: tuple[str, ...] = (), error: type[Exception] = ConfigError):
        self.kind, self.error = kind, error
        self._modules = list(modules)
        self._rank = {m: i for i, m in enumerate(modules)}
        self._entries: dict[str, Entry] = {}

    # ---------------------------------------------------------------------------------------- filling
    def register(self, name: str | None = None, target: Any = None, **meta: Any) -> Callable:
        """``@REG.register("name", key=value)`` on a class or function, or ``REG.register("name", obj_or_path)``."""
        module = sys._getframe(1).f_globals.get("__name__", "")
        if target is not None:
            self._add(name, target, meta, module)
            return target

        def decorate(obj):
            self._add(name or getattr(obj, "__name__"), obj, meta, module)
            return obj

        return decorate

    def _add(self, name: str, target: Any, meta: dict, module: str) -> None:
        if name in self._entries:
            old = self._entries[name].target
            if old is target or (not isinstance(target, str) and isinstance(old, str)
                                 and old == f"{target.__module__}:{target.__qualname__}"):
                self._entries[name].target = target  # a lazy entry now imported, or a module re-import
                self._entries[name].meta.update(meta)
                return
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = Entry(name, target, dict(meta), module)

    def unregister(self, name: str) -> Any:
        """Remove an entry (tests and plug-ins that register temporary entries)."""
        return self._entries.pop(name).target

    def _import_modules(self) -> None:
        while self._modules:
            importlib.import_module(self._modules.pop(0))

    # ---------------------------------------------------------------------------------------- reading
    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            self._import_modules()
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r}; known: {', '.join(self.list())}") from None

    def get(self, name: str) -> Any:
        """The registered object (imported on first use)."""
        return self.entry(name).load()

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the registered class or factory with ``kwargs``."""
        return self.get(name)(**kwargs)

    def meta(self, name: str) -> dict[str, Any]:
        return self.entry(name).meta

    def list(self, **match: Any) -> list[str]:
        """Registered names, optionally only those whose metadata match ``match``.

        Ordered by the registry's ``modules`` tuple, then by registration within a module, so the order does not
        depend on which module happened to be imported first.
        """
        self._import_modules()
        entries = sorted(self._entries.values(), key=lambda e: self._rank.get(e.module, len(self._rank)))
        return [e.name for e in entries if all(e.meta.get(k) == v for k, v in match.items())]

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._import_modules()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


# ---------------------------------------------------------------------------------------------------------
# The registries. Each names the modules that fill it; adding a file means adding it here.
# ---------------------------------------------------------------------------------------------------------
ARCHS = Registry("architecture", modules=(
    "pixforge.models.gan", "pixforge.models.transformer_net", "pixforge.models.magenta", "pixforge.nn.vgg",
    "pixforge.models.decoder", "pixforge.models.inception", "pixforge.models.classifier", "pixforge.models.rrdbnet",
    "pixforge.models.pix2pix", "pixforge.models.pix2pixhd", "pixforge.models.spade", "pixforge.models.discogan",
    "pixforge.models.sr", "pixforge.models.waifu2x",
    "pixforge.models.stylegan2", "pixforge.models.stylegan", "pixforge.models.pggan", "pixforge.models.biggan",
    "pixforge.models.munit", "pixforge.models.stargan", "pixforge.models.stargan2", "pixforge.models.ugatit",
    "pixforge.models.bicyclegan", "pixforge.models.cogan", "pixforge.models.funit",
))
LOSSES = Registry("loss", modules=("pixforge.losses.adversarial", "pixforge.losses.regularizers",
                                     "pixforge.losses.perceptual", "pixforge.losses.pixel"))
TASKS = Registry("training task", modules=("pixforge.tasks.gan", "pixforge.tasks.stylegan2", "pixforge.tasks.pggan",
                                            "pixforge.tasks.fast_style", "pixforge.tasks.adain",
                                            "pixforge.tasks.wct", "pixforge.tasks.classifier",
                                            "pixforge.tasks.multidomain", "pixforge.tasks.translation",
                                            "pixforge.tasks.unpaired", "pixforge.tasks.bicyclegan", "pixforge.tasks.cogan", "pixforge.tasks.funit"))
METHODS = Registry("style method", modules=(
    "pixforge.style.gatys", "pixforge.style.fast", "pixforge.style.adain", "pixforge.style.wct",
    "pixforge.style.photowct", "pixforge.style.swap", "pixforge.style.magenta"))
DATASETS = Registry("dataset", modules=("pixforge.data.builtin", "pixforge.data.downloads",
                                       "pixforge.data.paired", "pixforge.data.domains"), error=BadInputError)
METRICS = Registry("metric", modules=("pixforge.metrics.evaluate", "pixforge.metrics.sr",
                                      "pixforge.metrics.translation"))
