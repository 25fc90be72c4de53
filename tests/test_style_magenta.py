"""Magenta arbitrary stylization (Ghiasi et al. 2017): converter, agreement with the reference runtime, options."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pixforge import io
from pixforge.errors import WeightsError
from pixforge.models import magenta as nets
from pixforge.nn.norms import AdaIN
from pixforge.style import magenta, methods


def _conv_weight_elements(path) -> int:
    """Weights + biases of every Conv in the ONNX graph, counted from the file itself."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            for name in node.input[1:3]:
                total += inits[producers[name].input[0]].size if name not in inits else inits[name].size
    return total


def test_converter_fills_every_parameter(magenta_weights, one_thread):
    for part, module in (("predictor", nets.StylePredictor()), ("transformer", nets.StyleTransformer())):
        state = nets.convert_onnx(magenta_weights[part])
        module.load_state_dict(state)  # strict: every key present, every shape equal
        n_module = sum(p.numel() for p in module.parameters())
        # every parameter comes from the file; the transformer's residual convs share one (zero) bias there
        assert n_module == sum(v.numel() for v in state.values())
        assert _conv_weight_elements(magenta_weights[part]) <= n_module
    assert sum(p.numel() for p in nets.StylePredictor().parameters()) == 2_334_916
    assert sum(p.numel() for p in nets.StyleTransformer().parameters()) == 178_065


