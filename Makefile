# The two commands of the README:
#   make demo   set up everything, make a toy dataset, train a tiny model on CPU, generate a video
#   make test   set up everything (with the face extra and test tools) and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# Installed without its dependency list (see setup.py: POSE); the pose extra brings the light ones.
MEDIAPIPE := mediapipe==0.10.14

.PHONY: demo test test-fast lint bench clean-demo mediapipe

$(VENV)/.base: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test,face,pose]'
	$(PY) -m pip install -q --no-deps $(MEDIAPIPE)
	touch $@

# The MediaPipe back-end alone (scripts/prepare_video.py, test.py --input_video for pose and face).
$(VENV)/.mediapipe: $(VENV)/.base
	$(PY) -m pip install -q -e '.[pose]'
	$(PY) -m pip install -q --no-deps $(MEDIAPIPE)
	touch $@

mediapipe: $(VENV)/.mediapipe

demo: $(VENV)/.base
	$(PY) scripts/demo.py

test: $(VENV)/.test
	$(PY) -m pytest -q

test-fast: $(VENV)/.test
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .

bench: $(VENV)/.base
	$(PY) bench/networks.py && $(PY) bench/flow.py && $(PY) bench/train.py && $(PY) bench/inference.py

clean-demo:
	rm -rf datasets/toy checkpoints/demo results/demo
