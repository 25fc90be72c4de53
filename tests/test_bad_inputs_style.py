"""Bad inputs to the stylisation commands (issue #16): every option value and file below must fail cleanly, as one
``pixforge: error: ...`` line with exit code 2, before any work starts and before any file is written."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.io import list_images, save_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """Small images (and broken ones) to stylise, in a folder of their own."""
    g = torch.Generator().manual_seed(0)
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {name: folder / f"{name}.png" for name in ("content", "style", "style2", "tiny", "thin")}
    for name, shape in (("content", (48, 64)), ("style", (40, 40)), ("style2", (40, 40)), ("tiny", (1, 1)),
                        ("thin", (15, 60))):
        save_image(torch.rand(3, *shape, generator=g), paths[name])
    (folder / "blocker").write_text("a file where a folder should be")
    paths["folder"] = folder
    paths["out"] = tmp_path / "out" / "o.png"
    return paths


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def assert_one_line_error(code: int, output: str, expected: str) -> None:
    lines = output.strip().splitlines()
    assert code == 2, output
    assert lines and lines[-1].startswith("pixforge: error: ") and expected in lines[-1], output
    assert "Traceback" not in output and "Usage:" not in output and "Error:" not in output.replace("error:", "")
    assert all(line.startswith("pixforge: ") for line in lines), output  # nothing on a progress-bar line


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a method is built: every refusal below must come before the work."""
    from pixforge.style import methods

    def refuse(*_, **__):
        raise AssertionError("the work started before the input was refused")

    monkeypatch.setattr(methods, "build", refuse)


# (extra arguments after CONTENT STYLE, text the error must contain); {name} is replaced by that file's path
BAD_OPTIONS = [
    (["--size", "-5"], "--size must be at least 16 px"),
    (["--size", "0"], "--size must be at least 16 px"),
    (["--size", "1"], "--size must be at least 16 px"),
    (["--size", "1", "--method", "magenta"], "--size must be at least 16 px"),
    (["--style-layers", "relu9_9"], "unknown VGG layer 'relu9_9'"),
    (["--content-layer", "conv1"], "unknown VGG layer 'conv1'"),
    (["--device", "banana"], "unknown device 'banana'"),
    (["--device", "cuda:7", "--method", "magenta"], "device 'cuda:7'"),
    (["--tile", "-8"], "--tile is not an option of --method gatys (its options: --style-blend"),
    (["--tile", "64"], "--tile is not an option of --method gatys"),
    (["--method", "wct", "--tile", "64"], "--tile is not an option of --method wct"),
    (["--method", "magenta", "--tile", "-8"], "--tile must be at least 16 px"),
    (["--method", "magenta", "--steps", "10"], "--steps is not an option of --method magenta"),
    (["--method", "adain", "--scales", "2"], "--scales is not an option of --method adain"),
    (["--method", "magenta", "--decoder", "x.pth"], "--decoder is not an option of --method magenta"),
    (["--method", "swap", "--no-smooth"], "--no-smooth is not an option of --method swap"),
    (["--optimizer", "adam", "--lr", "-1"], "--lr must be positive"),
    (["{style2}", "--style-blend", "0,0"], "--style-blend weights must be >= 0 with a positive sum"),
    (["{style2}", "--style-blend", "-1,2"], "--style-blend weights must be >= 0 with a positive sum"),
    (["{style2}", "--style-blend", "1,2,3"], "--style-blend has 3 weights for 2 style images"),
    (["--style-blend", "a,b"], "expected comma-separated numbers"),
    (["--steps", "0"], "--steps must be at least 1, not 0"),
    (["--steps", "-3"], "--steps must be at least 1, not -3"),
    (["--scales", "0"], "--scales must be at least 1"),
    (["--scales", "9", "--size", "48"], "--scales 9 is too many for a 48x36 px output"),
    (["--style-scale", "0"], "--style-scale must be positive"),
    (["--style-scale", "-1"], "--style-scale must be positive"),
    (["--save-every", "-1"], "--save-every must be >= 0"),
    (["--layer-weights", "1,2"], "--layer-weights: 2 weights for 5 style layers"),
    (["--content-weight", "-1"], "loss weights must be >= 0"),
    (["--method", "magenta", "--alpha", "2"], "--alpha must be in [0, 1]"),
    (["--method", "swap", "--patch-size", "0"], "--patch-size must be at least 1"),
    (["--method", "nope"], "unknown style method 'nope'; known: "),
    (["--preserve-color", "sepia"], "Invalid value for '--preserve-color'"),
    (["--mask", "{content}", "--mask", "{content}"], "2 masks (--mask) for 1 style images"),
    (["--method", "fast", "--model", "fast-candy"], "--method fast takes no STYLE image"),
    (["--bogus"], "No such option"),
]


