# `make run` and `make test` set everything up from nothing (Debian packages when root, the
# virtual environment, the package itself) and then start the app or run the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# llama.cpp's default -march=native build enables Intel AMX kernels that crash on some CPUs;
# this portable AVX2 build works on any x86-64 machine from the last decade.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 \
	libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 \
	libfontconfig1 libdbus-1-3 desktop-file-utils appstream
PYTEST_ARGS ?=

.PHONY: setup system-deps run lint test test-fast bench package icons clean

setup: system-deps $(STAMP)

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: not a Debian/Ubuntu system; install Tesseract OCR (and Xvfb for the GUI tests) with your package manager" >&2; exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
		echo "installing system packages:$$missing" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "missing system packages:$$missing" >&2; \
		echo "run: sudo apt-get install$$missing   (then run make again)" >&2; exit 1; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

run: setup
	$(VENV)/bin/imgrag-desktop

# Style and types first: seconds, where the suite takes many minutes. The layer rules
# (.importlinter) run inside the suite, in tests/test_architecture.py.
lint: setup
	$(VENV)/bin/ruff check imgrag_desktop tests
	$(VENV)/bin/mypy imgrag_desktop

test: setup lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not bundle" $(PYTEST_ARGS)

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not bundle and not slow" -x $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/imgrag bench

# A one-folder PyInstaller bundle in dist/imgrag-desktop/, then its smoke test (slow).
package: setup
	$(PY) -m pip install -q "pyinstaller>=6.10"
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/imgrag-desktop.spec
	IMGRAG_BUNDLE_DIST=dist QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m bundle tests/packaging -p no:cacheprovider

# Re-render the PNG icons from the SVG (needs Debian's librsvg2-bin).
icons:
	for s in 16 32 48 64 128 256 512; do rsvg-convert -w $$s -h $$s resources/icons/imgrag-desktop.svg \
		-o resources/icons/png/imgrag-desktop-$$s.png; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
