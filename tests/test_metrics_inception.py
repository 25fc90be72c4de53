"""The FID Inception network: pytorch-fid's key layout and shapes, strict loading, quirks, forward shapes."""
from __future__ import annotations

import pytest
import torch

from pixforge import weights
from pixforge.errors import WeightsError
from pixforge.models.inception import FIDInceptionV3, create_inception


def conv(name, cin, cout, kh, kw=None):
    return [(name, cin, cout, kh, kw or kh)]


def block_a(p, cin, pool):
    return (conv(f"{p}.branch1x1", cin, 64, 1) + conv(f"{p}.branch5x5_1", cin, 48, 1)
            + conv(f"{p}.branch5x5_2", 48, 64, 5) + conv(f"{p}.branch3x3dbl_1", cin, 64, 1)
            + conv(f"{p}.branch3x3dbl_2", 64, 96, 3) + conv(f"{p}.branch3x3dbl_3", 96, 96, 3)
            + conv(f"{p}.branch_pool", cin, pool, 1))


def block_c(p, c7):
    return (conv(f"{p}.branch1x1", 768, 192, 1) + conv(f"{p}.branch7x7_1", 768, c7, 1)
            + conv(f"{p}.branch7x7_2", c7, c7, 1, 7) + conv(f"{p}.branch7x7_3", c7, 192, 7, 1)
            + conv(f"{p}.branch7x7dbl_1", 768, c7, 1) + conv(f"{p}.branch7x7dbl_2", c7, c7, 7, 1)
            + conv(f"{p}.branch7x7dbl_3", c7, c7, 1, 7) + conv(f"{p}.branch7x7dbl_4", c7, c7, 7, 1)
            + conv(f"{p}.branch7x7dbl_5", c7, 192, 1, 7) + conv(f"{p}.branch_pool", 768, 192, 1))


def block_e(p, cin):
    return (conv(f"{p}.branch1x1", cin, 320, 1) + conv(f"{p}.branch3x3_1", cin, 384, 1)
            + conv(f"{p}.branch3x3_2a", 384, 384, 1, 3) + conv(f"{p}.branch3x3_2b", 384, 384, 3, 1)
            + conv(f"{p}.branch3x3dbl_1", cin, 448, 1) + conv(f"{p}.branch3x3dbl_2", 448, 384, 3)
            + conv(f"{p}.branch3x3dbl_3a", 384, 384, 1, 3) + conv(f"{p}.branch3x3dbl_3b", 384, 384, 3, 1)
            + conv(f"{p}.branch_pool", cin, 192, 1))


def pytorch_fid_layout() -> dict[str, tuple]:
    """Keys and shapes of pt_inception-2015-12-05-6726825d.pth, written out from torchvision's Inception3
    (num_classes=1008, aux_logits=False), which pytorch-fid loads that file into strictly."""
    convs = (conv("Conv2d_1a_3x3", 3, 32, 3) + conv("Conv2d_2a_3x3", 32, 32, 3) + conv("Conv2d_2b_3x3", 32, 64, 3)
             + conv("Conv2d_3b_1x1", 64, 80, 1) + conv("Conv2d_4a_3x3", 80, 192, 3)
             + block_a("Mixed_5b", 192, 32) + block_a("Mixed_5c", 256, 64) + block_a("Mixed_5d", 288, 64)
             + conv("Mixed_6a.branch3x3", 288, 384, 3) + conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1)
             + conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3) + conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
             + block_c("Mixed_6b", 128) + block_c("Mixed_6c", 160) + block_c("Mixed_6d", 160) + block_c("Mixed_6e", 192)
             + conv("Mixed_7a.branch3x3_1", 768, 192, 1) + conv("Mixed_7a.branch3x3_2", 192, 320, 3)
             + conv("Mixed_7a.branch7x7x3_1", 768, 192, 1) + conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
             + conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1) + conv("Mixed_7a.branch7x7x3_4", 192, 192, 3)
             + block_e("Mixed_7b", 1280) + block_e("Mixed_7c", 2048))
    layout = {}
    for name, cin, cout, kh, kw in convs:
        layout[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            layout[f"{name}.bn.{stat}"] = (cout,)
    layout["fc.weight"], layout["fc.bias"] = (1008, 2048), (1008,)
    return layout


def random_fid_state(with_counters: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in pytorch_fid_layout().items():
        t = torch.rand(shape, generator=g) * 0.1
        state[key] = t + 0.5 if key.endswith("running_var") else t
        if with_counters and key.endswith("running_var"):
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    return state


def test_layout_and_parameter_count_match_pytorch_fid():
    model = FIDInceptionV3()
    own = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert own == pytorch_fid_layout()
    # torchvision documents inception_v3 (1000 classes, with AuxLogits) at 27,161,264 parameters. Its AuxLogits
    # hold 768*128 + 2*128 + 128*768*25 + 2*768 + 768*1000 + 1000 = 3,326,696; 8 more classes add 8*2048 + 8.
    assert sum(p.numel() for p in model.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049 == 23_850_960


@pytest.mark.parametrize("with_counters", [False, True])
def test_fid_weights_load_strictly(with_counters):
    state = random_fid_state(with_counters)
    model = FIDInceptionV3().load_fid_weights(state)
    assert model.backbone == "inception-fid"
    assert torch.equal(model.Mixed_7c.branch_pool.conv.weight, state["Mixed_7c.branch_pool.conv.weight"])
    assert torch.equal(model.Conv2d_1a_3x3.bn.running_var, state["Conv2d_1a_3x3.bn.running_var"])

    missing = dict(state)
    missing.pop("Mixed_6e.branch7x7dbl_5.bn.bias")
    with pytest.raises(WeightsError, match="lacks Mixed_6e.branch7x7dbl_5.bn.bias"):
        FIDInceptionV3().load_fid_weights(missing)
    extra = dict(state, **{"AuxLogits.fc.weight": torch.zeros(1008, 768)})
    with pytest.raises(WeightsError, match="unexpected"):
        FIDInceptionV3().load_fid_weights(extra)
    wrong = dict(state, **{"fc.weight": torch.zeros(1000, 2048)})
    with pytest.raises(WeightsError, match="fc.weight"):
        FIDInceptionV3().load_fid_weights(wrong)


def test_forward_gives_pool3_and_bias_free_logits():
    model = FIDInceptionV3().load_fid_weights(random_fid_state(False))
    x = torch.rand(2, 3, 40, 48) * 2 - 1  # any size: resized to 299 inside
    feats, logits = model(x)
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert (feats >= 0).all()  # average of ReLU outputs
    assert torch.allclose(logits, feats @ model.fc.weight.T)
    grey_feats, _ = model(x[:1, :1])  # grey input is repeated to 3 channels
    same, _ = model(x[:1, :1].expand(-1, 3, -1, -1))
    assert torch.allclose(grey_feats, same)


def test_tf_pooling_quirks():
    model = FIDInceptionV3()
    assert model.Mixed_7b.pool == "avg" and model.Mixed_7c.pool == "max"
    from pixforge.models.inception import _tf_avg_pool

    ones = torch.ones(1, 1, 5, 5)
    assert torch.equal(_tf_avg_pool(ones), ones)  # padded zeros are not averaged in


def test_registry_entry_and_offline_error(isolated_home):
    spec = weights.get_spec("inception-fid")
    assert spec.filename == "pt_inception-2015-12-05-6726825d.pth" and spec.sha256 == "6726825d"
    assert spec.url.endswith("/fid_weights/pt_inception-2015-12-05-6726825d.pth")
    with pytest.raises(WeightsError, match="pixforge weights import inception-fid"):
        create_inception()
