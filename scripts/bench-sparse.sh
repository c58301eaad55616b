#!/usr/bin/env bash
# The README's SPLADE figures in one run on this machine (benches/sparse.py): this server's
# POST /embed_sparse through HTTP (release build) against sentence-transformers'
# SparseEncoder.encode in-process, on naver/splade-v3's shape (BERT-base, random weights), 64
# texts, float32, with torch's GEMM roof of the same run.
# Usage: scripts/bench-sparse.sh [--runs N]
# The Python side runs in target/baseline-python (benches/baseline-requirements.txt), made here
# when missing; EMBEDDINGS_BENCH_PYTHON names another interpreter with those packages.
# Features as in scripts/test.sh (EMBEDDINGS_FEATURES, default the pure-Rust build).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-baseline.sh
HF_HUB_OFFLINE=1 RUST_LOG=warn "$python" benches/sparse.py "$snapshot" target/release/embeddings "$@"
