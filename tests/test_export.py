"""``pixforge export``: each family's smallest network as ONNX, run here by onnxruntime on an input of a size the
export never saw and compared with the library's own inference path (FastStylizer, Translator, run_network,
generate, the magenta method, a StyleGAN's fixed-noise forward), metadata in the file, and the command's own
check refusing a mismatch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pixforge.cli import main
from pixforge.errors import BadInputError, WeightsError
from pixforge.export import Magenta, export, load_network

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("one_thread")


def run_onnx(path, **inputs: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in inputs.items()})[0])


def metadata(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_style_networks_fast_cin_and_magenta(tmp_path):
    from pixforge import weights
    from pixforge.models.magenta import StylePredictor, StyleTransformer
    from pixforge.models.transformer_net import LAYOUTS, TransformerNet
    from pixforge.style.fast import FastStylizer
    from pixforge.style.magenta import stylize_padded

    torch.manual_seed(0)
    x = torch.rand(2, 3, 20, 28)  # the export traced 16x16 and checked 20x16
    fast = TransformerNet(layout=LAYOUTS["slim"]).eval()
    export(fast, tmp_path / "fast.onnx", size=16, dynamic_size=True)
    assert torch.allclose(run_onnx(tmp_path / "fast.onnx", image=x), FastStylizer(fast, torch.device("cpu"))(x),
                          atol=1e-4)

    cin = TransformerNet(num_styles=3, layout=LAYOUTS["slim"]).eval()
    report = export(cin, tmp_path / "cin.onnx", size=16, dynamic_size=True)
    assert report.metadata["styles"] == "3" and report.max_abs_diff <= 1e-4 and len(report.checked) == 2
    blend = torch.tensor([[0.2, 0.0, 0.6], [0.0, 1.0, 0.0]])
    cin.set_style(blend)
    assert torch.allclose(run_onnx(tmp_path / "cin.onnx", image=x, style=blend),
                          FastStylizer(cin, torch.device("cpu"))(x), atol=1e-4)

    released = all(weights.is_present(n) for n in ("magenta-predictor", "magenta-transformer"))
    magenta = load_network("magenta") if released else Magenta(StylePredictor(), StyleTransformer()).eval()
    export(magenta, tmp_path / "magenta.onnx", size=16, dynamic_size=True)
    style = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        expected = stylize_padded(magenta.transformer, x, magenta.predictor(style))
    assert torch.allclose(run_onnx(tmp_path / "magenta.onnx", content=x, style=style), expected, atol=1e-4)
    assert "style: (N, 3, 256, 256)" in metadata(tmp_path / "magenta.onnx")["inputs"]


def test_upscalers_with_and_without_borders_and_multiples(tmp_path):
    from pixforge.models.rrdbnet import RRDBNet
    from pixforge.models.sr import SRVGGNetCompact
    from pixforge.models.waifu2x import VGG7
    from pixforge.sr import run_network

    torch.manual_seed(0)
    for net, size, x in ((SRVGGNetCompact(num_feat=8, num_conv=2, scale=4), 12, torch.rand(1, 3, 10, 14)),
                         (RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4), 12, torch.rand(1, 3, 10, 14)),
                         (VGG7(upconv=True), 8, torch.rand(1, 3, 9, 5))):
        net.eval()
        path = tmp_path / f"{type(net).__name__}.onnx"
        export(net, path, size=size, dynamic_size=True)
        meta = metadata(path)
        assert meta["scale"] == str(net.scale) and meta["family"] == "sr" and meta["input_range"] == "[0, 1]"
        b = int(meta["border"])
        padded = torch.nn.functional.pad(x, (b, b, b, b), mode="replicate")
        with torch.no_grad():
            expected = run_network(net, x).clamp(0, 1)
        assert torch.allclose(run_onnx(path, image=padded), expected, atol=1e-4), type(net).__name__


def test_translation_generators_from_files_and_run_folders(tmp_path):
    from pixforge.models.pix2pix import ResnetGenerator, UnetGenerator
    from pixforge.translate import Translator

    torch.manual_seed(0)
    resnet, unet = ResnetGenerator(ngf=4, n_blocks=1), UnetGenerator(num_downs=5, ngf=4)
    torch.save(resnet.state_dict(), tmp_path / "latest_net_G_A.pth")  # a CycleGAN run folder, the reference's layout
    torch.save(unet.state_dict(), tmp_path / "unet.pth")
    for source, x in ((tmp_path, torch.rand(1, 3, 24, 36)), (tmp_path / "unet.pth", torch.rand(2, 3, 64, 32))):
        path = tmp_path / "g.onnx"
        export(str(source), path, size=32, dynamic_size=True)
        net = load_network(str(source))
        assert metadata(path)["size_multiple"] == str(net.size_multiple)
        assert torch.allclose(run_onnx(path, image=x), Translator(net, "cpu", eval_mode=True)(x), atol=1e-4)


def test_gan_generators_plain_conditional_spectral_norm_and_progressive(tmp_path):
    from pixforge.models.biggan import BigGANGenerator
    from pixforge.models.gan import DCGANGenerator, MLPGenerator
    from pixforge.models.pggan import PGGANGenerator
    from pixforge.tasks.gan import generate

    torch.manual_seed(0)
    for g in (DCGANGenerator(z_dim=8, channels=3, size=16, width=4, num_classes=3),
              BigGANGenerator(z_dim=8, size=32, width=2, num_classes=2, shared_dim=8),
              PGGANGenerator(size=16, z_dim=8, channel_base=64, channel_max=16), MLPGenerator(z_dim=4, width=8)):
        path = tmp_path / f"{type(g).__name__}.onnx"
        export(g, path)
        meta = metadata(path)
        assert meta["family"] == "gan" and meta["z_dim"] == str(g.z_dim)
        z = torch.randn(5, g.z_dim)
        inputs = {"z": z, **({"label": torch.arange(5) % g.num_classes} if g.num_classes else {})}
        expected = generate(g, z, inputs.get("label"), torch.device("cpu"))
        images = expected.dim() == 4
        assert meta["output_range"] == ("[0, 1]" if images else "data units")
        got = run_onnx(path, **inputs)
        assert torch.allclose(got, ((expected + 1) / 2).clamp(0, 1) if images else expected, atol=1e-4), path.name
    assert PGGANGenerator(size=16).get_extra_state() == {"stage": 2, "alpha": 1.0}  # (untouched by the export)


def noisy(g):
    """``g`` in eval mode with its noise strengths, biases and w_avg made non-zero, so that each of them shows."""
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "bias")):
                p.normal_(0, 0.3)
        g.w_avg.normal_()
    return g.eval()


def test_style_based_generators_v1_v2_grouped_conv_and_rosinality_files(tmp_path):
    from pixforge.models.stylegan import StyleGANGenerator
    from pixforge.models.stylegan2 import StyleGAN2Generator
    from pixforge.nn.conv import ModulatedConv2d

    torch.manual_seed(0)
    v2 = noisy(StyleGAN2Generator(16, 8, n_mlp=2, channel_base=64, channel_max=16))
    for m in v2.modules():  # rosinality's default: per-sample weights in one grouped convolution
        if isinstance(m, ModulatedConv2d):
            m.fused = True
    v1 = noisy(StyleGANGenerator(16, 8, n_mlp=2, channel_base=64, channel_max=16))
    state = {k: v for k, v in v2.state_dict().items() if k != "w_avg"}  # a rosinality checkpoint's layout
    torch.save({"g_ema": state, "latent_avg": v2.w_avg.clone()}, tmp_path / "550000.pt")
    z = torch.randn(3, 8)
    psi = torch.tensor([1.0, 0.7, 0.0])
    for name, source, g in (("v2", v2, v2), ("v1", v1, v1), ("pt", str(tmp_path / "550000.pt"), None)):
        path = tmp_path / f"{name}.onnx"
        report = export(source, path)
        assert report.max_abs_diff <= 1e-4 and report.checked == [((1, 8), (1,)), ((2, 8), (2,))]
        meta = metadata(path)
        assert (meta["family"], meta["z_dim"], meta["image_size"]) == ("gan", "8", "16") and "truncation" in meta["inputs"]
        g = g or load_network(source)
        with torch.no_grad():  # ψ per sample; the fixed noise maps
            expected = torch.cat([g(z[i:i + 1], truncation=float(p), noise="const") for i, p in enumerate(psi)])
        got = run_onnx(path, z=z, truncation=psi)
        assert torch.allclose(got, ((expected + 1) / 2).clamp(0, 1), atol=1e-4), name
        same = run_onnx(path, z=z, truncation=torch.zeros(3))  # ψ 0: every z gives the mean w's image
        assert torch.allclose(same, same[:1].expand_as(same), atol=1e-5) and not torch.allclose(got[0], got[1])
    assert all(m.fused for m in v2.modules() if isinstance(m, ModulatedConv2d))  # the export works on a copy


def test_cli_exports_names_and_refuses_in_one_line(tmp_path, monkeypatch):
    runner = CliRunner()
    out = tmp_path / "w.onnx"
    result = runner.invoke(main, ["export", "waifu2x-upconv7", "-o", str(out), "--random-weights", "--size", "8",
                                  "--dynamic-size", "--opset", "13"])
    assert result.exit_code == 0, result.output
    assert "family sr, scale 2" in result.output and "onnxruntime matches PyTorch" in result.output
    assert metadata(out)["opset"] == "13" and metadata(out)["dynamic_size"] == "True"
    for args, message in ((["resnet_6blocks"], "an architecture without weights"),
                          (["nope"], "neither a weights name"),
                          (["vgg19", "--random-weights"], "not a feed-forward network pixforge exports")):
        result = runner.invoke(main, ["export", *args, "-o", str(tmp_path / "x.onnx")])
        assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    monkeypatch.setattr("pixforge.export.TOLERANCE", -1.0)  # no graph can pass: the check must refuse it
    result = runner.invoke(main, ["export", "srvgg-compact", "--random-weights", "--size", "8", "-o",
                                  str(tmp_path / "bad.onnx")])
    assert result.exit_code == 2 and "differs from PyTorch's by" in result.output
    assert not (tmp_path / "bad.onnx").exists() and not list(tmp_path.glob(".bad.onnx*"))
    torch.save({"a": torch.zeros(1)}, tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="not a network pixforge exports"):
        load_network(str(tmp_path / "junk.pth"))
    with pytest.raises(BadInputError, match="must end in .onnx"):
        export("srvgg-compact", tmp_path / "x.txt", random_weights=True)


@pytest.mark.parametrize("name", ["cin-lite26", "cyclegan-vintage", "dcgan-faces64"])
def test_released_weights_export(name, tmp_path):
    from pixforge import weights

    if not weights.is_present(name):
        pytest.skip(f"{name} weights not in the cache; run `make weights` (done by `make test`)")
    report = export(name, tmp_path / "m.onnx", size=32)
    assert report.max_abs_diff <= 1e-4 and np.isfinite(report.max_abs_diff)
    assert metadata(tmp_path / "m.onnx")["source"] == name
