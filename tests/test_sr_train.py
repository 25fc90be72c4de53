"""Super-resolution training (pixforge.tasks.sr, pixforge.sr.degradations, pixforge.sr.data): the degradation
pipeline's properties, the loss wiring against hand computations, one tiny step of every shipped recipe, exact
resume, network interpolation and refusals of bad settings."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from gan_fakes import cli, resumes_exactly

from pixforge.config import load_config
from pixforge.io import save_image
from pixforge.sr import degradations as deg
from pixforge.tasks.sr import CONFIGS, SRConfig, SRTask
from pixforge.train import run

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPES = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
#: per recipe, the smallest crops its discriminator takes
GT = {"srgan_x4": 128, "esrgan_x4": 128, "realesrgan_x4": 64}
TINY = {"num_feat": 4, "num_block": 1, "d_feat": 4, "batch_size": 1, "vgg_weights": "random", "pretrained": "",
        "loop.workers": 0, "loop.device": "cpu", "loop.progress": False, "loop.tensorboard": False,
        "loop.sample_every": 0, "loop.log_every": 1, "loop.ckpt_every": 2, "loop.lr_warmup": 0}


def smooth_image(seed: int, size: int) -> torch.Tensor:
    """A smooth random RGB image (3, size, size) in [0, 1]: upsampled noise, so that SR has structure to learn."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, size // 8, size // 8, generator=g)
    return F.interpolate(small, size=(size, size), mode="bicubic", align_corners=False)[0].clamp(0, 1)


@pytest.fixture
def hr_folder(tmp_path):
    folder = tmp_path / "hr"
    for i in range(2):
        save_image(smooth_image(i, 136), folder / f"{i}.png")
    val = tmp_path / "val"
    save_image(smooth_image(9, 48), val / "v.png")
    return folder, val


def config(recipe: str, out, hr_folder, **overrides) -> SRConfig:
    values = {**TINY, "data": str(hr_folder[0]), "val_data": str(hr_folder[1]), "loop.out": str(out),
              "gt_size": GT.get(recipe, 16), **overrides}
    return load_config(SRConfig, CONFIGS / f"{recipe}.yaml", values)


# ------------------------------------------------------------------------------------------------ degradations
def test_blur_kernels_are_normalised_21px_with_odd_supports_from_7_to_21():
    g = torch.Generator().manual_seed(0)
    supports = set()
    for _ in range(300):  # σ = 3: no tap underflows to 0, so the non-zero support is the drawn size
        k = deg.random_kernel(g, (3.0, 3.0), sinc_prob=0.1)
        assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-9
        rows = torch.nonzero(k.abs().sum(1) > 0).flatten()
        support = int(rows[-1] - rows[0]) + 1
        assert support % 2 == 1 and 7 <= support <= 21
        supports.add(support)
    assert supports == set(range(7, 22, 2))
    for kind in ("gaussian", "generalized", "plateau"):
        k = deg.anisotropic_kernel(13, 2.0, 0.7, 0.6, kind, beta=1.5)
        assert abs(float(k.sum()) - 1) < 1e-12 and torch.allclose(k, k.flip(0).flip(1))  # point-symmetric
    sinc = deg.sinc_kernel(math.pi / 2, 11, pad_to=21)
    assert sinc.shape == (21, 21) and abs(float(sinc.sum()) - 1) < 1e-9 and torch.allclose(sinc, sinc.T)


def test_isotropic_gaussian_kernel_is_the_outer_product_of_1d_gaussians():
    sigma = 1.3
    x = torch.arange(9, dtype=torch.float64) - 4
    g1 = torch.exp(-x ** 2 / (2 * sigma ** 2))
    expected = torch.outer(g1, g1) / torch.outer(g1, g1).sum()
    assert torch.allclose(deg.anisotropic_kernel(9, sigma, sigma, 0.7), expected)
    # anisotropic, rotated by 90°: the transpose of the unrotated kernel
    assert torch.allclose(deg.anisotropic_kernel(9, 2.0, 0.5, math.pi / 2), deg.anisotropic_kernel(9, 2.0, 0.5, 0).T)


