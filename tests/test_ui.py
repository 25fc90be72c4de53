"""The web UI: its choices and jobs as plain functions, then ``pixforge serve`` on a free localhost port, driven
through the fixed API names by gradio_client and through the page by headless Chromium (Debian's ``chromium``
package, Playwright's Python API; no browser download).

The feed-forward stylisation is the released Magenta network when ``make weights`` has fetched it; without
those weights the server runs with ``--random-weights`` (said on the page) and the tests use ``adain`` with
random decoders: same code path, noise-like pictures."""
from __future__ import annotations

import io
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixforge import weights
from pixforge.errors import BadInputError, ConfigError, WeightsError
from pixforge.ui.app import RUN, Jobs, Settings, generators, run_folders, style_models, translation_models
from pixforge.ui.testing import CHROMIUM

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.xdist_group("ui")]  # one server for the module

RELEASED = all(weights.is_present(n) for n in ("magenta-predictor", "magenta-transformer", "waifu2x-photo-x2"))
METHOD = "magenta" if RELEASED else "adain"  # adain: random decoders, under `pixforge serve --random-weights`
UPSCALER = "waifu2x-photo-x2"


def fake_gan_run(folder: Path) -> None:
    """A GAN run folder as `pixforge train gan` leaves it (config.yaml, checkpoints/last.pt), untrained."""
    from pixforge.tasks.gan import GanConfig, build_models
    from pixforge.train.checkpoint import save_checkpoint
    from pixforge.train.loop import config_record

    cfg = GanConfig(data="ring8", arch="mlp", z_dim=4, width=8, sample_shape=[2])
    record = config_record(cfg)
    save_checkpoint(folder / "checkpoints" / "last.pt",
                    {"step": 0, "task": {"modules": {"G": build_models(cfg)[0].state_dict()}}, "config": record})
    (folder / "config.yaml").write_text(yaml.safe_dump(record))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A runs folder: a GAN run, a CycleGAN run in the reference layout (nested one level), and a folder that is
    not a run."""
    from pixforge.models.pix2pix import ResnetGenerator

    root = tmp_path_factory.mktemp("runs")
    fake_gan_run(root / "ring8")
    torch.manual_seed(0)
    (root / "cyclegan" / "tiny").mkdir(parents=True)
    torch.save(ResnetGenerator(ngf=4, n_blocks=1).state_dict(), root / "cyclegan" / "tiny" / "latest_net_G_A.pth")
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(data.astronaut()).crop((140, 30, 340, 230)).resize((96, 96), Image.LANCZOS).save(path)
    return path


def pixels(image) -> np.ndarray:
    return np.asarray(Image.open(image).convert("RGB") if not isinstance(image, Image.Image)
                      else image.convert("RGB"), np.float32) / 255


# ------------------------------------------------------------------------------------------------ no server
def test_choices_come_from_the_registries_and_the_runs_folder(runs):
    assert run_folders(runs) == {"gan": [RUN + "ring8"], "translation": [RUN + "cyclegan/tiny"]}
    assert RUN + "ring8" in generators(runs) and RUN + "cyclegan/tiny" in translation_models(runs)
    assert "dcgan-faces64" in generators(runs) and "cyclegan-vintage" in translation_models(runs)
    assert style_models("magenta") == ["magenta-transformer"] and style_models("cin") == ["cin-lite26"]
    assert run_folders(runs / "missing") == {"gan": [], "translation": []}


def test_jobs_take_only_listed_models_and_name_missing_weights(runs, photo, monkeypatch):
    jobs = Jobs(Settings(runs=runs))
    with pytest.raises(ConfigError, match="unknown translation model 'run:../ring8'"):
        jobs.translate(str(photo), RUN + "../ring8", "AtoB", 0)
    with pytest.raises(ConfigError, match="unknown upscaler '/etc/passwd'"):
        jobs.upscale(str(photo), "/etc/passwd", "none", 0)
    monkeypatch.setattr(weights, "is_present", lambda name: False)
    with pytest.raises(WeightsError, match=f"weights '{UPSCALER}' are not on this server: fetch them with "
                                           f"`pixforge weights fetch {UPSCALER}`"):
        jobs.upscale(str(photo), UPSCALER, "none", 0)


def test_bad_uploads_are_one_line_messages_naming_the_users_file(tmp_path, photo):
    jobs = Jobs(Settings(max_upscale_pixels=96 * 95))
    junk = tmp_path / "cached-name.png"
    junk.write_text("not an image")
    upload = {"path": str(junk), "orig_name": "holiday.png"}  # what Gradio hands over
    with pytest.raises(BadInputError, match="^holiday.png: not an image file"):
        next(jobs.stylize(upload, None, None, "cin", None, 0, 1, 0.5, "none", 64, 10))
    with pytest.raises(BadInputError, match="megapixels is over the limit"):
        jobs.upscale(str(photo), UPSCALER, "none", 0)
    with pytest.raises(BadInputError, match="upload a photo first"):
        next(jobs.stylize(None, None, None, "cin", None, 0, 1, 0.5, "none", 64, 10))


def test_gatys_streams_its_progress_and_intermediate_images(photo):
    jobs = Jobs(Settings())
    steps = list(jobs.stylize(str(photo), str(photo), None, "gatys", None, 0, 1, 0.5, "luminance", 32, 20))
    statuses = [s for _, s in steps]
    assert re.match(r"gatys: step 1/20 \(", statuses[0]) and statuses[-1].startswith("gatys: done, 20 steps")
    assert len(steps) >= 5 and all(img.size == (32, 32) for img, _ in steps)
    assert np.abs(pixels(steps[1][0]) - pixels(steps[-1][0])).mean() > 0  # the picture changes as it optimises


def test_evaluate_pairs_uploads_by_file_name(tmp_path, photo):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.open(photo).save(a)
    Image.open(photo).transpose(Image.FLIP_LEFT_RIGHT).save(b)
    jobs = Jobs(Settings())
    first = [{"path": str(b), "orig_name": "2.png"}, {"path": str(a), "orig_name": "1.png"}]
    second = [{"path": str(a), "orig_name": "1.png"}, {"path": str(b), "orig_name": "2.png"}]
    assert jobs.evaluate(first, second, ["psnr", "ssim"]) == {"psnr": "inf", "ssim": 1.0}
    with pytest.raises(ConfigError, match="unknown metric 'stats'"):
        jobs.evaluate(first, second, ["stats"])


# ------------------------------------------------------------------------------------------------ served
@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    """The served UI; when it stops, the uploads and results it kept are gone."""
    pytest.importorskip("gradio", reason="the web UI needs the ui extra: pip install 'pixforge[ui]'")
    from pixforge.ui.testing import served

    cache = tmp_path_factory.mktemp("gradio")
    with served("--runs", str(runs), *([] if RELEASED else ["--random-weights"]), temp_dir=cache) as url:
        yield url
    assert [p for p in cache.rglob("*") if p.is_file()] == []


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.mark.slow  # (with the server's start, shared by the module's served tests)
def test_api_names_stylize_and_upscale(client, photo):
    from gradio_client import handle_file

    assert {"/stylize", "/upscale", "/translate", "/generate"} <= set(client.view_api(print_info=False,
                                                                                      return_format="dict")
                                                                      ["named_endpoints"])
    style = Path(__file__).resolve().parents[1] / "pixforge" / "examples" / "starry_night.jpg"
    result, status = client.predict(handle_file(str(photo)), handle_file(str(style)), None, METHOD, None, 0, 1.0,
                                    0.5, "none", 128, 10, api_name="/stylize")
    out = pixels(result)
    assert out.shape == (128, 128, 3) and status.startswith(f"{METHOD}: 128x128")
    small = pixels(Image.open(result).resize((96, 96), Image.LANCZOS))
    assert np.abs(small - pixels(photo)).mean() > 0.05  # stylised, not the photo back
    result, status = client.predict(handle_file(str(photo)), UPSCALER, "1", 64, api_name="/upscale")
    assert pixels(result).shape == (192, 192, 3) and status.startswith(f"{UPSCALER}-denoise1: 96x96 -> 192x192")
    if RELEASED:  # a trained upscaler keeps the picture
        assert np.abs(pixels(Image.open(result).resize((96, 96), Image.LANCZOS)) - pixels(photo)).mean() < 0.03


@pytest.mark.slow
def test_api_translate_and_generate_from_run_folders(client, photo):
    from gradio_client import handle_file

    result, status = client.predict(handle_file(str(photo)), RUN + "cyclegan/tiny", "AtoB", 0, api_name="/translate")
    assert pixels(result).shape == (96, 96, 3) and "96x96" in status
    result, status = client.predict(RUN + "ring8", 3, 0.0, 4, -1, api_name="/generate")
    assert pixels(result).shape[0] > 100 and status == "run:ring8: 16 samples, seed 3"  # the scatter plot


@pytest.mark.slow
def test_api_refusals_are_messages(client, server, photo, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with pytest.raises(AppError, match="junk.png: not an image file"):
        client.predict(handle_file(str(junk)), UPSCALER, "none", 0, api_name="/upscale")
    with pytest.raises(AppError, match="unknown generator '/etc'"):
        client.predict("/etc", 0, 0.0, 2, -1, api_name="/generate")
    with pytest.raises(AppError, match="weights 'fast-candy' are not"):  # not fetched: the message says how to get it
        client.predict(handle_file(str(photo)), None, None, "fast", "fast-candy", 0, 1.0, 0.5, "none", 64, 10,
                       api_name="/stylize")
    # a path on the server instead of an upload: refused before any job runs
    request = urllib.request.Request(server + "gradio_api/call/upscale", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"data": [{"path": "/etc/hostname", "meta": {
                                         "_type": "gradio.FileData"}}, UPSCALER, "none", 0]}).encode())
    event = json.load(urllib.request.urlopen(request, timeout=30))["event_id"]
    answer = urllib.request.urlopen(f"{server}gradio_api/call/upscale/{event}", timeout=60).read().decode()
    assert "event: error" in answer and "file=" not in answer


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium: apt-get install chromium (Debian's "
                                                  "package; .ci/run installs it)")
def test_browser_stylize_and_upscale(server, photo, tmp_path):
    """The page in headless Chromium: upload a photo, stylise it with a feed-forward method, upscale it; the
    results appear and differ from the input; nothing is fetched from outside localhost."""
    from pixforge.ui.testing import browser

    def result(elem_id: str) -> np.ndarray:
        page.wait_for_selector(f"#{elem_id} img", timeout=60_000)
        src = page.get_attribute(f"#{elem_id} img", "src")
        with urllib.request.urlopen(urllib.request.Request(src if src.startswith("http") else server + src.lstrip("/")),
                                    timeout=30) as response:
            return pixels(io.BytesIO(response.read()))

    with browser(tmp_path / "profile") as (page, offsite):
        page.goto(server, wait_until="networkidle", timeout=60_000)
        assert page.get_by_text("megapixels").first.is_visible()
        assert page.get_by_text("RANDOM WEIGHTS").count() == (0 if RELEASED else 1)
        if METHOD != "magenta":  # the default method
            page.click("#stylize-method input")
            page.get_by_role("option", name=re.compile(f"^{METHOD}:")).click()
        page.set_input_files("#stylize-photo input[type=file]", str(photo))
        page.wait_for_selector("#stylize-photo img")
        page.click("#stylize-run")
        stylised = result("stylize-result")
        assert stylised.shape == (512, 512, 3)  # the size slider's default
        small = np.asarray(Image.fromarray((stylised * 255).astype(np.uint8)).resize((96, 96), Image.LANCZOS)) / 255
        assert np.abs(small - pixels(photo)).mean() > 0.05
        page.screenshot(path=tmp_path / "stylize.png", full_page=True)

        page.get_by_role("tab", name="Upscale").click()
        page.set_input_files("#upscale-image input[type=file]", str(photo))
        page.wait_for_selector("#upscale-image img")
        page.click("#upscale-run")
        big = result("upscale-result")
        factor = big.shape[0] // 96
        assert factor >= 2 and big.shape == (96 * factor, 96 * factor, 3)
        nearest = np.kron(pixels(photo), np.ones((factor, factor, 1)))
        assert np.abs(big - nearest).mean() > 0.005  # not the photo enlarged pixel by pixel
        page.screenshot(path=tmp_path / "upscale.png", full_page=True)
        assert offsite == []  # no CDN, font or analytics request
    assert (tmp_path / "stylize.png").stat().st_size > 10_000 and (tmp_path / "upscale.png").is_file()
