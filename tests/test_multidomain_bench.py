"""The multi-domain translation benchmark's bookkeeping: which finished records count (no training)."""
import copy
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "multidomain.py"


@pytest.fixture(scope="module")
def bench():
    return SimpleNamespace(**runpy.run_path(str(SCRIPT), run_name="multidomain_bench"))


def test_records_of_other_settings_are_left_out(bench, tmp_path):
    wanted = bench.request(bench.config("funit", 1, tmp_path / "funit-s1")[1])
    assert wanted["loop"]["steps"] == bench.EXPERIMENTS["funit"]["settings"]["loop.steps"]
    assert "out" not in wanted["loop"]
    older = copy.deepcopy(wanted)  # made before a config field was added: still the same settings
    del older["ema"]
    smoke = copy.deepcopy(wanted)  # another budget
    smoke["loop"]["steps"] = 120
    records = [{"seed": 1, "request": wanted}, {"seed": 1, "request": older}, {"seed": 1, "request": smoke},
               {"seed": 1}]
    assert bench.current("funit", records, tmp_path) == records[:2]
    assert bench.same_settings({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}, "d": 3})
    assert not bench.same_settings({"a": {"b": 1}}, {"a": {"b": 2}})
