"""``pixforge train TASK [--config FILE] [--out DIR] [--resume] [--KEY VALUE | KEY=VALUE ...]``: one command for
every training task of :data:`pixforge.registry.TASKS`.

Every key of the task's config can be given as ``KEY=VALUE`` or ``--KEY VALUE`` (``--key-name`` for
``key_name``; a bare ``--KEY`` sets a true/false key; keys of the ``loop`` section also without ``loop.``); a
repeated ``--KEY`` of a list key collects the values. The task's registry entry may name other spellings
(``aliases``: ``--vgg`` for ``vgg_weights``). So ``pixforge train gan --data grid25 --steps 100`` and
``pixforge train gan data=grid25 loop.steps=100`` are the same run.
"""
from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from .app import CONTEXT, PixforgeGroup, main

#: options every task takes: name -> (config key, value for a bare flag, help)
COMMON = {
    "out": ("loop.out", None, "run folder: checkpoints/, samples/, metrics.csv, config.yaml"),
    "resume": ("loop.resume", "true", "continue from OUT/checkpoints/last.pt with OUT/config.yaml; changed "
                                      "optimiser settings (lr, betas) are applied to the restored optimisers"),
    "overwrite": ("loop.overwrite", "true", "train into a folder that holds a run, deleting its checkpoints, "
                                            "samples and logs first"),
    "force": ("loop.force", "true", "resume even though the model, loss or data settings changed"),
    "quiet": ("loop.progress", "false", "no progress bar"),
}
USAGE = "[--config FILE] [--out DIR] [--resume] [--KEY VALUE | KEY=VALUE ...]"


def _is_flag(tp: Any) -> bool:
    return tp is bool or bool in typing.get_args(tp)


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple)


def parse_args(config_class: type, args: list[str], aliases: dict[str, str]) -> tuple[str | None, dict[str, Any]]:
    """(config file, {dotted key: value}) from a train command line (values as strings, converted later)."""
    from ..config import find_key, key_type

    config_file, values = None, {}

    def put(key: str, value: Any) -> None:
        if key in values and _is_list(key_type(config_class, key)):
            previous = values[key] if isinstance(values[key], list) else [values[key]]
            value = [*previous, value]
        values[key] = value

    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-o", "--output") or arg.startswith("--output="):  # the output spellings of other commands
            arg = "--out" + arg.partition("=")[1] + arg.partition("=")[2]
        if not arg.startswith("--"):
            key, sep, value = arg.partition("=")
            if not sep or not key:
                raise ConfigError(f"unexpected argument {arg!r}: give options as --KEY VALUE and keys as KEY=VALUE")
            put(find_key(config_class, key) or key, value)
            continue
        name, sep, value = arg[2:].partition("=")
        if name in COMMON and COMMON[name][1] is not None:  # --resume, --quiet, ...: no value
            if sep:
                raise ConfigError(f"--{name} takes no value")
            put(*COMMON[name][:2])
            continue
        key = "config" if name == "config" else COMMON[name][0] if name in COMMON else \
            aliases.get(name) or find_key(config_class, name)
        if key is None:
            raise ConfigError(f"unknown option --{name}; `pixforge train TASK --help` lists the keys")
        if not sep:
            if key != "config" and _is_flag(key_type(config_class, key)):
                value = "true"
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise ConfigError(f"--{name} needs a value")
        if key == "config":
            config_file = value
        else:
            put(key, value)
    return config_file, values


def shipped_config(path: str | None) -> str | None:
    """``configs/...`` names a recipe shipped in pixforge/configs/ when no such file is here."""
    if path is None or Path(path).is_file():
        return path
    shipped = Path(__file__).resolve().parents[1] / path
    return str(shipped) if path.startswith("configs/") and shipped.is_file() else path


def train_task(task_class: type, aliases: dict[str, str], args: list[str]) -> None:
    """Fill the task's config from YAML + the command line, train it, print the summary."""
    from ..config import load_config
    from ..train import distributed as dist_utils
    from ..train import run

    config_file, values = parse_args(task_class.Config, args, aliases)
    config_file = shipped_config(config_file)
    recipe = None if config_file else task_class.default_config(values)
    cfg = load_config(task_class.Config, config_file or recipe, values)
    saved = Path(cfg.loop.out) / "config.yaml"
    if cfg.loop.resume and config_file is None and saved.is_file():
        cfg = load_config(task_class.Config, saved, values)  # the run's own config; the command line overrides it
    elif recipe and dist_utils.is_main_process():
        click.echo(f"pixforge: recipe {recipe} (--config FILE or KEY=VALUE override it)", err=True)
    try:
        task, result = run(task_class, cfg)
        main_process = dist_utils.is_main_process()  # (before cleanup leaves every process "rank 0")
    finally:
        dist_utils.cleanup()
    if main_process:
        for line in [result.summary(), *result.outputs, f"checkpoint: {result.checkpoint}"]:
            click.echo(line)
        if result.best:
            best = result.best
            click.echo(f"best: {best['metric']} {best['value']:.4g} at step {best['step']} "
                       f"({result.checkpoint.with_name('best.pt')})")


def _shown(value: Any) -> str:
    """A default as it is typed on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "(empty)"
    return '""' if value == "" else str(value)


class TaskCommand(click.Command):
    """``pixforge train NAME``: its help lists the task's examples and every config key."""

    def __init__(self, name: str):
        from ..registry import TASKS

        self.task_class, self.meta = TASKS.get(name), TASKS.meta(name)
        doc = inspect.getdoc(self.task_class) or ""
        super().__init__(name, callback=self.train, help=doc, short_help=doc.split("\n\n")[0],
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
                         context_settings={**CONTEXT, "ignore_unknown_options": True})

    def train(self, args: tuple[str, ...]) -> None:
        train_task(self.task_class, self.meta.get("aliases", {}), list(args))

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, USAGE)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ..config import describe

        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        if self.meta.get("examples"):
            with formatter.section("Examples"):
                for line in self.meta["examples"]:  # one per line, never re-wrapped
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
        options = [("--config FILE", "YAML file of config keys (options and KEY=VALUE override it)")]
        options += [("-o, --out DIR" if name == "out" else f"--{name}", text) for name, (_, _, text) in COMMON.items()]
        options += [(f"--{name}", f"= --{key.replace('_', '-')}") for name, key in self.meta.get("aliases", {}).items()]
        options.append(("-h, --help", "show this message and exit"))
        with formatter.section("Options"):
            formatter.write_dl(options)
        rows = [(key, f"{tp}, default {_shown(default)}" + (f": {text}" if text else ""))
                for key, tp, default, text in describe(self.task_class.Config)]
        with formatter.section("Config keys (KEY=VALUE or --KEY VALUE; loop keys also without 'loop.')"):
            formatter.write_dl(rows)


class TrainGroup(PixforgeGroup):
    """Subcommands are the registered training tasks."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..registry import TASKS

        return sorted(TASKS.list())

    def get_command(self, ctx: click.Context, name: str) -> click.Command:
        from ..registry import TASKS

        TASKS.entry(name)  # one-line error naming the known tasks
        return TaskCommand(name)


@main.group(name="train", cls=TrainGroup, context_settings=CONTEXT)
def train_group() -> None:
    """Train a model: pixforge train TASK [--config FILE] [--out DIR] [--resume] [KEY=VALUE ...].

    Checkpoints, samples, metrics.csv, config.yaml and the trained model go to the run folder (--out).
    `pixforge train TASK --help` lists every config key of a task with its type, default and examples.
    """
