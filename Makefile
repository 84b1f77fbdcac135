# skysynth: common tasks. PY is the project's interpreter (make setup creates .venv).
PY ?= .venv/bin/python
SOURCE ?= work_data/demo_archive
OUT ?= work_data/shards
MASKS ?= work_data/masks
SIZE ?=
DOWNSCALE ?=
GCD ?= ../shared/data/gcd/train

.PHONY: setup test browser serve lint prep-data prep-gcd demo train-vqvae train-maskgit train-upscaler outpaint-example

# A clean clone has no .venv: the first `make test` (or `make setup`) creates it.
.venv/bin/python:
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q torch==2.13.0
	.venv/bin/pip install -q -e ".[test,eval]"

setup: .venv/bin/python

# Every test runs on one thread (tests/conftest.py), so two workers fill CI's two cores.
test: $(PY) browser
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2

# The web page's end-to-end test drives Debian's Chromium (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium is missing: install Debian's chromium for the browser test"

serve:
	$(PY) -m skysynth.serve

lint:
	$(PY) -m ruff check .

prep-data:
	$(PY) -m data_prep.prepare source=$(SOURCE) out=$(OUT) masks=$(MASKS) demo=$(if $(filter work_data/demo_archive,$(SOURCE)),true,false) \
		$(if $(SIZE),size=$(SIZE)) $(if $(DOWNSCALE),downscale=$(DOWNSCALE))

# The GCD photos -> work_data/gcd_shards, which the gcd_* experiments and the eval read.
prep-gcd:
	$(PY) -m data_prep.shards source=$(GCD) out=work_data/gcd_shards

demo:
	$(PY) -m data_prep.demo_archive out=work_data/demo_archive

train-vqvae:
	$(PY) -m skysynth.train model=vqvae experiment=gcd_vqvae

train-maskgit:
	$(PY) -m skysynth.train model=maskgit experiment=gcd_maskgit

train-upscaler:
	$(PY) -m skysynth.train model=upscaler experiment=gcd_upscaler

outpaint-example:
	$(PY) -m skysynth.outpaint input=examples/sky.jpg output=examples/sky_outpainted.png size=[448,224]