def test_degradation_shapes_levels_and_determinism():
    hr = smooth_image(0, 64)
    pipeline = deg.RealESRGANDegradation(scale=4)
    a = pipeline(hr, torch.Generator().manual_seed(5))
    assert a.shape == (3, 16, 16) and a.dtype == torch.float32
    assert 0 <= float(a.min()) and float(a.max()) <= 1 and torch.equal((a * 255).round() / 255, a)  # 8-bit levels
    assert torch.equal(a, pipeline(hr, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, pipeline(hr, torch.Generator().manual_seed(6)))


def test_noise_and_jpeg_ranges():
    g = torch.Generator().manual_seed(0)
    flat = torch.full((3, 128, 128), 0.5, dtype=torch.float64)
    noisy = deg.gaussian_noise(flat, g, 20.0, grey=False)
    assert abs(float((noisy - flat).std()) * 255 - 20) < 1
    grey = deg.gaussian_noise(flat, g, 20.0, grey=True)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    shot = deg.poisson_noise(flat, g, 1.0, grey=False) - flat
    assert abs(float(shot.mean())) < 2e-3 and float(shot.std()) > 0
    image = smooth_image(3, 64).double()
    errors = [float((deg.jpeg(image, q) - image).abs().mean()) for q in (30, 95)]
    assert errors[0] > errors[1] > 0  # lower quality, larger error
    photo = smooth_image(4, 64)
    sharp = deg.usm_sharp(photo)
    assert sharp.shape == photo.shape and 0 <= float(sharp.min()) and float(sharp.max()) <= 1
    assert torch.allclose(deg.usm_sharp(torch.full((3, 64, 64), 0.3)), torch.full((3, 64, 64), 0.3))


# ------------------------------------------------------------------------------------------------ loss wiring
def test_relativistic_average_loss_against_hand_computed_values():
    from pixforge.tasks.sr import weighted
    from pixforge.losses.adversarial import get_loss

    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([0.0, -1.0])
    # D_Ra(x, G) = D(x) - mean D(G) = [1.5, 2.5]; D_Ra(G, x) = D(G) - mean D(x) = [-1.5, -2.5]
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus: -log σ(-v)
    d = 0.5 * ((sp(-1.5) + sp(-2.5)) / 2 + (sp(-1.5) + sp(-2.5)) / 2)
    g = 0.5 * ((sp(1.5) + sp(2.5)) / 2 + (sp(1.5) + sp(2.5)) / 2)
    loss = weighted(get_loss("ragan"), 5e-3)  # ESRGAN's G weight; D's loss unweighted
    assert math.isclose(float(loss.d_loss(real, fake)), d, rel_tol=1e-6)
    assert math.isclose(float(loss.g_loss(fake, real)), 5e-3 * g, rel_tol=1e-6)


def test_esrgan_perceptual_loss_is_before_the_activation(hr_folder, tmp_path):
    esrgan = load_config(SRConfig, CONFIGS / "esrgan_x4.yaml")
    srgan = load_config(SRConfig, CONFIGS / "srgan_x4.yaml")
    assert esrgan.perceptual_layers == {"conv5_4": 1.0} and srgan.perceptual_layers == {"relu5_4": 1.0}
    torch.manual_seed(0)
    task = SRTask(config("esrgan_x4", tmp_path / "r", hr_folder), torch.device("cpu"))
    vgg = task.perceptual.vgg
    assert vgg.names[-1] == "conv5_4"  # the extractor stops at the convolution, before its ReLU
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    fx, fy = vgg(x)["conv5_4"], vgg(y)["conv5_4"]
    assert float(fx.min()) < 0  # negative responses kept
    assert torch.allclose(task.perceptual(x, y), F.l1_loss(fx, fy))
    task.close()


# ------------------------------------------------------------------------------------------------ training
@pytest.mark.parametrize("recipe", RECIPES)
def test_one_step_of_every_recipe(recipe, hr_folder, tmp_path):
    from pixforge.sr import load_model

    cfg = config(recipe, tmp_path / recipe, hr_folder, **{"loop.steps": 1, "loop.val_every": 1})
    task, result = run(SRTask, cfg)
    assert all(math.isfinite(v) for v in result.last_losses.values())
    assert {"pixel", "perceptual"} & set(result.last_losses)
    assert ("D" in task.modules) == (cfg.gan != "none") and "G_ema" in task.modules
    assert result.best["metric"] == "val_psnr"
    net = load_model(tmp_path / recipe)  # the run folder's model.safetensors
    assert net.scale == cfg.scale and net(torch.rand(1, 3, 6, 6)).shape == (1, 3, 6 * cfg.scale, 6 * cfg.scale)


def test_fine_tuning_a_registry_entry(hr_folder, tmp_path):
    from pixforge import weights
    from pixforge.sr import load_model

    if not weights.is_present("realesr-animevideov3"):
        pytest.skip("realesr-animevideov3 is not in the cache; run `make weights`")
    cfg = config("msrresnet_x4", tmp_path / "ft", hr_folder, pretrained="realesr-animevideov3",
                 **{"loop.steps": 1, "loop.val_every": 1, "num_feat": 0, "num_block": 0})
    before = load_model("realesr-animevideov3").state_dict()
    task, result = run(SRTask, cfg)
    after = load_model(tmp_path / "ft").state_dict()
    assert after.keys() == before.keys() and not all(torch.equal(after[k], before[k]) for k in before)
    assert all(torch.allclose(after[k], before[k], atol=1e-2) for k in before)  # one small step from the release


def test_resume_is_bit_identical(hr_folder, tmp_path):
    """Real-ESRGAN's recipe: degradations, USM targets, the U-Net D, EMA and the optimisers all resume exactly
    (its VGG loss, which has no state, left out for speed)."""

    def train(out, steps, resume):
        return run(SRTask, config("realesrgan_x4", out, hr_folder, perceptual_weight=0,
                                  **{"loop.steps": steps, "loop.resume": resume}))

    resumes_exactly(train, tmp_path)


def test_pair_folders_crop_matching_regions(tmp_path):
    from pixforge.sr.data import SRPairs

    lr = smooth_image(1, 32)
    save_image(lr, tmp_path / "pairs" / "LR" / "a.png")  # HR: each LR pixel as a 2x2 block, flips keep that
    save_image(lr.repeat_interleave(2, 1).repeat_interleave(2, 2), tmp_path / "pairs" / "HR" / "a.png")
    pairs = SRPairs(str(tmp_path / "pairs"), 2, 16, augment=True)
    for seed in range(8):
        item = pairs[(0, seed)]
        assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 16, 16)
        assert torch.equal(item["lr"], item["hr"][:, ::2, ::2])