def test_matches_onnx_runtime(magenta_weights, shared_data, one_thread):
    """Same image, same style: pixforge's float port vs onnxruntime on the released int8 graph."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
    style = io.read_image(shared_data / "style" / "starry_night.jpg", size=300)
    content = io.read_image(shared_data / "content" / "tubingen.jpg", size=384)
    s = magenta.style_input(style.unsqueeze(0))
    c = torch.nn.functional.interpolate(content.unsqueeze(0), size=(384, 384), mode="bilinear", align_corners=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    pred = ort.InferenceSession(str(magenta_weights["predictor"]), options)
    trans = ort.InferenceSession(str(magenta_weights["transformer"]), options)
    e_ref = pred.run(None, {pred.get_inputs()[0].name: s.permute(0, 2, 3, 1).numpy()})[0]
    names = [i.name for i in trans.get_inputs()]
    out_ref = trans.run(None, {names[0]: c.permute(0, 2, 3, 1).numpy(), names[1]: e_ref})[0]
    with torch.inference_mode():
        e = nets.load_predictor(magenta_weights["predictor"])(s)
        out = nets.load_transformer(magenta_weights["transformer"])(c, torch.from_numpy(e_ref).permute(0, 3, 1, 2))
    e_ref = e_ref.ravel()
    # the reference quantises every activation to int8; the port runs in float: close, not equal
    assert np.abs(e.numpy().ravel() - e_ref).max() < 0.05 * np.abs(e_ref).max()
    assert np.corrcoef(e.numpy().ravel(), e_ref)[0, 1] > 0.999
    diff = np.abs(out.permute(0, 2, 3, 1).numpy() - out_ref)
    assert diff.mean() < 0.05
    assert np.corrcoef(out.numpy().ravel(), out_ref.transpose(0, 3, 1, 2).ravel())[0, 1] > 0.97


def _random_nets(monkeypatch):
    torch.manual_seed(0)
    # a random MobileNet gives nearly the same embedding for every image: a stand-in predictor (a linear map
    # of the mean colour) makes the style matter, and the transformer's style convs are scaled up likewise
    pred = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(3, nets.EMBEDDING, 1)).eval()
    trans = nets.StyleTransformer().eval()
    with torch.no_grad():
        pred[1].weight.mul_(20)
        for name, p in trans.named_parameters():
            if ".gamma." in name or ".beta." in name:
                p.mul_(10)
    monkeypatch.setattr(magenta, "load_predictor", lambda source=None: pred)
    monkeypatch.setattr(magenta, "load_transformer", lambda source=None: trans)
    return pred, trans


def test_blend_alpha_and_masks(monkeypatch, one_thread):
    pred, trans = _random_nets(monkeypatch)
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 30, 42, generator=g)  # not a multiple of 4: padded and cropped inside
    a, b = torch.rand(3, 40, 40, generator=g), torch.rand(3, 48, 32, generator=g)

    def run(styles, **kw):
        return methods.build(styles, methods.StylizeOptions(method="magenta", device="cpu", **kw))(content)

    only_a = run([a])
    assert only_a.shape == content.shape
    assert torch.allclose(run([a, b], style_blend=[1.0, 0.0]), only_a, atol=1e-6)
    with torch.inference_mode():
        e_a, e_b = pred(magenta.style_input(a[None])), pred(magenta.style_input(b[None]))
        half = magenta.stylize_padded(trans, content, 0.5 * e_a + 0.5 * e_b)
        own = magenta.stylize_padded(trans, content, pred(magenta.style_input(content)))
    assert torch.allclose(run([a, b]), half, atol=1e-5)
    assert torch.allclose(run([a], alpha=0.0), own, atol=1e-5)  # alpha 0: the content's own style
    assert not torch.allclose(own, only_a, atol=1e-3)
    left = torch.zeros(1, 30, 42)
    left[..., :21] = 1
    masked = run([a, b], masks=[left, 1 - left])
    only_b = run([b])
    assert torch.allclose(masked[..., :20], only_a[..., :20], atol=1e-5)
    assert torch.allclose(masked[..., 22:], only_b[..., 22:], atol=1e-5)


@pytest.mark.parametrize("preserve_color", ["luminance", "histogram"])
def test_bf16_with_colour_preservation(monkeypatch, one_thread, preserve_color):
    """Issue 16: ``--bf16 --preserve-color luminance`` crashed in the antialiased resize of the style image, which
    the colour transform had turned bf16. Colour handling stays float32; only the networks run in bf16."""
    _random_nets(monkeypatch)
    g = torch.Generator().manual_seed(2)
    content, style = torch.rand(1, 3, 30, 42, generator=g), torch.rand(3, 40, 40, generator=g)

    def run(bf16):
        opts = methods.StylizeOptions(method="magenta", device="cpu", preserve_color=preserve_color, bf16=bf16)
        return methods.build([style], opts)(content)

    fp32, bf16 = run(False), run(True)
    assert bf16.dtype == torch.float32 and bf16.shape == content.shape
    assert (bf16 - fp32).abs().mean() < 0.02


def test_style_norm_sets_statistics(one_thread):
    """Conditional instance norm: every output channel has mean beta(e) and std gamma(e)."""
    norm = AdaIN(4, style_dim=3)
    x, e = torch.randn(2, 4, 16, 16) * 5 + 3, torch.randn(2, 3, 1, 1)
    out = norm(x, e)
    assert torch.allclose(out.mean((2, 3)), norm.beta(e).flatten(1), atol=1e-4)
    assert torch.allclose(out.std((2, 3), unbiased=False), norm.gamma(e).flatten(1).abs(), atol=1e-3)


def test_converter_rejects_other_files(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not a readable ONNX file"):
        nets.convert_onnx(bad)


def test_cli_stylize(magenta_weights, shared_data, tmp_path, one_thread):
    from pixforge.cli import main

    out = tmp_path / "out.png"
    result = CliRunner().invoke(main, ["stylize", str(shared_data / "content" / "tubingen.jpg"),
                                       str(shared_data / "style" / "the_scream.jpg"), "--method", "magenta",
                                       "--size", "128", "-o", str(out)])
    assert result.exit_code == 0, result.output
    img = io.read_image(out)
    assert max(img.shape[-2:]) == 128
    assert 0.05 < img.std() < 0.5  # a picture, not a flat colour


def test_tiled_close_to_untiled(magenta_weights, shared_data, one_thread):
    """--tile: bounded memory; instance norm sees one tile at a time, so close to the whole-image result, not equal."""
    content = io.read_image(shared_data / "content" / "tubingen.jpg", size=320)[None]
    style = io.read_image(shared_data / "style" / "starry_night.jpg", size=256)
    whole = methods.build([style], methods.StylizeOptions(method="magenta", device="cpu"))(content)
    tiles = methods.build([style], methods.StylizeOptions(method="magenta", device="cpu", tile=160))(content)
    assert tiles.shape == whole.shape
    assert (tiles - whole).abs().mean() < 0.06
    with pytest.raises(Exception, match="--tile and --mask"):
        methods.build([style], methods.StylizeOptions(method="magenta", tile=160, masks=[torch.ones(1, 8, 8)]))
