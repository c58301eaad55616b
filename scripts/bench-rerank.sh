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
. scripts/bench-baseline.sh
bf16=()
grep -qw avx512_bf16 /proc/cpuinfo && bf16=(--bf16)
HF_HUB_OFFLINE=1 RUST_LOG=warn "$python" benches/rerank.py "$snapshot" target/release/embeddings "${bf16[@]}" "$@"
