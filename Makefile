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
	source $(VENV)/bin/activate && bash egs/mini_s2st/s2st1/demo.sh

test: install
	source $(VENV)/bin/activate && python -m pytest test $(PYTEST_ARGS)

lint: install
	shellcheck -x utils/*.sh egs/TEMPLATE/s2st1/*.sh egs/*/s2st1/*.sh egs/*/s2st1/local/*.sh

bench: install
	source $(VENV)/bin/activate && for b in bench/*.py; do echo "== $$b"; python "$$b" || exit 1; done

clean-venv:
	rm -rf $(VENV)
