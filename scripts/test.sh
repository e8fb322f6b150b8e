#!/usr/bin/env bash
# The test command: lint, strict type checks, then the test suite (2 workers).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check .
python3 -m mypy qmpmodel
python3 -m pytest -q -n 2 "$@"
