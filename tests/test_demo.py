"""`pixforge demo` end to end on a tiny budget (the real demo is `make demo`)."""
from __future__ import annotations

from click.testing import CliRunner

from pixforge import io


def test_demo_writes_both_stylisations(tmp_path, hed_weights, magenta_weights):
    from pixforge.cli import main

    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--steps", "4", "--size", "96", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert all(name in last for name in ("result.png", "magenta.png", "side_by_side.png")), last
    gatys, magenta = io.read_image(out / "result.png"), io.read_image(out / "magenta.png")
    assert gatys.shape == magenta.shape and max(gatys.shape[-2:]) == 96
    assert magenta.std() > 0.05
    panel = io.read_image(out / "side_by_side.png")
    assert panel.shape[-1] > 3 * panel.shape[-2]  # content | style | Gatys | magenta
    from pixforge import weights

    if weights.is_present("cyclegan-vintage"):  # `make weights` fetches it; then the demo shows a translation too
        assert "translated.png" in last and "CycleGAN vintage" in last
        vintage = io.read_image(out / "translated.png")
        assert vintage.shape[-2:] == gatys.shape[-2:] and vintage.std() > 0.05
        assert panel.shape[-1] > 4 * panel.shape[-2]
    else:
        assert "cyclegan-vintage: skipped" in result.output