@pytest.mark.parametrize("extra, expected", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_stylize_options_fail_in_one_line_before_any_work(files, no_work, extra, expected):
    extra = [a.format(**files) for a in extra]
    code, output = invoke("stylize", files["content"], files["style"], "-o", files["out"], *extra)
    assert_one_line_error(code, output, expected)
    assert not files["out"].parent.exists()  # nothing written, not even the output's folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda(files, no_work):
    code, output = invoke("stylize", files["content"], files["style"], "-o", files["out"], "--device", "cuda")
    assert_one_line_error(code, output, "CUDA is not available on this machine")


BAD_FILES = [  # (CONTENT, STYLE..., -o, expected)
    (["{folder}", "{style}"], "{out}", "is a folder, not an image file"),
    (["{content}", "{folder}"], "{out}", "is a folder, not an image file"),
    (["{content}", "{tiny}"], "{out}", "1x1 px is too small; images need at least 16 px on each side"),
    (["{tiny}", "{style}"], "{out}", "1x1 px is too small"),
    (["{content}", "{thin}"], "{out}", "60x15 px is too small"),
    (["{content}", "{folder}/missing.png"], "{out}", "no such file"),
    (["{content}", "{style}"], "{folder}", "is a folder; give an output file name"),
    (["{content}", "{style}"], "{folder}/blocker/o.png", "blocker is a file, not a folder"),
    (["{content}", "{style}"], "{folder}/o.xyz", "unknown image suffix '.xyz'"),
    (["{content}"], "{out}", "--method gatys needs at least 1 STYLE image"),
]


@pytest.mark.parametrize("inputs, output, expected", BAD_FILES, ids=[e for _, _, e in BAD_FILES])
def test_bad_files_fail_in_one_line_before_any_work(files, no_work, inputs, output, expected):
    args = [a.format(**files) for a in inputs] + ["-o", output.format(**files)]
    code, out = invoke("stylize", *args)
    assert_one_line_error(code, out, expected)


def test_magenta_without_style_is_one_line(files, no_work):
    code, output = invoke("stylize", files["content"], "-o", files["out"], "--method", "magenta")
    assert_one_line_error(code, output, "--method magenta needs at least 1 STYLE image")


def unwritable_folder(tmp_path) -> Path:
    """A folder this process cannot write into: a read-only one, or (running as root) /sys."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if Path("/sys").is_dir() and not os.access("/sys", os.W_OK | os.X_OK) or Path("/sys/kernel").is_dir():
        return Path("/sys")
    pytest.skip("no unwritable folder available")


def test_unwritable_output_folder_is_refused_before_the_work(files, no_work, tmp_path):
    out = unwritable_folder(tmp_path) / "o.png"
    code, output = invoke("stylize", files["content"], files["style"], "-o", out, "--method", "magenta")
    assert_one_line_error(code, output, "cannot write there")


# ------------------------------------------------------------------------------------ untrained networks
@pytest.mark.parametrize("method, how", [("adain", "pixforge train adain"), ("wct", "pixforge train wct-decoders"),
                                         ("photowct", "pixforge train wct-decoders --unpool"),
                                         ("swap", "pixforge train wct-decoders --levels relu3_1")])
def test_methods_without_trained_decoders_refuse(files, method, how):
    code, output = invoke("stylize", files["content"], files["style"], "-o", files["out"], "--method", method,
                          "--vgg", "random", "--size", "32", "--quiet")
    assert code == 2 and not files["out"].exists()
    error = output.strip().splitlines()[-1]
    assert error.startswith(f"pixforge: error: --method {method} has no trained decoder")
    assert how in error and "--random-weights" in error


def test_warnings_are_one_clean_line(files):
    code, output = invoke("stylize", files["content"], files["style"], "-o", files["out"], "--method", "swap",
                          "--vgg", "random", "--random-weights", "--size", "32", "--quiet")
    assert code == 0, output
    lines = [line for line in output.splitlines() if not line.startswith("wrote ")]
    assert lines and all(line.startswith("pixforge: warning: ") for line in lines), output
    assert any("RANDOM decoder" in line for line in lines) and any("RANDOM weights" in line for line in lines)
    assert "UserWarning" not in output and "warnings.warn" not in output and ".py:" not in output


# ------------------------------------------------------------------------------------ Gatys step counts
def test_steps_n_means_n_passes(files, tmp_path):
    """`--steps 2 --save-every 1` writes step1 and step2, never step3 (L-BFGS's last line search is cut)."""
    out = tmp_path / "run" / "o.png"
    code, output = invoke("stylize", files["content"], files["style"], "-o", out, "--steps", "2", "--save-every",
                          "1", "--size", "32", "--vgg", "random", "--content-layer", "relu2_1", "--style-layers",
                          "relu1_1,relu2_1", "--seed", "0", "--quiet")
    assert code == 0, output
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.png", "o_step1.png", "o_step2.png"]


@pytest.mark.parametrize("optimizer, line_search", [("lbfgs", True), ("lbfgs", False), ("adam", True)])
@pytest.mark.parametrize("steps", [1, 2, 3, 7, 20])
def test_the_pixel_optimiser_runs_exactly_n_passes(optimizer, line_search, steps):
    from pixforge.style.optimise import optimise

    calls = []

    def rosenbrock(x):  # far from converged after 20 passes, so every pass of the budget is used
        calls.append(1)
        v = x.flatten()
        loss = (100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2).sum()
        return loss, {"total": float(loss)}

    start = torch.zeros(1, 3, 8, 8)
    out = optimise(rosenbrock, start, steps, optimizer, lr=0.01, line_search=line_search)
    assert len(calls) == steps
    before, after = float(rosenbrock(start)[0]), float(rosenbrock(out)[0])
    assert out.shape == start.shape
    if line_search:  # (L-BFGS's unit steps without a search may overshoot on Rosenbrock)
        # one pass only evaluates the start, which is then the best image seen
        assert after < before or (steps == 1 and after == before)


# ------------------------------------------------------------------------------------ doodle
BAD_DOODLE = [
    (["--steps", "0"], "--steps must be at least 1, not 0"),
    (["--steps", "-1"], "--steps must be at least 1"),
    (["--size", "1"], "--size must be at least 16 px"),
    (["--scales", "0"], "--scales must be at least 1"),
    (["--style-scale", "0"], "--style-scale must be positive"),
    (["--layers", "relu9_9"], "unknown VGG layer 'relu9_9'"),
    (["--content-layer", "conv1"], "unknown VGG layer 'conv1'"),
    (["--device", "banana"], "unknown device 'banana'"),
    (["--tv-weight", "-1"], "loss weights must be >= 0"),
]


@pytest.mark.parametrize("extra, expected", BAD_DOODLE, ids=[" ".join(a) for a, _ in BAD_DOODLE])
def test_bad_doodle_options(files, extra, expected):
    code, output = invoke("doodle", files["style"], files["style"], files["style"], "-o", files["out"], *extra)
    assert_one_line_error(code, output, expected)
    assert not files["out"].parent.exists()


def test_doodle_refuses_tiny_maps_and_unwritable_outputs(files):
    code, output = invoke("doodle", files["style"], files["style"], files["tiny"], "-o", files["out"])
    assert_one_line_error(code, output, "1x1 px is too small")
    code, output = invoke("doodle", files["style"], files["style"], files["style"], "-o", files["folder"])
    assert_one_line_error(code, output, "is a folder")


def test_doodle_prints_its_vgg_backbone(files, hed_weights):
    style = files["folder"] / "two.png"
    img = torch.zeros(3, 32, 32)
    img[0, :, :16] = 1
    img[2, :, 16:] = 1
    save_image(img, style)
    code, output = invoke("doodle", style, style, style, "-o", files["out"], "--size", "32", "--steps", "1",
                          "--scales", "1", "--layers", "relu2_1")
    assert code == 0, output
    assert f"doodle: VGG backbone {hed_weights}" in output


def test_arbitrary_methods_print_their_vgg_backbone(files, hed_weights):
    code, output = invoke("stylize", files["content"], files["style"], "-o", files["out"], "--method", "adain",
                          "--random-weights", "--size", "32")
    assert code == 0, output
    assert f"adain: VGG backbone {hed_weights}" in output


# ------------------------------------------------------------------------------------ video
def frames_folder(folder: Path, n: int = 4, broken: int | None = None) -> Path:
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        save_image(torch.rand(3, 32, 32, generator=g), folder / f"f{i:03d}.png")
    if broken is not None:
        path = folder / f"f{broken:03d}.png"
        path.write_bytes(path.read_bytes()[:60])
    return folder


@pytest.fixture
def fast_model(tmp_path) -> Path:
    from pixforge.style.fast import TransformerNet
    from pixforge.weights import save_state_dict

    torch.manual_seed(0)
    return save_state_dict(TransformerNet().state_dict(), tmp_path / "m.safetensors")


@pytest.mark.parametrize("target", ["out.mp4", "out_frames"])
def test_video_with_a_truncated_frame_leaves_nothing(tmp_path, fast_model, target):
    src = frames_folder(tmp_path / "frames", broken=2)
    code, output = invoke("video", src, tmp_path / target, "--method", "fast", "--model", fast_model, "--size", "32",
                          "--quiet")
    assert code == 2 and "f002.png" in output.strip().splitlines()[-1], output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "m.safetensors"]  # no partial file or folder


def test_video_into_an_existing_folder_adds_frames_only_on_success(tmp_path, fast_model):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, output = invoke("video", frames_folder(tmp_path / "frames", 3), out, "--method", "fast", "--model",
                          fast_model, "--size", "32", "--quiet")
    assert code == 0, output
    assert len(list_images(out)) == 3 and (out / "keep.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_video_refuses_unknown_suffixes_and_bad_options(tmp_path, fast_model):
    src = frames_folder(tmp_path / "frames", 2)
    code, output = invoke("video", src, tmp_path / "out.xyz", "--method", "fast", "--model", fast_model)
    assert_one_line_error(code, output, "unknown video suffix '.xyz'")
    assert not (tmp_path / "out.xyz").exists()
    for extra, expected in ((["--size", "0"], "--size must be at least 16"),
                            (["--temporal-weight", "2"], "--temporal-weight must be in [0, 1]"),
                            (["--max-frames", "0"], "--max-frames must be at least 1"),
                            (["--steps", "5"], "--steps is not an option of --method fast")):
        code, output = invoke("video", src, tmp_path / "o.mp4", "--method", "fast", "--model", fast_model, *extra)
        assert_one_line_error(code, output, expected)
    code, output = invoke("video", src, tmp_path / "o.mp4")  # magenta (the default) needs a style
    assert_one_line_error(code, output, "--method magenta needs at least 1 STYLE image")


# ------------------------------------------------------------------------------------ help and spelling
def help_of(*command) -> str:
    code, output = invoke(*command, "--help")
    assert code == 0, output
    return output


@pytest.mark.parametrize("command", [("stylize",), ("video",), ("doodle",), ("demo",), ("weights",), ("data",),
                                     ("data", "show"), ("sample",), ("interpolate",), ("eval", "fid"),
                                     ("eval", "kid"), ("eval", "is"), ("eval", "pr"), ("eval", "modes"),
                                     ("eval", "stats")])
def test_help_has_examples(command):
    assert "Example" in help_of(*command)


def test_help_texts():
    top = help_of()
    # the top-level help names a family only together with a command for it
    assert ("translation" in top) == ("translate " in top) and ("super-resolution" in top) == ("upscale " in top)
    stylize = " ".join(help_of("stylize").split("Options:")[1].split())
    assert "magenta" in stylize.split("--alpha")[1].split("--decoder")[0]
    assert "photowct" in stylize.split("--alpha")[1].split("--decoder")[0]
    assert "file" in stylize.split("--vgg")[1].split("--pool")[0]
    assert "[default: magenta]" in " ".join(help_of("video").split())


@pytest.mark.parametrize("command", [("stylize",), ("doodle",), ("demo",), ("sample",), ("interpolate",),
                                     ("data", "show"), ("eval", "stats")])
def test_one_output_spelling(command):
    text = help_of(*command)
    assert "-o, --output" in text and "--out " not in text and "--out," not in text


def test_old_output_spellings_still_work(tmp_path):
    code, output = invoke("data", "show", "digits", "--out", tmp_path / "a.png", "--count", "4")
    assert code == 0 and (tmp_path / "a.png").is_file(), output
    code, output = invoke("data", "show", "digits", "-o", tmp_path / "b.png", "--count", "4")
    assert code == 0 and (tmp_path / "b.png").is_file(), output


@pytest.mark.parametrize("args, expected", [(["nosuch"], "No such command 'nosuch'"),
                                            (["stylize"], "Missing argument 'CONTENT'"),
                                            (["--bogus"], "No such option"),
                                            (["data", "show"], "Missing argument 'NAME'")])
def test_usage_errors_are_one_line(args, expected):
    code, output = invoke(*args)
    assert_one_line_error(code, output, expected)
    assert "--help" in output
