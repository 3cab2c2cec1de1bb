# ftlab: the two commands a learner needs are `make run` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ftlab-installed

export FTLAB_PROFILE ?= pocket
export TOKENIZERS_PARALLELISM := false
ifeq ($(FTLAB_PROFILE),pocket)
# pocket never needs a hub: fail at once instead of 23-46 s of retries per missing file
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
endif

.PHONY: run test test-serial unit lab student bench pretrain clean-venv system assets

system:                  ## Debian packages the pocket profile needs (apt-get; sudo when not root)
	bash scripts/system_deps.sh

$(STAMP): pyproject.toml scripts/make_venv.sh | system
	bash scripts/make_venv.sh $(VENV)
	touch $(STAMP)

assets: system $(STAMP)  ## find (or download) and verify every asset once; one message if any is missing
	$(PY) -m ftlab.assets check --fetch

run: assets              ## execute every notebook headless -> runs/latest/
	$(PY) scripts/run_notebooks.py --out runs/latest

# Two pytest workers, each notebook whole on one of them (--dist loadfile), one torch thread each: on
# 2 cores that does about 1.33x the work per second of one worker with 2 threads, and two 2-thread
# processes at once would run many times slower. `make test-serial` is the one-worker alternative.
test: assets             ## unit tests + every notebook under nbval (2 workers x 1 thread)
	mkdir -p runs && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 FTLAB_THREADS=1 \
	  $(VENV)/bin/pytest -n 2 --dist loadfile --junitxml=runs/junit.xml

test-serial: assets      ## the same, one worker with the default threads
	mkdir -p runs && $(VENV)/bin/pytest --junitxml=runs/junit.xml

unit: $(STAMP)           ## unit tests only (fast)
	$(VENV)/bin/pytest tests

lab: $(STAMP)            ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks/

student: $(STAMP)        ## student copies (solutions removed, outputs cleared) in student/
	$(PY) -m ftlab.classroom notebooks student

bench: $(STAMP)          ## speed/memory benchmarks (print figures; never asserted in tests)
	$(PY) benchmarks/fit_overhead.py
	$(PY) benchmarks/lora.py
	$(PY) benchmarks/notebook_times.py

pretrain: $(STAMP)       ## rebuild the pocket checkpoints in data/pretrained/
	$(PY) -m ftlab.pretrain cnn
	$(PY) -m ftlab.pretrain vit

clean-venv:
	rm -rf $(VENV)
