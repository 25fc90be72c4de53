"""The web UI: a Gradio app whose tabs, choices and options all come from the registries, so a new stylisation
method, upscaler, translation model, generator or metric appears here without UI code.

* Stylize: every ``METHODS`` entry, the options it declares (alpha, blend of two styles, preserve colour, model,
  style index, steps); the shipped paintings as a clickable gallery, plus uploads. Gatys streams its progress
  and intermediate images (a generator fed by ``StylizeOptions.on_step``).
* Upscale: every super-resolution weights entry (waifu2x's ``-denoiseN`` variants as a denoise level), tile size.
* Translate: every translation weights entry and the trained run folders under ``--runs``.
* Generate: pretrained GAN generators and GAN run folders: seed, truncation, grid, interpolation strip.
* Evaluate: the two-set metrics of ``METRICS`` (FID, KID, PSNR, SSIM, precision/recall) on two uploaded sets.

A tab whose registries are empty is left out. API names for ``gradio_client``: ``/stylize``, ``/upscale``,
``/translate``, ``/generate`` (and ``/interpolate``, ``/evaluate``).

Safe by default: the client sends uploads only (Gradio refuses file paths it did not receive; runs are chosen
from a list the server makes), uploads have a size and a pixel limit stated on the page, jobs run one per CPU
core with the rest waiting in a visible queue, user errors (bad images, missing weights) come back as one-line
messages, weights are never downloaded (``PIXFORGE_OFFLINE=1``) and Gradio's cache is swept while it runs and
deleted when it stops.

The job functions (:class:`Jobs`) are plain Python over :mod:`pixforge.api`; :func:`build` lays them out.
"""
import atexit
import functools
import inspect
import math
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it must not phone home

import torch  # noqa: E402

from .. import api, weights  # noqa: E402
from ..errors import BadInputError, ConfigError, PixforgeError, WeightsError  # noqa: E402
from ..io import IMAGE_SUFFIXES, image_grid, read_image, to_pil  # noqa: E402
from ..registry import ARCHS, METHODS, METRICS  # noqa: E402
from ..utils import default_device  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NO_DENOISE = "none"
DENOISE_LEVELS = [NO_DENOISE, "0", "1", "2", "3"]  # waifu2x's -denoiseN variants
RUN = "run:"  # prefix of the dropdown values that name a folder under the runs folder
Upload = Union[dict, str, Path, None]  # an uploaded file: Gradio's record ({"path", "orig_name", ...}) or a path


@dataclass
class Settings:
    """What the server allows; stated on the page."""

    runs: Path = Path("runs")             # trained runs offered by Translate and Generate
    random_weights: bool = False          # testing: networks without weights run untrained (said on the page)
    max_upload_mb: int = 20
    max_pixels: int = 12_000_000          # per uploaded image
    max_upscale_pixels: int = 2_000_000   # the upscaler's input (its output is 4-16x larger)
    max_set: int = 200                    # images per evaluation set
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # jobs at a time: one per CPU core

    def limits(self) -> str:
        return (f"Uploads only: images up to {self.max_upload_mb} MB and {self.max_pixels / 1e6:g} megapixels "
                f"(upscaler input: {self.max_upscale_pixels / 1e6:g} megapixels), up to {self.max_set} images per "
                f"evaluation set. {self.workers} job{'s' * (self.workers > 1)} at a time (one per CPU core); "
                "the others wait in the queue, their place shown on the output.")


# ------------------------------------------------------------------------------------------------ choices
def paintings() -> list[Path]:
    """The shipped example paintings."""
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _family(name: str) -> Optional[str]:
    arch = weights.get_spec(name).meta.get("arch")
    return ARCHS.meta(arch).get("family") if arch in ARCHS else None


def labelled(names: list[str]) -> list[tuple[str, str]]:
    """Dropdown choices (label, value): weights not in the cache say so."""
    return [(f"{n} (not fetched)" if n in weights.WEIGHTS and not weights.is_present(n) else n, n) for n in names]


def style_models(method: str) -> list[str]:
    """Weights declared for ``method`` (their spec's ``meta["method"]``)."""
    return [n for n in weights.WEIGHTS.list() if weights.get_spec(n).meta.get("method") == method]


def sr_models() -> list[str]:
    """Super-resolution weights, without the ``-denoiseN`` variants (picked by the denoise level)."""
    return [n for n in weights.WEIGHTS.list() if _family(n) == "sr" and "-denoise" not in n]


