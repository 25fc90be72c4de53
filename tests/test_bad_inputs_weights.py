"""Bad inputs around weights, checkpoints and datasets (issue #16, items 4 and 16): a small corpus of wrong files
and the one-line message each must get; every refused import leaves the cache byte for byte as it was."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from pixforge import weights as w
from pixforge.cli import main
from pixforge.errors import PixforgeError, WeightsError
from pixforge.style.fast import TransformerNet
from pixforge.train.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore:weights .* have no published checksum")


@pytest.fixture(autouse=True)
def _home(isolated_home):
    return isolated_home


def cache(home: Path) -> dict[str, bytes]:
    """Every file under the cache folder with its bytes: what "left as it was" compares."""
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("pixforge: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def pth(path: Path, state: dict) -> Path:
    torch.save(state, path)
    return path


def text(path: Path) -> Path:
    path.write_text("some text, not weights\n")
    return path


def examples_zip(path: Path, state: dict, member: str = "saved_models/candy.pth") -> Path:
    """The layout of pytorch/examples' saved_models.zip with one network in it."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, buf.getvalue())
    return path


def good_candy() -> dict[str, torch.Tensor]:
    return TransformerNet().state_dict()


def wrong_shape_candy() -> dict[str, torch.Tensor]:
    state = good_candy()
    state["res1.conv1.conv2d.weight"] = torch.zeros(128, 128, 1, 1)
    return state


@pytest.fixture
def toy(tmp_path):
    """A registry entry with a published sha256 and size, served from a local file:// URL."""
    src = pth(tmp_path / "toy.pth", {"a": torch.arange(64.0)})
    spec = w.register(w.WeightSpec(name="toy-bad-inputs", filename="toy.pth", format="torch", description="test",
                                   sha256=hashlib.sha256(src.read_bytes()).hexdigest(), size=src.stat().st_size,
                                   url=src.as_uri()))
    yield spec, src
    w.WEIGHTS.unregister(spec.name)


# --- item 4: what an import accepts, and that a refusal changes nothing --------------------------------------

REFUSED_IMPORTS = {
    # case: (registry name, how to make the file, what the message must say)
    "text file as adain-decoder": ("adain-decoder", lambda p: text(p.with_suffix(".png")), "not a file saved by PyTorch"),
    "wrong-shape adain-decoder": ("adain-decoder", lambda p: pth(p, {"1.weight": torch.zeros(3, 3)}), "lacks"),
    "zip with wrong-shape fast-candy": ("fast-candy", lambda p: examples_zip(p.with_suffix(".zip"), wrong_shape_candy()),
                                        "does not fit TransformerNet"),
    "zip without in1 for fast-candy": ("fast-candy", lambda p: examples_zip(p.with_suffix(".zip"), {"x": torch.ones(1)}),
                                       "no in1.weight"),
    "zip without the member": ("fast-candy", lambda p: examples_zip(p.with_suffix(".zip"), good_candy(), "other.pth"),
                               "has no member saved_models/candy.pth"),
}


@pytest.mark.parametrize("case", REFUSED_IMPORTS)
@pytest.mark.parametrize("earlier", [False, True], ids=["empty cache", "after a good import"])
def test_refused_import_leaves_cache_as_it_was(case, earlier, tmp_path, isolated_home):
    name, make, says = REFUSED_IMPORTS[case]
    if earlier:  # a good file and its pin are already there: both must survive the bad import
        good = examples_zip(tmp_path / "good.zip", good_candy()) if name == "fast-candy" else None
        if good is None:
            from pixforge.models.decoder import make_decoder
            from pixforge.nn.vgg import VGGFeatures

            good = pth(tmp_path / "decoder.pth", make_decoder(VGGFeatures("vgg19", ["relu4_1"], normalization="normalised"), "relu4_1").state_dict())
        w.import_file(name, good)
    before = cache(isolated_home)
    bad = make(tmp_path / "bad.pth")
    message = one_line_error(cli("weights", "import", name, str(bad)))
    assert says in message and str(bad) in message and ".tmp" not in message
    assert cache(isolated_home) == before
    assert w.status(name) == ("present" if earlier else "missing")


def test_good_import_pins_and_loads(tmp_path):
    state = good_candy()
    w.import_file("fast-candy", examples_zip(tmp_path / "saved_models.zip", state))
    assert w.status("fast-candy") == "present"
    assert torch.equal(w.load_state_dict("fast-candy")["in1.weight"], state["in1.weight"])


