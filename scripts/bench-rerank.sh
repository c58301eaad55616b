#!/usr/bin/env bash
# The README's rerank figures in one run on this machine (benches/rerank.py): this server's
# POST /rerank through HTTP (release build) against sentence-transformers' CrossEncoder.predict
# in-process, on the ms-marco-MiniLM-L6 shape (all-MiniLM-L6-v2's encoder with a random
# one-label head), one query x 100 documents, float32 and, where the CPU has AVX512_BF16,
# bfloat16, with torch's GEMM roofs of the same run.
# Usage: scripts/bench-rerank.sh [--runs N]
# The Python side runs in target/baseline-python (benches/baseline-requirements.txt), made here
# when missing; EMBEDDINGS_BENCH_PYTHON names another interpreter with those packages.
# Features as in scripts/test.sh (EMBEDDINGS_FEATURES, default the pure-Rust build).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/features.sh
python3 scripts/fetch-test-model.py >/dev/null
repo_dir="$PWD/target/test-hf-home/hub/models--sentence-transformers--all-MiniLM-L6-v2"
snapshot="$repo_dir/snapshots/$(cat "$repo_dir/refs/main")"
python="${EMBEDDINGS_BENCH_PYTHON:-target/baseline-python/bin/python}"
if ! "$python" -c 'import sentence_transformers, torch, safetensors' 2>/dev/null; then
    python3 -m venv target/baseline-python
    target/baseline-python/bin/pip install -q --disable-pip-version-check -r benches/baseline-requirements.txt
    python=target/baseline-python/bin/python
fi
cargo build --release --locked "${features[@]}" --bin embeddings >/dev/null 2>&1
bf16=()
grep -qw avx512_bf16 /proc/cpuinfo && bf16=(--bf16)
HF_HUB_OFFLINE=1 RUST_LOG=warn "$python" benches/rerank.py "$snapshot" target/release/embeddings "${bf16[@]}" "$@"
