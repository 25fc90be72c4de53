"""pixforge.translate and ``pixforge translate``: the released cyclegan-vintage generator against a forward pass
written here in plain torch ops, any image size, run folders and directions, refusals with one-line errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from pixforge import weights
from pixforge.cli import main
from pixforge.errors import BadInputError, ConfigError, WeightsError
from pixforge.io import read_image, save_image
from pixforge.models.pix2pix import NLayerDiscriminator, ResnetGenerator, UnetGenerator
from pixforge.translate import Translator, load_generator, translate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def vintage_state() -> dict[str, torch.Tensor]:
    """vintagify's own file, read as it ships (keys ``model.N.block.M``), not through pixforge's converter."""
    if not weights.is_present("cyclegan-vintage"):
        pytest.skip("cyclegan-vintage weights not in the cache; run `make weights` (done by `make test`)")
    return torch.load(weights.local_path("cyclegan-vintage"), map_location="cpu", weights_only=True)


def vintage_forward(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """vintagify's ResnetGenerator (= CycleGAN's resnet_9blocks with affine instance norm) in plain torch ops."""
    def norm(h, i):
        return F.instance_norm(h, weight=s[f"{i}.weight"], bias=s[f"{i}.bias"], eps=1e-5)

    def reflect_conv(h, i, pad):
        return F.conv2d(F.pad(h, (pad,) * 4, mode="reflect"), s[f"{i}.weight"], s[f"{i}.bias"])

    h = F.relu(norm(reflect_conv(x, "model.1", 3), "model.2"))
    for conv, n in (("model.4", "model.5"), ("model.7", "model.8")):
        h = F.relu(norm(F.conv2d(h, s[f"{conv}.weight"], s[f"{conv}.bias"], stride=2, padding=1), n))
    for b in range(10, 19):
        p = f"model.{b}.block"
        r = F.relu(norm(reflect_conv(h, f"{p}.1", 1), f"{p}.2"))
        h = h + norm(reflect_conv(r, f"{p}.5", 1), f"{p}.6")
    for conv, n in (("model.19", "model.20"), ("model.22", "model.23")):
        h = F.conv_transpose2d(h, s[f"{conv}.weight"], s[f"{conv}.bias"], stride=2, padding=1, output_padding=1)
        h = F.relu(norm(h, n))
    return torch.tanh(reflect_conv(h, "model.26", 3))


def photo(h: int, w: int) -> torch.Tensor:
    from skimage import data

    return torch.from_numpy(data.chelsea()[40:40 + h, 120:120 + w].copy()).permute(2, 0, 1).float() / 255


def test_cyclegan_vintage_matches_an_independent_forward_pass(vintage_state):
    image = photo(68, 92)  # a multiple of 4: no padding
    out = translate(image, model="cyclegan-vintage", device="cpu")
    with torch.no_grad():
        expected = ((vintage_forward(vintage_state, image[None] * 2 - 1) + 1) / 2).clamp(0, 1)[0]
    assert out.shape == image.shape
    assert (out - expected).abs().max() < 1e-4
    assert (out - image).abs().mean() > 0.03 and out.std() > 0.05  # a changed, non-constant image
    assert (out.mean((1, 2)) - image.mean((1, 2))).abs().max() > 0.01  # the colour cast of the "vintage" look

    odd = photo(67, 90)  # padded (reflection, bottom/right) to 68 x 92, cropped back
    out = translate(odd, model="cyclegan-vintage", device="cpu")
    with torch.no_grad():
        padded = F.pad(odd[None] * 2 - 1, (0, 2, 0, 1), mode="reflect")
        expected = ((vintage_forward(vintage_state, padded) + 1) / 2).clamp(0, 1)[0, :, :67, :90]
    assert out.shape == odd.shape and (out - expected).abs().max() < 1e-4


def test_cyclegan_vintage_is_one_direction_and_its_architecture_needs_weights(vintage_state):
    net = load_generator("cyclegan-vintage")
    assert isinstance(net, ResnetGenerator) and net.model[2].affine
    assert sum(p.numel() for p in net.parameters()) == 11_388_675
    with pytest.raises(ConfigError, match="translate AtoB only, not BtoA"):
        load_generator("cyclegan-vintage", "BtoA")
    with pytest.raises(WeightsError, match="resnet_9blocks: an architecture without weights.*cyclegan-vintage"):
        load_generator("resnet_9blocks")


def small_generators(tmp_path):
    torch.manual_seed(0)
    nets = {d: ResnetGenerator(ngf=4, n_blocks=1) for d in ("A", "B")}
    for d, net in nets.items():
        torch.save(net.state_dict(), tmp_path / f"latest_net_G_{d}.pth")
    return nets


def test_run_folder_picks_the_generator_of_the_direction(tmp_path):
    nets = small_generators(tmp_path)
    image = torch.rand(3, 21, 30)
    for direction, d in (("AtoB", "A"), ("BtoA", "B")):
        out = translate(image, model=tmp_path, direction=direction, device="cpu")
        assert torch.allclose(out, translate(image, model=nets[d], device="cpu"), atol=1e-6)
    assert not torch.allclose(translate(image, model=tmp_path), translate(image, model=tmp_path, direction="BtoA"))
    with pytest.raises(ConfigError, match="one generator file translates in its own direction"):
        load_generator(tmp_path / "latest_net_G_A.pth", "BtoA")
    (tmp_path / "latest_net_G_B.pth").unlink()
    with pytest.raises(WeightsError, match="has no latest_net_G_B.pth"):
        load_generator(tmp_path, "BtoA")
    with pytest.raises(ConfigError, match="unknown direction 'AB'"):
        load_generator(tmp_path, "AB")


def test_any_size_batches_grey_networks_and_tiles():
    torch.manual_seed(0)
    unet = UnetGenerator(num_downs=6, ngf=4)  # one dropout block
    image = torch.rand(3, 37, 50)
    out = translate(image, model=unet, device="cpu", eval_mode=True)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    batch = torch.rand(2, 3, 20, 20)
    assert translate(batch, model=unet, eval_mode=True).shape == batch.shape
    # pix2pix U-Nets run as the reference's test script by default: dropout on, so two runs differ
    run = Translator(unet, "cpu")
    assert not run.eval_mode and not torch.equal(run(batch), run(batch))
    grey = ResnetGenerator(in_channels=1, out_channels=1, ngf=4, n_blocks=1)
    assert translate(image, model=grey).shape == (1, 37, 50)
    net = ResnetGenerator(ngf=4, n_blocks=1, norm="batch").eval()
    assert torch.equal(translate(image, model=net, tile=64), translate(image, model=net))
    assert translate(torch.rand(3, 90, 70), model=net, tile=32).shape == (3, 90, 70)
    with pytest.raises(ConfigError, match="tile must be at least 32 px, got 16"):
        translate(image, model=net, tile=16)
    with pytest.raises(BadInputError, match="expected an image"):
        translate(torch.rand(5), model=net)


def test_unet_by_name_with_random_weights_and_refusals(tmp_path):
    out = translate(torch.rand(3, 30, 41), model="unet_128", random_weights=True, eval_mode=True)
    assert out.shape == (3, 30, 41)
    with pytest.raises(WeightsError, match="--random-weights"):
        load_generator("unet_128")
    with pytest.raises(WeightsError, match="nope: neither a weights name"):
        load_generator("nope")
    torch.save(NLayerDiscriminator().state_dict(), tmp_path / "latest_net_D.pth")
    with pytest.raises(WeightsError, match="holds a discriminator"):
        load_generator(tmp_path / "latest_net_D.pth")
    torch.save({"head_0.conv_0.weight_orig": torch.zeros(1)}, tmp_path / "spade.pth")
    with pytest.raises(WeightsError, match="translate takes image-to-image generators"):
        load_generator(tmp_path / "spade.pth")


def test_cli_translates_files_and_folders(tmp_path):
    small_generators(tmp_path)
    folder = tmp_path / "in"
    for name, size in (("a.png", (3, 20, 28)), ("sub/b.jpg", (3, 33, 17))):
        save_image(torch.rand(*size), folder / name)
    runner = CliRunner()
    result = runner.invoke(main, ["translate", str(folder), "-o", str(tmp_path / "out"), "--model", str(tmp_path),
                                  "--direction", "BtoA"])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "sub" / "b.jpg").shape == (3, 33, 17)
    result = runner.invoke(main, ["translate", str(folder / "a.png"), "-o", str(tmp_path / "one.png"),
                                  "--model", "resnet_6blocks", "--random-weights"])
    assert result.exit_code == 0 and read_image(tmp_path / "one.png").shape == (3, 20, 28)
    result = runner.invoke(main, ["translate", str(folder / "a.png"), "-o", str(tmp_path / "x.png"),
                                  "--model", "resnet_9blocks"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "pixforge: error: resnet_9blocks: an architecture without weights; give a weights name (registered: "
        "cyclegan-vintage) or a checkpoint file, or --random-weights to run it untrained"]


def test_cli_translates_a_video_frame_by_frame(tmp_path, tiny_video):
    r = CliRunner().invoke(main, ["translate", str(tiny_video), "-o", str(tmp_path / "out"),
                                  "--model", "resnet_6blocks", "--random-weights"])
    assert r.exit_code == 0 and "wrote 2 frames" in r.output, r.output
    written = sorted((tmp_path / "out").glob("frame_*.png"))
    assert len(written) == 2 and read_image(written[0]).shape == (3, 16, 24)  # padded to the multiple, cropped back
