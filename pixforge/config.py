"""Typed configs: dataclasses filled from a YAML file, then from CLI overrides (``key=value`` or options).

    cfg = load_config(GANConfig, "configs/grid25.yaml", {"loss": "hinge", "optim.lr": "2e-4"})

Nested dataclasses are addressed with dots. Values from the command line arrive as strings and are
converted to the field's declared type; an unknown key or a value of the wrong type is a ConfigError.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: cannot convert {value!r}")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if value.strip() else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            if tp is int and isinstance(value, str) and not value.strip().lstrip("-").isdigit():
                number = float(value)  # accept "1e4"
                if not number.is_integer():
                    raise ValueError
                return int(number)
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}") from None
    if tp is Path:
        return Path(value)
    return value


def _over_default(f: dataclasses.Field, tp: Any, value: Any) -> Any:
    """A partial mapping for a nested section fills in that section's own defaults (e.g. a task's loop
    defaults), not the section class's."""
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping) and f.default_factory is not dataclasses.MISSING:
        base = f.default_factory()
        return {**{g.name: getattr(base, g.name) for g in dataclasses.fields(base)}, **value}
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) mapping, converting types and rejecting unknown keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; valid keys: {', '.join(prefix + k for k in fields)}")
    kwargs = {k: _convert(_over_default(fields[k], hints[k], v), hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)  # a config's __post_init__ validates its values
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain nested dict (paths and tuples turned into YAML-friendly values)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {p} is not a section")
    node[parts[-1]] = value


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> T:
    """Defaults of ``cls``, updated by the YAML file at ``path``, updated by ``overrides`` (dotted keys)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        data = loaded
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    return from_dict(cls, data)


def parse_overrides(items: typing.Iterable[str]) -> dict[str, str]:
    """``["a.b=1", "loss=hinge"]`` -> ``{"a.b": "1", "loss": "hinge"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        out[key.strip().lstrip("-").replace("-", "_")] = value
    return out


def recipe(cls: type[T], task: str, name: str) -> T:
    """A paper's training recipe (optimiser, learning rates, ...) shipped as
    ``pixforge/configs/<task>/recipes/<name>.yaml``: a partial config of ``cls``, the other fields at their defaults.

    Tasks fill the fields a user left unset from it, e.g. the GAN task from the recipe of its loss.
    """
    return load_config(cls, Path(__file__).parent / "configs" / task / "recipes" / f"{name}.yaml")


# ------------------------------------------------------------------------------------------------------------
# Validation and description of config classes
# ------------------------------------------------------------------------------------------------------------

def check(cfg: Any, positive: typing.Iterable[str] = (), non_negative: typing.Iterable[str] = (),
          choices: Mapping[str, typing.Iterable[Any]] | None = None,
          ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Raise one ConfigError for the first field of ``cfg`` out of range (None values are not checked):
    ``positive`` (> 0), ``non_negative`` (>= 0), ``choices`` (one of), ``ranges`` ({name: (lo, hi)}: lo <= v < hi).

    Called from a config's ``__post_init__``, so a bad value stops the run before anything is written.
    """
    rules = [(name, lambda v: v > 0, "> 0") for name in positive]
    rules += [(name, lambda v: v >= 0, ">= 0") for name in non_negative]
    rules += [(name, lambda v, lo=lo, hi=hi: lo <= v < hi, f"in [{lo}, {hi})") for name, (lo, hi) in (ranges or {}).items()]
    for name, ok, rule in rules:
        value = getattr(cfg, name)
        if value is not None and not all(ok(v) for v in (value if isinstance(value, (list, tuple)) else [value])):
            raise ConfigError(f"{name}: must be {rule}, got {_show(value)}")
    for name, allowed in (choices or {}).items():
        allowed = list(allowed)
        value = getattr(cfg, name)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v not in allowed:
                raise ConfigError(f"{name}: {v!r} is not one of {', '.join(map(str, allowed))}")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _defaults(cls_or_instance: Any) -> dict[str, Any]:
    """Field -> default value of a config class, or the values of an instance."""
    if not isinstance(cls_or_instance, type):
        return {f.name: getattr(cls_or_instance, f.name) for f in dataclasses.fields(cls_or_instance)}
    out = {}
    for f in dataclasses.fields(cls_or_instance):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = dataclasses.MISSING
    return out


def field_comments(cls: type) -> dict[str, str]:
    """The comment after each field of a config class (``name: type = default  # what it is``), as help text."""
    import inspect
    import re

    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            match = re.match(r"\s+(\w+)\s*:[^#]*?#\s*(.*\S)", line)
            if match:
                out[match.group(1)] = match.group(2)
    return out


def type_name(tp: Any) -> str:
    """``int``, ``float | None``, ``list[str]``: a field's type as a user reads it."""
    return tp.__name__ if isinstance(tp, type) and not typing.get_args(tp) else str(tp).replace("typing.", "")


def describe(cls: type, prefix: str = "", defaults: Any = None) -> list[tuple[str, str, Any, str]]:
    """(dotted key, type, default, help) for every field of a config class, nested sections flattened."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    rows = []
    for name, default in _defaults(cls if defaults is None else defaults).items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            rows += describe(tp, f"{prefix}{name}.", default)
        else:
            rows.append((prefix + name, type_name(tp), default, comments.get(name, "")))
    return rows


def find_key(cls: type, name: str) -> str | None:
    """The dotted key a short name means: ``name`` itself, else the one nested key ending in ``.name``."""
    name = name.replace("-", "_")
    keys = [row[0] for row in describe(cls)]
    if name in keys:
        return name
    matches = [k for k in keys if k.endswith("." + name)]
    return matches[0] if len(matches) == 1 else None


def key_type(cls: type, key: str) -> Any:
    """The declared type of a dotted key."""
    tp: Any = cls
    for part in key.split("."):
        tp = typing.get_type_hints(tp)[part]
    return tp
