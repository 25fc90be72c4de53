"""The METHODS, DATASETS and METRICS registries: what each method declares, per-method options in the Python
API, adding a method in a few lines, datasets and metrics by name."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pixforge.errors import BadInputError, ConfigError
from pixforge.registry import DATASETS, METHODS, METRICS
from pixforge.style import methods
from pixforge.style.methods import StylizeOptions

pytestmark = pytest.mark.usefixtures("one_thread")
ALL_METHODS = ["gatys", "fast", "cin", "adain", "wct", "photowct", "swap", "magenta"]


def test_every_method_is_registered_with_its_options_and_style_count():
    assert sorted(METHODS.list()) == sorted(methods.available()) == sorted(ALL_METHODS)  # (order: import order)
    fields = {f.name for f in dataclasses.fields(StylizeOptions)}
    for name in ALL_METHODS:
        meta = METHODS.meta(name)
        assert set(meta["options"]) <= fields and not set(meta["options"]) & set(methods.COMMON)
        assert callable(METHODS.get(name)) and meta["summary"]
    assert METHODS.meta("fast")["styles"] == METHODS.meta("cin")["styles"] == (0, 0)
    assert all(METHODS.meta(m)["styles"] == (1, None) for m in ALL_METHODS if m not in ("fast", "cin"))
    assert "tile" in methods.options_of("magenta") and "tile" not in methods.options_of("gatys")
    assert "steps" in methods.options_of("gatys") and "steps" not in methods.options_of("adain")


@pytest.mark.parametrize("method, option, value", [("gatys", "tile", 64), ("gatys", "alpha", 0.5),
                                                   ("magenta", "steps", 10), ("adain", "model", "x"),
                                                   ("fast", "preserve_color", "luminance"), ("swap", "smooth", False),
                                                   ("wct", "patch_size", 5), ("cin", "masks", [torch.ones(1, 4, 4)])])
def test_an_option_the_method_does_not_read_is_an_error_in_the_python_api(method, option, value):
    style = [torch.rand(3, 32, 32)] if METHODS.meta(method)["styles"][0] else []
    kw = {"model": "m", **{option: value}} if "model" in methods.options_of(method) else {option: value}
    flag = methods.flag(option)
    with pytest.raises(ConfigError, match=f"^{flag} is not an option of --method {method} \\(its options: "):
        methods.stylize(torch.rand(3, 32, 32), style, method=method, **kw)
    with pytest.raises(ConfigError, match=f"{flag} is not an option of --method {method}"):
        methods.build(style, StylizeOptions(method=method, **kw))


def test_options_left_at_their_defaults_are_not_errors():
    opts = StylizeOptions(method="magenta", alpha=1, steps=500, style_layers=list(StylizeOptions().style_layers))
    assert methods.changed_options(opts) == ["method"]
    methods.validate(opts, 1)
    with pytest.raises(ConfigError, match="--steps is not an option"):  # unless the user set them explicitly
        methods.validate(opts, 1, given=["steps"])


def test_a_new_method_is_a_few_lines():
    @methods.register("invert-test", options=("alpha",), styles=(0, 0), summary="1 - image, alpha-blended")
    def build_invert(styles, opts):
        return lambda batch: opts.alpha * (1 - batch) + (1 - opts.alpha) * batch

    try:
        x = torch.rand(3, 20, 24)
        assert torch.allclose(methods.stylize(x, [], method="invert-test", alpha=1.0), 1 - x)
        assert torch.allclose(methods.stylize(x, [], method="invert-test", alpha=0.25), 0.25 + 0.5 * x)
        with pytest.raises(ConfigError, match="--tile is not an option of --method invert-test"):
            methods.stylize(x, [], method="invert-test", tile=32)
        with pytest.raises(ConfigError, match="takes no STYLE image"):
            methods.stylize(x, [x], method="invert-test")
        with pytest.raises(ValueError, match="not StylizeOptions fields"):
            methods.register("typo-test", options=("alpah",))
    finally:
        METHODS.unregister("invert-test")


def test_seeded_random_weight_methods_repeat():
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(3, 32, 32, generator=g), torch.rand(3, 32, 32, generator=g)
    opts = dict(method="adain", vgg_weights="random", random_weights=True, device="cpu", progress=False)
    with pytest.warns(UserWarning):
        a = methods.stylize(content, [style], seed=3, **opts)
        b = methods.stylize(content, [style], seed=3, **opts)
        c = methods.stylize(content, [style], seed=4, **opts)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_schedule_shared_by_gatys_and_doodle():
    from pixforge.style.optimise import check_scales, schedule

    assert [(lv.hw, lv.steps) for lv in schedule((200, 300), 3, 100)] == [((50, 75), 33), ((100, 150), 33),
                                                                         ((200, 300), 34)]
    # doodle: every level runs all the steps; coarse levels under min_side are dropped, the full size is kept
    assert [(lv.hw, lv.steps) for lv in schedule((40, 64), 3, 10, min_side=12, per_level=True)] == \
        [((10, 16), 10), ((20, 32), 10), ((40, 64), 10)][1:]
    check_scales((64, 80), 2)
    with pytest.raises(ConfigError, match="--scales 3 is too many for a 80x64 px output.* at most 2 fit"):
        check_scales((64, 80), 3)


def test_gatys_and_doodle_use_the_one_optimiser(monkeypatch):
    from pixforge.style import doodle, gatys, optimise

    assert gatys.coarse_to_fine is optimise.coarse_to_fine and doodle.coarse_to_fine is optimise.coarse_to_fine
    assert not hasattr(gatys, "optimise") and not hasattr(doodle, "_optimise")


# ------------------------------------------------------------------------------------------------ datasets
def test_datasets_registry_kinds():
    assert DATASETS.list(kind="builtin") == ["digits", "mnist5k", "faces", "stacked-mnist"]
    assert DATASETS.list(kind="download") == ["mnist", "fashion-mnist", "cifar10", "horse2zebra", "monet2photo",
                                              "summer2winter_yosemite", "facades", "maps", "cityscapes", "edges2shoes",
                                              "div2k-valid", "set5", "set14", "bsd100", "urban100"]
    assert DATASETS.list(kind="mixture") == ["ring8", "grid25"]
    assert all(DATASETS.meta(n)["description"] for n in DATASETS.list())


def test_one_unknown_dataset_error():
    from pixforge.data import load_dataset
    from pixforge.metrics.modes import get_mixture

    known = ", ".join(DATASETS.list())
    with pytest.raises(BadInputError, match=f"^unknown dataset 'nope'; known: {known}; or give an image folder$"):
        load_dataset("nope")
    with pytest.raises(BadInputError, match=f"^unknown dataset 'nope'; known: {known}$"):
        get_mixture("nope")
    with pytest.raises(BadInputError, match="'digits' is not a 2D Gaussian mixture; mixtures: ring8, grid25"):
        get_mixture("digits")
    with pytest.raises(BadInputError, match="has no option size; it takes: n, seed"):
        load_dataset("ring8", size=3)


def test_mixture_datasets_sample_their_own_centres():
    points, modes = DATASETS.get("grid25")(n=100, seed=0)
    centres = DATASETS.get("grid25").centres
    assert points.shape == (100, 2) and np.abs(points.numpy() - centres[modes.numpy()]).max() < 5 * 0.05


# ------------------------------------------------------------------------------------------------ metrics
def test_metrics_registry():
    assert sorted(METRICS.list()) == ["diversity", "domain-fid", "fid", "is", "kid", "label-accuracy", "modes", "pr",
                                      "psnr", "ssim", "stats"]
    assert METRICS.meta("fid")["inputs"] == 2 and METRICS.meta("modes")["inputs"] == 1
    centres = DATASETS.get("ring8").centres
    report = METRICS.create("modes", samples=np.repeat(centres[:3], 2, axis=0), data="ring8")
    assert report["modes"] == 3 and report["total_modes"] == 8
    with pytest.raises(ConfigError, match="^unknown metric 'nope'; known: "):
        METRICS.get("nope")
    with pytest.raises(BadInputError, match="mode metrics need a 2D mixture \\(ring8, grid25\\) or stacked-mnist"):
        METRICS.create("modes", samples=centres, data="digits")