def test_remove_deletes_file_and_pin_and_is_documented(tmp_path, isolated_home):
    assert "pixforge weights remove NAME" in " ".join(cli("weights", "--help").output.split())
    w.import_file("fast-candy", examples_zip(tmp_path / "a.zip", good_candy()))
    result = cli("weights", "remove", "fast-candy")
    assert result.exit_code == 0 and "removed fast-candy" in result.output
    assert cache(isolated_home) == {}
    assert "nothing cached" in cli("weights", "remove", "fast-candy").output
    # with the pin gone, a different (valid) network can be imported and pinned afresh
    other = {k: v + 1 for k, v in good_candy().items()}
    w.import_file("fast-candy", examples_zip(tmp_path / "b.zip", other))
    assert torch.equal(w.load_state_dict("fast-candy")["in1.weight"], other["in1.weight"])


def test_list_says_present_only_for_files_that_verify(tmp_path, isolated_home):
    w.import_file("fast-candy", examples_zip(tmp_path / "a.zip", good_candy()))
    path = w.local_path("fast-candy")
    path.write_bytes(path.read_bytes()[:1000])  # truncated after the import
    bad = w.local_path("adain-decoder")  # placed by hand, does not fit the network: never pinned
    pth(bad, {"x": torch.ones(2)})
    states = {line.split()[0]: line.split()[1] for line in cli("weights", "list").output.splitlines()}
    assert states["fast-candy"] == "damaged" and states["adain-decoder"] == "damaged"
    assert states["fast-mosaic"] == "missing"
    assert not bad.with_name(bad.name + ".verified").exists()


# --- item 16: messages ---------------------------------------------------------------------------------------

def _truncated_checkpoint(tmp_path, toy) -> str:
    path = save_checkpoint(tmp_path / "last.pt", {"step": 3, "model": {"w": torch.zeros(1000)}})
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(PixforgeError) as exc:
        load_checkpoint(path)
    return str(exc.value)


def _text_as_weights(tmp_path, toy) -> str:
    with pytest.raises(WeightsError) as exc:
        w.resolve(text(tmp_path / "notes.png"), "VGG weights")  # what --vgg and --decoder go through
    return str(exc.value)


def _import_names_user_file(tmp_path, toy) -> str:
    user_file = pth(tmp_path / "downloaded.pth", {"a": torch.arange(5.0)})
    return one_line_error(cli("weights", "import", toy[0].name, str(user_file)))


def _import_folder(tmp_path, toy) -> str:
    return one_line_error(cli("weights", "import", "adain-decoder", str(tmp_path)))


def _offline_fetch_unknown_size(tmp_path, toy) -> str:
    return one_line_error(cli("weights", "fetch", "adain-decoder"))


def _data_show_folder(tmp_path, toy) -> str:
    (tmp_path / "imgs").mkdir()
    return one_line_error(cli("data", "show", str(tmp_path / "imgs"), "--out", str(tmp_path / "grid.png")))


def _truncated_cache_offline(tmp_path, toy) -> str:
    w.import_file(toy[0].name, toy[1])
    path = w.local_path(toy[0].name)
    path.write_bytes(path.read_bytes()[:100])
    return one_line_error(cli("weights", "fetch", toy[0].name))


MESSAGES = {
    # case: (make the error and return its message, must say, must not say)
    "corrupt checkpoint": (_truncated_checkpoint, "cannot load as a pixforge checkpoint: the file is truncated or "
                           "damaged (an interrupted download or copy?)", "PytorchStreamReader"),
    "text file as --vgg": (_text_as_weights, "cannot load as a weights file (.pth, .pt or .safetensors): "
                           "it is not a file saved by PyTorch", "(101)"),
    "import names the user's file": (_import_names_user_file, "downloaded.pth: ", ".tmp"),
    "import of a folder": (_import_folder, "is a folder; give the file downloaded from https://", "no such file"),
    "offline fetch, size not published": (_offline_fetch_unknown_size, "size not published", "? bytes"),
    "data show FOLDER": (_data_show_folder, "needs --size N", "size="),
    "truncated cached file": (_truncated_cache_offline, "pixforge weights remove toy-bad-inputs`, then", "Traceback"),
}


@pytest.mark.parametrize("case", MESSAGES)
def test_message(case, tmp_path, toy):
    make, says, not_says = MESSAGES[case]
    message = make(tmp_path, toy)
    assert says in message and not_says not in message, message


def test_fetch_repairs_a_damaged_cached_file(toy, monkeypatch):
    spec, src = toy
    w.import_file(spec.name, src)
    path = w.local_path(spec.name)
    path.write_bytes(path.read_bytes()[:100])
    monkeypatch.setenv("PIXFORGE_OFFLINE", "0")  # the "download" is the file:// URL of the toy entry
    with pytest.warns(UserWarning, match="downloading weights 'toy-bad-inputs' again"):
        assert w.fetch(spec.name, progress=False) == path
    assert path.read_bytes() == src.read_bytes() and w.status(spec.name) == "present"