def run_folders(runs: Path) -> dict[str, list[str]]:
    """Run folders under ``runs`` (one or two levels deep) as dropdown values ``run:REL``: "gan" (a checkpoint
    whose config has a sample shape) and "translation" (reference generator files, or any other checkpoint)."""
    from ..translate import RUN_FILES

    found: dict[str, list[str]] = {"gan": [], "translation": []}
    if not runs.is_dir():
        return found
    reference = {name for names in RUN_FILES.values() for name in names}
    for folder in sorted([*runs.glob("*/"), *runs.glob("*/*/")]):
        has_checkpoint = (folder / "checkpoints" / "last.pt").is_file()
        if has_checkpoint and "sample_shape" in _config(folder):
            found["gan"].append(RUN + folder.relative_to(runs).as_posix())
        elif has_checkpoint or any((folder / n).is_file() for n in reference):
            found["translation"].append(RUN + folder.relative_to(runs).as_posix())
    return found


def _config(folder: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load((folder / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def translation_models(runs: Path) -> list[str]:
    return [n for n in weights.WEIGHTS.list() if _family(n) == "translation"] + run_folders(runs)["translation"]


def generators(runs: Path) -> list[str]:
    pretrained = [n for n in weights.WEIGHTS.list() if _family(n) == "gan"
                  and str(weights.get_spec(n).meta.get("arch")).endswith("-generator")]
    return pretrained + run_folders(runs)["gan"]


def set_metrics() -> list[str]:
    """Metrics comparing two image sets or pairs (``inputs=2`` on ``METRICS``)."""
    return [n for n in METRICS.list() if METRICS.meta(n).get("inputs") == 2]


# ------------------------------------------------------------------------------------------------ the jobs
class Stopped(Exception):
    """The client went away: stop the optimisation."""


class Jobs:
    """What each tab runs: plain functions of uploaded file paths and choices, raising PixforgeError for what a
    user can get wrong. Every model is checked against the current choices (no names or paths from elsewhere)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    # ---- shared checks
    def read(self, upload: Upload, what: str, max_pixels: Optional[int] = None, keep_alpha: bool = False):
        """An uploaded image (3 or 4 channels in [0, 1]); one-line errors for a missing, unreadable or too large one."""
        if not upload:
            raise BadInputError(f"upload {what} first")
        path, name = _file(upload)
        try:
            return read_image(path, alpha="keep" if keep_alpha else "white",
                              max_pixels=max_pixels or self.settings.max_pixels)
        except BadInputError as exc:  # the message names Gradio's cached copy: name the user's file instead
            raise BadInputError(str(exc).replace(str(path), name)) from None

    def choose(self, value: str, choices: list[str], what: str) -> str:
        """``value`` if it is one of ``choices``; run folders resolved inside the runs folder; weights present."""
        if value not in choices:
            raise ConfigError(f"unknown {what} {value!r}; choose one of the list")
        if value.startswith(RUN):
            return str(self.settings.runs / value[len(RUN):])
        if value in weights.WEIGHTS and not weights.is_present(value) and not self.settings.random_weights:
            raise WeightsError(f"weights {value!r} are not on this server: fetch them with "
                               f"`pixforge weights fetch {value}` (the UI never downloads)")
        return value

    # ---- Stylize
    def stylize(self, content: Upload, style: Upload, style2: Upload, method: str, model: Optional[str],
                style_index: float, alpha: float, blend: float, preserve_color: str, size: float,
                steps: float) -> Iterator[tuple[Any, str]]:
        """Stylise ``content``; yields (image, status): Gatys every few steps, the others once."""
        method = self.choose(method, METHODS.list(), "method")
        reads = set(METHODS.meta(method)["options"])
        takes_styles = METHODS.meta(method)["styles"][1] != 0
        image = self.read(content, "a photo")
        styles = [self.read(s, f"style image {i + 1}") for i, s in enumerate((style, style2)) if s] \
            if takes_styles else []
        given = {"model": model or None, "style_index": int(style_index), "alpha": float(alpha),
                 "style_blend": [1 - float(blend), float(blend)] if len(styles) == 2 else None,
                 "preserve_color": None if preserve_color in (None, "", "none") else preserve_color,
                 "steps": int(steps), "random_weights": self.settings.random_weights}
        opts = {"size": int(size), **{k: v for k, v in given.items() if k in reads}}  # what the method reads
        if opts.get("model"):
            self.choose(opts["model"], style_models(method), "model")
        start = time.perf_counter()
        if "on_step" not in reads:
            out = api.stylize(image, styles, method=method, progress=False, **opts)
            yield to_pil(out), f"{method}: {out.shape[-1]}x{out.shape[-2]} in {time.perf_counter() - start:.1f} s"
            return
        yield from self._live(image, styles, method, opts, start)

    def _live(self, image, styles, method, opts, start) -> Iterator[tuple[Any, str]]:
        """Run an optimisation in a thread; yield its image every few passes (and stop it if the client leaves)."""
        updates: queue.Queue = queue.Queue()
        stop = threading.Event()
        every = max(1, opts.get("steps", 100) // 25)

        def on_step(step: int, current: torch.Tensor) -> None:
            if stop.is_set():
                raise Stopped
            if step == 1 or step % every == 0:
                updates.put(("step", step, current.cpu()))

        def work() -> None:
            try:
                updates.put(("done", 0, api.stylize(image, styles, method=method, progress=False, on_step=on_step,
                                                    **opts)))
            except BaseException as exc:  # handed to the generator, which raises it in the request
                updates.put(("error", 0, exc))

        threading.Thread(target=work, daemon=True, name="pixforge-stylize").start()
        total = opts.get("steps", 0)
        try:
            while True:
                kind, step, value = updates.get()
                if kind == "error":
                    raise value
                elapsed = time.perf_counter() - start
                if kind == "done":
                    yield to_pil(value), f"{method}: done, {total} steps in {elapsed:.0f} s"
                    return
                yield to_pil(value), f"{method}: step {step}/{total} ({elapsed:.0f} s)"
        finally:
            stop.set()

    # ---- Upscale
    def upscale(self, image: Upload, model: str, denoise: str, tile: float) -> tuple[Any, str]:
        from ..sr import with_denoise

        level = self.choose(denoise or NO_DENOISE, DENOISE_LEVELS, "denoise level")
        name = with_denoise(self.choose(model, sr_models(), "upscaler"), None if level == NO_DENOISE else int(level))
        name = self.choose(name, weights.WEIGHTS.list(), "upscaler")
        x = self.read(image, "an image", self.settings.max_upscale_pixels, keep_alpha=True)
        start = time.perf_counter()
        out = api.upscale(x, name, tile=int(tile) or None, random_weights=self.settings.random_weights)
        return to_pil(out), (f"{name}: {x.shape[-1]}x{x.shape[-2]} -> {out.shape[-1]}x{out.shape[-2]} in "
                             f"{time.perf_counter() - start:.1f} s")

    # ---- Translate
    def translate(self, image: Upload, model: str, direction: str, tile: float) -> tuple[Any, str]:
        from ..translate import translate

        source = self.choose(model, translation_models(self.settings.runs), "translation model")
        x = self.read(image, "an image")
        start = time.perf_counter()
        out = translate(x, source, direction, tile=int(tile) or None, random_weights=self.settings.random_weights)
        return to_pil(out), f"{model} ({direction}): {out.shape[-1]}x{out.shape[-2]} in " \
                            f"{time.perf_counter() - start:.1f} s"

    # ---- Generate
    def generate(self, model: str, seed: float, truncation: float, grid: float, label: float) -> tuple[Any, str]:
        from ..tasks.gan import sample_run

        n = int(grid) ** 2
        x, cfg = sample_run(self._generator(model), n, None, _optional(truncation), _label(label), int(seed),
                            default_device())
        return self._picture(x, cfg.data, int(grid)), f"{model}: {n} samples, seed {int(seed)}"

    def interpolate(self, model: str, seed: float, truncation: float, grid: float, steps: float,
                    label: float) -> tuple[Any, str]:
        from ..tasks.gan import interpolate_run

        x = interpolate_run(self._generator(model), int(steps), int(grid), None, _optional(truncation), _label(label),
                            int(seed), default_device())
        return self._picture(x, "", int(steps)), f"{model}: {int(grid)} strips of {int(steps)}, seed {int(seed)}"

    def _generator(self, model: str) -> str:
        return self.choose(model, generators(self.settings.runs), "generator")

    @staticmethod
    def _picture(x: torch.Tensor, data: str, nrow: int) -> Any:
        """Samples in [-1, 1] as one picture: an image grid, or a scatter plot of 2D points."""
        if x.dim() == 4:
            return to_pil(image_grid((x.clamp(-1, 1) + 1) / 2, nrow=nrow))
        from PIL import Image

        from ..tasks.gan import save_samples

        with tempfile.TemporaryDirectory(prefix="pixforge-ui-") as tmp:
            with Image.open(save_samples(x, Path(tmp) / "points.png", data)) as plot:
                return plot.convert("RGB")

    # ---- Evaluate
    def evaluate(self, first: Optional[list[Upload]], second: Optional[list[Upload]], metrics: list[str]) -> dict:
        if not metrics:
            raise ConfigError("choose at least one metric")
        for name in metrics:
            self.choose(name, set_metrics(), "metric")
        sets = []
        for files, what in ((first, "first set"), (second, "second set")):
            files = sorted(files or [], key=lambda f: _file(f)[1])  # pairs go by file name
            if not files:
                raise BadInputError(f"upload the {what}")
            if len(files) > self.settings.max_set:
                raise BadInputError(f"the {what} has {len(files)} images; the limit is {self.settings.max_set}")
            sets.append([self.read(f, f"the {what}") for f in files])
        return {k: round(v, 6) if math.isfinite(v) else str(v) for k, v in api.evaluate(*sets, metrics).items()}


def _file(upload: Upload) -> tuple[str, str]:
    """(path, the user's file name) of an upload: Gradio's file record (events run without Gradio's own
    preprocessing, whose failures are traces, not messages) or a path."""
    if isinstance(upload, dict):
        return upload["path"], upload.get("orig_name") or Path(upload["path"]).name
    return str(upload), Path(upload).name


def _optional(value: Optional[float]) -> Optional[float]:
    """A truncation from the UI: 0 (or none) means none."""
    return float(value) if value else None


def _label(value: Optional[float]) -> Optional[int]:
    """A class from the UI: negative (or none) means random classes."""
    return None if value is None or value < 0 else int(value)


# ------------------------------------------------------------------------------------------------ the page
def user_errors(fn: Callable) -> Callable:
    """PixforgeError (bad image, missing weights, bad choice) as a one-line message in the page, not a trace."""
    import gradio as gr

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except PixforgeError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
        return generator

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PixforgeError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
    return call


def build(settings: Settings | None = None):
    """The Gradio app (a ``gr.Blocks``, queue configured); :func:`launch` serves it."""
    import gradio as gr

    settings = settings or Settings()
    jobs = Jobs(settings)

    def upload(label: str, **kw) -> gr.Image:
        return gr.Image(label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], **kw)

    def result(elem_id: str, label: str = "Result") -> gr.Image:
        return gr.Image(label=label, format="png", interactive=False, elem_id=elem_id)

    # jobs share one queue; they read uploads themselves (Gradio's preprocessing turns a bad image into a trace;
    # its check that every file came through the upload route still applies)
    job = {"concurrency_limit": settings.workers, "concurrency_id": "jobs", "preprocess": False}
    ui_only = {"api_visibility": "private", "queue": False}

    with gr.Blocks(title="pixforge", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("# pixforge\nStyle transfer, super-resolution, image-to-image translation and GANs. "
                    + settings.limits())
        if settings.random_weights:
            gr.Markdown("**RANDOM WEIGHTS (testing mode):** networks without trained weights run untrained; "
                        "their output is noise-like.")

        methods = METHODS.list()
        if methods:
            with gr.Tab("Stylize"):
                default = "magenta" if "magenta" in methods else methods[0]
                with gr.Row():
                    with gr.Column():
                        content = upload("Photo", elem_id="stylize-photo")
                        gallery = gr.Gallery([(str(p), p.stem.replace("_", " ")) for p in paintings()],
                                             label="Paintings (click one to use it as the style)", columns=4,
                                             height=140, allow_preview=False)
                        with gr.Row():
                            style = upload("Style", value=str(paintings()[0]) if paintings() else None,
                                           elem_id="stylize-style")
                            style2 = upload("Second style (optional: blended)")
                    with gr.Column():
                        method = gr.Dropdown([(f"{m}: {METHODS.meta(m)['summary']}", m) for m in methods],
                                             value=default, label="Method", elem_id="stylize-method")
                        model = gr.Dropdown(label="Model", allow_custom_value=False)
                        style_index = gr.Slider(0, 1, 0, step=1, label="Style of the network")
                        alpha = gr.Slider(0, 1, 1, step=0.05, label="Alpha (style strength)")
                        blend = gr.Slider(0, 1, 0.5, step=0.05, label="Blend: weight of the second style")
                        preserve = gr.Radio(["none", "luminance", "histogram"], value="none",
                                            label="Preserve colour")
                        size = gr.Slider(64, 1024, 512, step=32, label="Size (long side, px)")
                        steps = gr.Slider(10, 1000, 100, step=10, label="Steps (optimisation)")
                        run = gr.Button("Stylize", variant="primary", elem_id="stylize-run")
                        stylized, status = result("stylize-result"), gr.Markdown(elem_id="stylize-status")

                def show_options(name: str):
                    reads, most = METHODS.meta(name)["options"], METHODS.meta(name)["styles"][1]
                    models = style_models(name)
                    styles = max((weights.get_spec(m).meta.get("styles", 1) for m in models), default=1)
                    return (gr.update(visible=most != 0), gr.update(visible=most != 0), gr.update(visible=most != 0),
                            gr.update(choices=labelled(models), value=models[0] if models else None,
                                      visible="model" in reads and bool(models)),
                            gr.update(maximum=max(styles - 1, 1), visible="style_index" in reads and styles > 1),
                            gr.update(visible="alpha" in reads), gr.update(visible="style_blend" in reads and most != 0),
                            gr.update(visible="preserve_color" in reads), gr.update(visible="steps" in reads))

                option_rows = [gallery, style, style2, model, style_index, alpha, blend, preserve, steps]
                method.change(show_options, method, option_rows, **ui_only)
                demo.load(show_options, method, option_rows, **ui_only)

                def pick(evt: gr.SelectData) -> str:  # (a real annotation: Gradio passes the event by its type)
                    return str(paintings()[evt.index])

                gallery.select(pick, None, style, **ui_only)
                run.click(user_errors(jobs.stylize), [content, style, style2, method, model, style_index, alpha,
                                                      blend, preserve, size, steps],
                          [stylized, status], api_name="stylize", **job)

        upscalers = sr_models()
        if upscalers:
            with gr.Tab("Upscale"):
                with gr.Row():
                    with gr.Column():
                        low = upload("Image", elem_id="upscale-image")
                        sr_model = gr.Dropdown(labelled(upscalers), value=upscalers[0], label="Upscaler",
                                               elem_id="upscale-model")
                        from ..sr.load import denoise_bases

                        denoise = gr.Dropdown(DENOISE_LEVELS, value=NO_DENOISE,
                                              label="Denoise level (models with variants: "
                                                    f"{', '.join(denoise_bases()) or 'none'})")
                        tile = gr.Slider(0, 512, 128, step=32, label="Tile (input px; 0 = whole image)")
                        go = gr.Button("Upscale", variant="primary", elem_id="upscale-run")
                    with gr.Column():
                        high, sr_status = result("upscale-result"), gr.Markdown(elem_id="upscale-status")
                go.click(user_errors(jobs.upscale), [low, sr_model, denoise, tile], [high, sr_status],
                         api_name="upscale", **job)

        translators = translation_models(settings.runs)
        if translators:
            with gr.Tab("Translate"):
                with gr.Row():
                    with gr.Column():
                        source = upload("Image", elem_id="translate-image")
                        with gr.Row():
                            tr_model = gr.Dropdown(labelled(translators), value=translators[0], label="Model",
                                                   scale=4)
                            refresh = gr.Button("Refresh runs", scale=1)
                        direction = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="Direction (run folders)")
                        tr_tile = gr.Slider(0, 1024, 0, step=32, label="Tile (px; 0 = whole image)")
                        go = gr.Button("Translate", variant="primary", elem_id="translate-run")
                    with gr.Column():
                        translated, tr_status = result("translate-result"), gr.Markdown(elem_id="translate-status")
                refresh.click(lambda: gr.update(choices=labelled(translation_models(settings.runs))), None, tr_model,
                              **ui_only)
                go.click(user_errors(jobs.translate), [source, tr_model, direction, tr_tile],
                         [translated, tr_status], api_name="translate", **job)

        gens = generators(settings.runs)
        if gens:
            with gr.Tab("Generate"):
                with gr.Row():
                    with gr.Column():
                        with gr.Row():
                            gen_model = gr.Dropdown(labelled(gens), value=gens[0], label="Generator", scale=4)
                            refresh = gr.Button("Refresh runs", scale=1)
                        seed = gr.Number(0, precision=0, label="Seed")
                        truncation = gr.Slider(0, 3, 0, step=0.05, label="Truncation (0: none; StyleGAN: psi in W, "
                                                                         "e.g. 0.7; others: |z| limit, e.g. 1.5)")
                        grid = gr.Slider(1, 8, 4, step=1, label="Grid (rows and columns; strips: rows)")
                        label = gr.Number(-1, precision=0, label="Class (conditional models; -1: random)")
                        frames = gr.Slider(2, 16, 8, step=1, label="Interpolation frames per strip")
                        with gr.Row():
                            sample_go = gr.Button("Sample", variant="primary", elem_id="generate-run")
                            strip_go = gr.Button("Interpolation strip")
                    with gr.Column():
                        samples, gen_status = result("generate-result", "Samples"), gr.Markdown(elem_id="generate-status")
                refresh.click(lambda: gr.update(choices=labelled(generators(settings.runs))), None, gen_model,
                              **ui_only)
                sample_go.click(user_errors(jobs.generate), [gen_model, seed, truncation, grid, label],
                                [samples, gen_status], api_name="generate", **job)
                strip_go.click(user_errors(jobs.interpolate), [gen_model, seed, truncation, grid, frames, label],
                               [samples, gen_status], api_name="interpolate", **job)

        metrics = set_metrics()
        if metrics:
            with gr.Tab("Evaluate"):
                with gr.Row():
                    first = gr.File(file_count="multiple", file_types=["image"], label="First set (e.g. outputs)",
                                    elem_id="evaluate-first")
                    second = gr.File(file_count="multiple", file_types=["image"], elem_id="evaluate-second",
                                     label="Second set (e.g. references; pairs by file name)")
                chosen = gr.CheckboxGroup([(f"{m}: {METRICS.meta(m).get('summary', '')}", m) for m in metrics],
                                          value=[m for m in ("psnr", "ssim") if m in metrics], label="Metrics")
                go = gr.Button("Evaluate", variant="primary", elem_id="evaluate-run")
                scores = gr.JSON(label="Scores", elem_id="evaluate-scores")
                go.click(user_errors(jobs.evaluate), [first, second, chosen], scores, api_name="evaluate", **job)

    demo.queue(default_concurrency_limit=settings.workers, max_size=64)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, runs: str | Path = "runs", random_weights: bool = False,
           block: bool = True):
    """Serve the app on ``host:port`` until Ctrl-C or SIGTERM (``block``; else return the Blocks at once).
    Weights are never downloaded from here. Uploads and results live in a folder of their own (inside
    $GRADIO_TEMP_DIR if set), removed when the server stops."""
    os.environ["PIXFORGE_OFFLINE"] = "1"
    cache = tempfile.mkdtemp(prefix="pixforge-ui-", dir=os.environ.get("GRADIO_TEMP_DIR"))
    os.environ["GRADIO_TEMP_DIR"] = cache  # before gradio is imported: some of its paths are fixed then
    if not block:
        atexit.register(shutil.rmtree, cache, True)
    try:
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise PixforgeError("the web UI needs Gradio: pip install 'pixforge[ui]'") from None
        if block:  # SIGTERM stops the server as Ctrl-C does
            signal.signal(signal.SIGTERM, _interrupt)
        settings = Settings(runs=Path(runs), random_weights=random_weights)
        demo = build(settings)
        try:
            demo.launch(server_name=host, server_port=port, max_file_size=f"{settings.max_upload_mb}mb",
                        allowed_paths=[str(EXAMPLES)], footer_links=["api", "settings"], enable_monitoring=False,
                        show_error=False, ssr_mode=False, mcp_server=False, quiet=False, prevent_thread_lock=not block)
        except OSError as exc:  # the port is taken, the host unknown ...
            raise ConfigError(f"cannot serve on {host}:{port}: {str(exc).split('. ')[0]}") from None
        return demo
    finally:
        if block:
            shutil.rmtree(cache, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
