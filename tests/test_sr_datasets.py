"""The super-resolution test sets (Set5, Set14, BSD100, Urban100 from EDSR's benchmark.tar; DIV2K validation):
the offline error, files placed by hand checked against their digest, unpacking of archives built here with the
published layout, and `pixforge eval sr --data NAME`."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pixforge.cli import main
from pixforge.data import DATASETS
from pixforge.data.downloads import dataset_dir, fetch_dataset, is_present
from pixforge.errors import BadInputError

pytestmark = pytest.mark.usefixtures("one_thread")


def _png(seed: int, size=(24, 20)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((*size[::-1], 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _benchmark_tar(path, extra: dict[str, bytes] | None = None) -> str:
    """A tiny benchmark.tar as EDSR publishes it: benchmark/SET/HR/NAME.png, benchmark/SET/LR_bicubic/Xs/NAMExs.png."""
    members = {}
    for folder, names in (("Set5", ("baby", "bird")), ("Set14", ("zebra",)), ("B100", ("3096",)),
                          ("Urban100", ("img_001",))):
        for k, name in enumerate(names):
            members[f"benchmark/{folder}/HR/{name}.png"] = _png(k)
            for s in (2, 3, 4):
                members[f"benchmark/{folder}/LR_bicubic/X{s}/{name}x{s}.png"] = _png(10 * s + k, (24 // s, 20 // s))
    members.update(extra or {})
    with tarfile.open(path, "w") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return hashlib.md5(path.read_bytes()).hexdigest()


def _pin(monkeypatch, name: str, **files) -> None:
    """Point the registry entry ``name`` at the digests of the files built here (the published ones are real)."""
    ds = DATASETS.get(name)
    monkeypatch.setattr(DATASETS.entry(name), "target",
                        replace(ds, files={**ds.files, **{r: replace(ds.files[r], **kw) for r, kw in files.items()}}))


def test_sr_sets_are_registered_with_the_published_sources():
    assert DATASETS.list(family="sr") == ["div2k-valid", "set5", "set14", "bsd100", "urban100"]
    div2k = DATASETS.get("div2k-valid")
    assert div2k.files["hr"].urls == ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",)
    assert div2k.files["hr"].sha256.startswith("20dd31fd") and div2k.files["hr"].size == 448_993_893
    assert sorted(div2k.files) == ["hr", "lr-x2", "lr-x3", "lr-x4"]
    for name in ("set5", "set14", "bsd100", "urban100"):
        f = DATASETS.get(name).files["hr"]
        assert f.urls == ("https://cv.snu.ac.kr/research/EDSR/benchmark.tar",) and f.md5 == "4ace41d33c2384b97e6b320cd0afd6ba"
        assert dataset_dir("x").parent / "sr-benchmark" / "benchmark.tar" == \
            dataset_dir("sr-benchmark") / f.filename  # one cached file for the four sets


def test_offline_error_names_the_file_its_digest_and_where_to_put_it(isolated_home):
    with pytest.raises(BadInputError) as err:
        DATASETS.get("set14").hr()
    message = str(err.value)
    assert "not available offline" in message and str(dataset_dir("sr-benchmark")) in message
    assert "benchmark.tar from https://cv.snu.ac.kr/research/EDSR/benchmark.tar (md5 4ace41d3" in message
    result = CliRunner().invoke(main, ["eval", "sr", "--model", "waifu2x-upconv7", "--random-weights",
                                       "--data", "div2k-valid", "--scale", "2"])
    assert result.exit_code == 2 and "DIV2K_valid_HR.zip" in result.output and "20dd31fd" in result.output
    assert "448993893 bytes" in result.output and "LR_bicubic" not in result.output  # only the HR zip is needed
    result = CliRunner().invoke(main, ["eval", "sr", "--model", "waifu2x-upconv7", "--data", "set6", "--scale", "2"])
    assert result.exit_code == 2 and "neither a folder nor an SR test set (div2k-valid, set5" in result.output


def test_benchmark_tar_placed_by_hand_is_checked_unpacked_and_shared(isolated_home, monkeypatch):
    path = dataset_dir("sr-benchmark") / "benchmark.tar"
    path.parent.mkdir(parents=True)
    evil = {"../outside.png": _png(0), "/abs.png": _png(0)}
    md5 = _benchmark_tar(path, evil)
    with pytest.raises(BadInputError, match="md5 .* does not match dataset file benchmark.tar .4ace41d3"):
        DATASETS.get("set5").hr()  # the published md5: this tiny archive is not the published file
    for name in ("set5", "set14", "bsd100", "urban100"):
        _pin(monkeypatch, name, hr={"md5": md5})
    assert is_present("set14") and is_present("urban100")
    hr = DATASETS.get("set5").hr()
    assert hr == dataset_dir("sr-benchmark") / "benchmark/Set5/HR"
    assert sorted(p.name for p in hr.iterdir()) == ["baby.png", "bird.png"]
    assert Image.open(hr / "bird.png").tobytes() == Image.open(io.BytesIO(_png(1))).tobytes()
    lr = DATASETS.get("set5").lr(4)
    assert sorted(p.name for p in lr.iterdir()) == ["babyx4.png", "birdx4.png"]
    assert Image.open(lr / "babyx4.png").size == (6, 5)
    assert [p.name for p in DATASETS.get("bsd100").hr().iterdir()] == ["3096.png"]
    assert not (isolated_home / "outside.png").exists() and not (dataset_dir("sr-benchmark").parent / "outside.png").exists()
    with pytest.raises(BadInputError, match="x2, x3, x4, not x8"):
        DATASETS.get("set5").lr(8)
    images, labels = DATASETS.get("set14")(size=16)  # `pixforge data show set14`
    assert images.shape == (1, 3, 16, 16) and labels is None

    raw = path.read_bytes()
    path.write_bytes(raw[:600] + bytes([raw[600] ^ 1]) + raw[601:])  # one bit flipped: refused on the next use
    with pytest.raises(BadInputError, match="md5 .* does not match"):
        DATASETS.get("urban100").hr()


def _zip(path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_div2k_zips_are_fetched_one_at_a_time_and_checked(isolated_home, monkeypatch):
    folder = dataset_dir("div2k-valid")
    folder.mkdir(parents=True)
    hr_zip, x4_zip = folder / "DIV2K_valid_HR.zip", folder / "DIV2K_valid_LR_bicubic_X4.zip"
    hr_digest = _zip(hr_zip, {"DIV2K_valid_HR/0801.png": _png(1, (32, 24)), "DIV2K_valid_HR/0802.png": _png(2, (28, 24))})
    with pytest.raises(BadInputError, match=r"448993893 bytes; the file is incomplete or not the published one"):
        DATASETS.get("div2k-valid").hr()
    x4_digest = _zip(x4_zip, {"DIV2K_valid_LR_bicubic/X4/0801x4.png": _png(3, (8, 6))})
    _pin(monkeypatch, "div2k-valid", hr={"sha256": hr_digest, "size": hr_zip.stat().st_size},
         **{"lr-x4": {"sha256": x4_digest, "size": x4_zip.stat().st_size}})
    ds = DATASETS.get("div2k-valid")
    assert sorted(p.name for p in ds.hr().iterdir()) == ["0801.png", "0802.png"]
    assert [p.name for p in ds.lr(4).iterdir()] == ["0801x4.png"]
    assert (folder / "DIV2K_valid_HR" / "0801.png").is_file()  # unpacking the LR zip kept the HR folder
    with pytest.raises(BadInputError, match="DIV2K_valid_LR_bicubic_X2.zip from https://data.vision.ee.ethz.ch"):
        ds.lr(2)  # not placed: the offline error names just that file
    with pytest.raises(BadInputError, match="not available offline: put these files"):
        fetch_dataset("div2k-valid")  # `pixforge data fetch div2k-valid` wants all four

    result = CliRunner().invoke(main, ["eval", "sr", "--model", "waifu2x-upconv7", "--random-weights",
                                       "--data", "div2k-valid", "--scale", "2", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert [r["image"] for r in report["images"]] == ["0801.png", "0802.png"]
    assert np.isfinite(report["mean"]["bicubic_psnr"])

    raw = hr_zip.read_bytes()
    hr_zip.write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    with pytest.raises(BadInputError, match="sha256 .* does not match dataset file DIV2K_valid_HR.zip"):
        ds.hr()
