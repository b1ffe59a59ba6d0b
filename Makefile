# s2s_plugin: the two commands of the README.
#   make demo   install if needed, then run the embedded recipe end to end
#   make test   install if needed, then run every test
# Other targets: make install | make lint | make bench | make clean-venv
SHELL := /bin/bash
VENV := tools/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.s2s_stamps/stack
PYTEST_ARGS ?=

.PHONY: demo test install lint bench clean-venv

install: $(STAMP)

$(STAMP): tools/install.sh tools/requirements.txt tools/constraints.txt setup.py
	bash tools/install.sh
	touch $(STAMP)

demo: install
	source $(VENV)/bin/activate && cd egs/mini_s2st/s2st1 && ./run.sh
	@echo "results: egs/mini_s2st/s2st1/exp/s2st_scheduled/RESULTS.md, listening page: egs/mini_s2st/s2st1/exp/s2st_scheduled/listen/index.html"

test: install
	source $(VENV)/bin/activate && python -m pytest test $(PYTEST_ARGS)

lint: install
	source $(VENV)/bin/activate && python -m pytest test/utils/test_shellcheck.py -q

bench: install
	source $(VENV)/bin/activate && for b in bench/[!_]*.py; do echo "== $$b"; python "$$b" || exit 1; done

clean-venv:
	rm -rf $(VENV)
