"""Typed configs from YAML and overrides."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pixforge.config import check, describe, find_key, load_config, parse_overrides, to_dict
from pixforge.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, ...] = (0.5, 0.999)


@dataclass
class Cfg:
    name: str = "x"
    steps: int = 10
    amp: bool = False
    layers: list[str] = field(default_factory=lambda: ["relu1_1"])
    seed: int | None = None
    optim: Optim = field(default_factory=Optim)


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("steps: 20\noptim:\n  lr: 0.01\nlayers: [relu2_1, relu3_1]\n")
    cfg = load_config(Cfg, p, parse_overrides(["optim.lr=2e-4", "amp=true", "seed=3", "steps=1e3"]))
    assert cfg.steps == 1000 and cfg.amp is True and cfg.seed == 3
    assert cfg.optim.lr == 2e-4 and cfg.optim.betas == (0.5, 0.999)
    assert cfg.layers == ["relu2_1", "relu3_1"]
    assert to_dict(cfg)["optim"] == {"lr": 2e-4, "betas": [0.5, 0.999]}


def test_cli_list_syntax_and_none():
    cfg = load_config(Cfg, None, {"layers": "relu1_1,relu4_2", "seed": "none", "optim.betas": "0,0.9"})
    assert cfg.layers == ["relu1_1", "relu4_2"] and cfg.seed is None and cfg.optim.betas == (0.0, 0.9)


@pytest.mark.parametrize("overrides, match", [
    ({"stpes": "3"}, "unknown config key stpes"),
    ({"optim.lrr": "3"}, "unknown config key optim.lrr"),
    ({"steps": "ten"}, "steps: expected int"),
    ({"steps": "2.5"}, "steps: expected int"),
    ({"amp": "maybe"}, "amp: expected true/false"),
])
def test_bad_values_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Cfg, None, overrides)


def test_bad_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(Cfg, p)
    with pytest.raises(ConfigError, match="no such config"):
        load_config(Cfg, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


@dataclass
class Task:
    lr: float = 1e-3  # the learning rate
    optim: Optim = field(default_factory=lambda: Optim(lr=5.0))

    def __post_init__(self):
        check(self, positive=("lr",))


def test_partial_section_keeps_its_own_defaults_and_values_are_validated():
    cfg = load_config(Task, None, {"optim.betas": "0.1,0.2"})
    assert cfg.optim.lr == 5.0 and cfg.optim.betas == (0.1, 0.2)  # not Optim's own default lr
    with pytest.raises(ConfigError, match=r"^lr: must be > 0, got -1.0$"):
        load_config(Task, None, {"lr": "-1"})
    rows = {key: (tp, default, text) for key, tp, default, text in describe(Task)}
    assert rows["lr"] == ("float", 1e-3, "the learning rate") and rows["optim.lr"][1] == 5.0
    assert find_key(Task, "betas") == "optim.betas" and find_key(Task, "lr") == "lr" and find_key(Task, "x") is None


def test_train_command_line_forms_fill_the_same_config():
    from pixforge.cli.train import parse_args
    from pixforge.tasks.gan import GanConfig

    def config(*args):
        file, values = parse_args(GanConfig, list(args), {})
        return load_config(GanConfig, file, values)

    a = config("--data", "ring8", "--steps", "5", "-o", "x", "--quiet", "--spectral-norm", "--betas", "0.5,0.9")
    b = config("data=ring8", "loop.steps=5", "loop.out=x", "loop.progress=false", "spectral_norm=true", "betas=0.5,0.9")
    assert a == b and a.loop.steps == 5 and a.spectral_norm is True and a.loop.progress is False
    with pytest.raises(ConfigError, match="unknown option --stepz"):
        config("--stepz", "3")
    with pytest.raises(ConfigError, match="--seed needs a value"):
        config("--seed")
