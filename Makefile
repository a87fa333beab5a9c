.PHONY: demo test venv

# Runs the platform with the example deployment on the embedded default (SQLite, local processes).
demo: venv
	bash scripts/demo.sh

# Installs what the tests need and runs ruff, mypy --strict and the whole pytest suite.
test:
	bash scripts/test.sh

venv:
	bash scripts/venv.sh
