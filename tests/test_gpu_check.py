"""benchmarks/gpu_check.py (`make gpu-check`) is safe where there is no GPU: one line, exit 0."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_without_cuda_prints_one_line_and_exits_0(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: `make gpu-check` runs the timings themselves")
    gpu_check = runpy.run_path(str(ROOT / "benchmarks" / "gpu_check.py"), run_name="gpu_check")
    assert gpu_check["main"]([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gpu-check: no CUDA GPU found") and out.count("\n") == 1