def test_builtin_photos_hold_out_the_benchmark_set():
    import importlib.util
    from pathlib import Path

    from pixforge.sr.data import TRAIN_PHOTOS, VAL_PHOTOS, photo_name

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sr_quality.py"
    spec = importlib.util.spec_from_file_location("sr_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    used = {photo_name(e) for e in TRAIN_PHOTOS + VAL_PHOTOS}
    assert not used & {*bench.PHOTOS, "motorcycle_left", "motorcycle_right"}
    assert not {photo_name(e) for e in TRAIN_PHOTOS} & {photo_name(e) for e in VAL_PHOTOS}


# ------------------------------------------------------------------------------------------------ interpolation
def test_interpolate_endpoints_and_upscale(hr_folder, tmp_path):
    from pixforge.sr import load_model
    from pixforge.weights import load_file

    runs = []
    for seed in (0, 1):
        run(SRTask, config("edsr_x2", tmp_path / f"r{seed}", hr_folder, **{"loop.steps": 1, "loop.seed": seed}))
        runs.append(load_model(tmp_path / f"r{seed}").state_dict())
    for alpha, expected in ((0, runs[0]), (1, runs[1])):
        out = tmp_path / f"i{alpha}.safetensors"
        cli("sr", "interpolate", tmp_path / "r0", tmp_path / "r1", "--alpha", alpha, "-o", out)
        state = load_file(out)
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    cli("sr", "interpolate", tmp_path / "r0", tmp_path / "r1", "--alpha", 0.5, "-o", tmp_path / "mid")
    mid = load_file(tmp_path / "mid" / "model.safetensors")
    k = "conv_first.weight"
    assert torch.allclose(mid[k], (runs[0][k] + runs[1][k]) / 2)
    save_image(smooth_image(2, 24), tmp_path / "in.png")
    r = cli("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", tmp_path / "mid")
    assert "(48x48)" in r.output
    r = cli("sr", "interpolate", tmp_path / "r0", tmp_path / "in.png", "-o", tmp_path / "x.safetensors", ok=False)
    assert r.exit_code == 2


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("args", [
    ["scale=5"], ["gt_size=50", "scale=4"], ["gan=srgan", "gan_weight=1e-3", "gt_size=96"],
    ["loss=nope"], ["gan=unet"], ["pixel_weight=0"], ["ema=1.5"],
    ["arch=vgg19"], ["data=/no/such/folder"], ["pretrained=realesr-animevideov3"],
])
def test_bad_settings_exit_2(args, tmp_path):
    r = cli("train", "sr", "--out", tmp_path / "r", "--quiet", *args, ok=False)
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_perceptual_recipes_refuse_a_missing_vgg19(tmp_path, monkeypatch):
    from pixforge import weights

    monkeypatch.setattr(weights, "is_present", lambda name: False)
    r = cli("train", "sr", "--config", "configs/sr/esrgan_x4.yaml", "--out", tmp_path / "r", "--quiet", ok=False)
    assert r.exit_code == 2 and "pixforge weights fetch vgg19-imagenet" in r.output


def test_unknown_perceptual_layer_is_refused():
    from pixforge.errors import ConfigError

    with pytest.raises(ConfigError, match="relu9_9"):
        load_config(SRConfig, None, {"perceptual_layers": {"relu9_9": 1.0}})
