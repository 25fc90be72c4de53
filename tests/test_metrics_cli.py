"""`pixforge eval ...` end to end: .npz statistics, .npy samples, image folders, JSON output, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.models.classifier import ClassifierConfig, DigitClassifier, save_classifier
from pixforge.metrics.fid import frechet_distance, load_stats

ROOT = Path(__file__).resolve().parents[1]


def write_stats(path, seed, shift=0.0, d=16):
    x = np.random.default_rng(seed).normal(size=(400, d)) + shift
    np.savez(path, mu=x.mean(0), sigma=np.cov(x, rowvar=False))  # the two arrays pytorch-fid writes
    return x.mean(0), np.cov(x, rowvar=False)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_fid_of_two_npz_files_exact_interface(tmp_path, isolated_home):
    """`pixforge eval fid A.npz B.npz` as a real process: no network, no weights (the cache is empty)."""
    a, b = write_stats(tmp_path / "A.npz", 0), write_stats(tmp_path / "B.npz", 1, shift=0.3)
    env = dict(os.environ, PIXFORGE_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pixforge", "eval", "fid", "A.npz", "B.npz"], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = frechet_distance(*a, *b, method="sqrtm")
    assert proc.stdout.startswith("FID ") and float(proc.stdout.split()[1]) == pytest.approx(expected, abs=1e-4)


def test_fid_json_output(tmp_path):
    a, b = write_stats(tmp_path / "A.npz", 0), write_stats(tmp_path / "B.npz", 1, shift=0.3)
    code, out = run("eval", "fid", tmp_path / "A.npz", tmp_path / "B.npz", "--json", "--method", "sqrtm")
    assert code == 0
    result = json.loads(out)
    assert result["metric"] == "fid" and result["value"] == pytest.approx(frechet_distance(*a, *b), rel=1e-6)


def one_line_error(code, out, *needles):
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("pixforge: error:"), out
    for needle in needles:
        assert needle in lines[0]


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, isolated_home):
    write_stats(tmp_path / "A.npz", 0)
    (tmp_path / "junk.npz").write_text("not a zip")
    one_line_error(*run("eval", "fid", tmp_path / "A.npz", tmp_path / "junk.npz"), "junk.npz")
    one_line_error(*run("eval", "fid", tmp_path / "A.npz", tmp_path / "missing.npz"), "no such file")
    write_stats(tmp_path / "C.npz", 0, d=8)
    one_line_error(*run("eval", "fid", tmp_path / "A.npz", tmp_path / "C.npz"), "do not match")
    np.save(tmp_path / "bytes.npy", np.full((4, 3, 8, 8), 200.0, dtype=np.float32))
    one_line_error(*run("eval", "is", tmp_path / "bytes.npy"), "[-1, 1]")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    one_line_error(*run("eval", "kid", tmp_path / "broken.npy", tmp_path / "broken.npy"), "broken.npy")
    np.save(tmp_path / "ok.npy", np.zeros((4, 3, 8, 8), dtype=np.float32))
    # Inception features without the weights file, offline: what to download and how to import it
    one_line_error(*run("eval", "is", tmp_path / "ok.npy"), "pixforge weights import inception-fid")
    one_line_error(*run("eval", "fid", tmp_path / "ok.npy", tmp_path / "ok.npy", "--features", "resnet"), "resnet")


@pytest.fixture
def digit_classifier(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "cls" / "classifier.safetensors"
    save_classifier(DigitClassifier(ClassifierConfig(in_channels=1, image_size=8)).eval(), path)
    return path.parent


def test_stats_kid_is_pr_with_classifier_features(tmp_path, digit_classifier):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, size=(120, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", np.clip(real[::-1] * 0.5 + 0.3, -1, 1))
    feats = ["--features", f"classifier:{digit_classifier}"]
    code, out = run("eval", "stats", tmp_path / "real.npy", "-o", tmp_path / "real_stats.npz", *feats)
    assert code == 0 and "120 images, 128-d" in out
    st = load_stats(tmp_path / "real_stats.npz")
    assert st.features == f"classifier:{digit_classifier}" and st.sigma.shape == (128, 128)
    # stats vs samples, and samples vs samples, give the same FID
    code1, out1 = run("eval", "fid", tmp_path / "real_stats.npz", tmp_path / "fake.npy", *feats, "--json")
    code2, out2 = run("eval", "fid", tmp_path / "real.npy", tmp_path / "fake.npy", *feats, "--json")
    assert code1 == code2 == 0 and json.loads(out1)["value"] == pytest.approx(json.loads(out2)["value"], rel=1e-9)
    assert json.loads(out1)["value"] > 0
    # stats made with other features are refused
    one_line_error(*run("eval", "fid", tmp_path / "real_stats.npz", tmp_path / "fake.npy"), "not 'inception'")
    code, out = run("eval", "kid", tmp_path / "real.npy", tmp_path / "fake.npy", *feats, "--subsets", "5",
                    "--subset-size", "50")
    assert code == 0 and out.startswith("KID ")
    code, out = run("eval", "is", tmp_path / "fake.npy", *feats, "--json")
    assert code == 0 and 1 <= json.loads(out)["value"] <= 10
    code, out = run("eval", "pr", tmp_path / "real.npy", tmp_path / "real.npy", *feats, "--json")
    assert code == 0 and json.loads(out)["precision"] == 1.0 and json.loads(out)["recall"] == 1.0


def test_image_folders(tmp_path, digit_classifier):
    from pixforge.io import save_image

    rng = np.random.default_rng(1)
    for i in range(12):
        size = 8 if i % 2 else 10  # mixed sizes are resized to the extractor's input size
        save_image(torch.tensor(rng.uniform(0, 1, size=(3, size, size)), dtype=torch.float32),
                   tmp_path / "imgs" / f"{i}.png")
    code, out = run("eval", "stats", tmp_path / "imgs", "-o", tmp_path / "s.npz", "--features",
                    f"classifier:{digit_classifier}", "--batch-size", "5")
    assert code == 0 and load_stats(tmp_path / "s.npz").count == 12
    (tmp_path / "empty").mkdir()
    one_line_error(*run("eval", "stats", tmp_path / "empty", "-o", tmp_path / "e.npz"), "no images")


def test_modes_cli(tmp_path):
    from pixforge.metrics.modes import get_mixture

    np.save(tmp_path / "pts.npy", np.repeat(get_mixture("ring8").centres[:5], 4, axis=0))
    code, out = run("eval", "modes", tmp_path / "pts.npy", "--data", "ring8")
    assert code == 0 and "modes 5/8" in out and "high-quality 100.0%" in out
    np.save(tmp_path / "diag.npy", get_mixture("ring8").centres[1::2])  # (±1.41, ±1.41): far from every grid25 mode
    code, out = run("eval", "modes", tmp_path / "diag.npy", "--data", "grid25", "--json")
    assert code == 0 and json.loads(out)["high_quality"] == 0.0 and json.loads(out)["kl"] is None
    np.save(tmp_path / "sm.npy", np.zeros((4, 3, 8, 8), dtype=np.float32))
    one_line_error(*run("eval", "modes", tmp_path / "sm.npy", "--data", "stacked-mnist"), "--classifier")
