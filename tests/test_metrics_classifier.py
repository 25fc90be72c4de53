"""The digit classifier: trains to >90% held-out on sklearn digits in seconds; domain features for FID/KID/PR."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pixforge.data import load_dataset
from pixforge.errors import BadInputError, WeightsError
from pixforge.metrics import compute_fid, compute_is, compute_kid, compute_pr
from pixforge.models.classifier import ClassifierConfig, DigitClassifier, load_classifier
from pixforge.tasks.classifier import train_classifier
from pixforge.metrics.features import create_extractor, extract


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    images, labels = load_dataset("digits")
    report = train_classifier(images, labels, out, steps=120, progress=False, device="cpu")
    return out, report, images, labels


def test_trains_to_over_90_percent_held_out(trained):
    out, report, _, _ = trained
    assert report["heldout_accuracy"] > 0.90, report
    assert report["heldout_size"] == 359 and report["train_size"] == 1438
    assert json.loads((out / "classifier.json").read_text())["heldout_accuracy"] == report["heldout_accuracy"]
    assert (out / "checkpoints" / "last.pt").is_file()  # trained through the shared loop


def test_saved_classifier_reloads_with_the_same_outputs(trained):
    out, _, images, _ = trained
    model = load_classifier(out)  # the run folder or the file itself
    assert model.cfg == ClassifierConfig(in_channels=1, image_size=8, num_classes=10)
    again = load_classifier(out / "classifier.safetensors")
    feats, logits = model(images[:5])
    assert feats.shape == (5, 128) and torch.equal(logits, again(images[:5])[1])


def test_classifier_adapts_channels_and_size():
    model = DigitClassifier(ClassifierConfig(in_channels=1, image_size=8)).eval()
    rgb = torch.rand(2, 3, 16, 16) * 2 - 1
    grey = rgb.mean(1, keepdim=True)
    assert torch.allclose(model(rgb)[0], model(grey)[0])


def test_domain_metrics_tell_digits_from_noise(trained):
    out, _, images, _ = trained
    spec = f"classifier:{out}"
    real, held = images[:800].numpy(), images[800:1600].numpy()
    noise = np.random.default_rng(0).uniform(-1, 1, size=held.shape).astype(np.float32)
    kw = {"progress": False, "device": "cpu", "batch_size": 256}
    fid_real = compute_fid(real, held, spec, **kw)
    fid_noise = compute_fid(real, noise, spec, **kw)
    assert fid_noise > 5 * fid_real
    assert compute_kid(real, noise, spec, subsets=10, subset_size=200, **kw)[0] > 10 * abs(
        compute_kid(real, held, spec, subsets=10, subset_size=200, **kw)[0])
    pr_real, pr_noise = compute_pr(real, held, spec, **kw), compute_pr(real, noise, spec, **kw)
    assert pr_real["precision"] > 0.7 and pr_noise["precision"] < pr_real["precision"] / 2
    assert compute_is(held, spec, **kw)[0] > 5  # confident and spread over the 10 digits


def test_extractor_records_its_name_and_batches_do_not_matter(trained):
    out, _, images, _ = trained
    ext = create_extractor(f"classifier:{out}", device="cpu")
    a = extract(ext, images[:100].numpy(), batch_size=7, progress=False)
    b = extract(ext, images[:100], batch_size=100, progress=False)
    assert a.extractor == f"classifier:{out}" and np.allclose(a.features, b.features, atol=1e-5)
    assert np.allclose(a.probs.sum(1), 1)


def test_bad_inputs(tmp_path):
    with pytest.raises(WeightsError):
        load_classifier(tmp_path)
    (tmp_path / "classifier.safetensors").write_bytes(b"junk")
    with pytest.raises(WeightsError):
        load_classifier(tmp_path)
    with pytest.raises(BadInputError):
        create_extractor("vgg")
    with pytest.raises(BadInputError, match=r"\[-1, 1\]"):
        compute_fid(np.full((4, 1, 8, 8), 255.0), np.zeros((4, 1, 8, 8)), "classifier:x")


def test_train_classifier_cli(tmp_path):
    from click.testing import CliRunner

    from pixforge.cli import main

    result = CliRunner().invoke(main, ["train", "classifier", "--data", "digits", "--out", str(tmp_path / "c"),
                                       "--steps", "30", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and (tmp_path / "c" / "classifier.safetensors").is_file()
    report = json.loads((tmp_path / "c" / "classifier.json").read_text())
    assert report["data"] == "digits" and report["steps"] == 30
