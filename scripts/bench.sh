#!/usr/bin/env bash
# Reproduces the README's performance figures in one run on this machine:
#   1. the runner benchmark (forward pass per shape, float32 and bfloat16, with a plain matmul
#      as the roof),
#   2. this server (release build) started from a warm cache, once per number format
#      (--dtype float32, then bfloat16): start-up time to a
#      healthy /health, loads A, B and I through HTTP with the load generator, then load C
#      against a fresh server (peak RSS during C, and how many cores the server kept busy); the
#      load generator measures the float32 roof itself just before and reports each load's share,
#      (with the exact-repeat cache off, so that every text is computed), then load R (half of
#      each request repeated from before) with the cache off and on,
#   3. the same loads against the FastAPI + sentence-transformers baseline
#      (benches/baseline_server.py) on the same model snapshot, when --baseline is given
#      (it installs the baseline's Python packages into target/baseline-python), then torch's
#      float32 / bfloat16 GEMM roofs and sentence-transformers in-process on load C's texts,
#      float32 and under bfloat16 autocast (benches/torch_reference.py).
# Usage: scripts/bench.sh [--quick] [--baseline] [--model minilm|mpnet] [--cpu-kernels avx512|avx2|portable]
#   --quick: a tenth of the requests; --model mpnet: all-mpnet-base-v2, loads C and I only, at a
#   quarter of the requests (its forward pass is 8x MiniLM's); --cpu-kernels: cap our kernels'
#   instruction set (the runner benchmark and the server), to time the AVX2 kernels on an AVX-512
#   CPU; with avx2, torch (MKL, oneDNN, ATen) in the baseline and the reference is capped to AVX2
#   as well. candle's gemm, the in-process roof, is not capped.
# Features as in scripts/test.sh (EMBEDDINGS_FEATURES, default the pure-Rust build; mkl opts in).
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
seconds=2
baseline=
model=minilm
kernels=auto
usage="usage: scripts/bench.sh [--quick] [--baseline] [--model minilm|mpnet] [--cpu-kernels avx512|avx2|portable]"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) scale=0.1; seconds=0.5 ;;
        --baseline) baseline=1 ;;
        --model) model="${2:-}"; shift ;;
        --cpu-kernels) kernels="${2:-}"; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
case "$model" in
    minilm) repo=sentence-transformers/all-MiniLM-L6-v2; first_loads=A,B,I ;;
    mpnet) repo=sentence-transformers/all-mpnet-base-v2; first_loads=I; scale=$(awk -v s="$scale" 'BEGIN { print s / 4 }') ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
. scripts/features.sh
python3 scripts/fetch-test-model.py >/dev/null
cache="$PWD/target/test-hf-home/hub"
repo_dir="$cache/models--${repo//\//--}"
snapshot="$repo_dir/snapshots/$(cat "$repo_dir/refs/main")"
if [ -n "$baseline" ] && ! target/baseline-python/bin/python -c 'import sentence_transformers, fastapi, uvicorn' 2>/dev/null; then
    python3 -m venv target/baseline-python
    target/baseline-python/bin/pip install -q --disable-pip-version-check -r benches/baseline-requirements.txt
fi
cargo build --release --locked "${features[@]}" --bin embeddings >/dev/null 2>&1
cargo bench --locked "${features[@]}" --no-run >/dev/null 2>&1

export EMBEDDINGS_CPU_KERNELS="$kernels"
if [ "$kernels" = avx2 ]; then
    # The peers as on an AVX2 CPU too: MKL's GEMM, oneDNN and ATen's kernels capped to AVX2.
    export MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
fi
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_bf16|amx_tile' | xargs)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, flags: $flags, features: ${EMBEDDINGS_FEATURES:-none}, --cpu-kernels $kernels"
echo
cargo bench --locked "${features[@]}" --bench runner -- --model "$model" --seconds "$seconds" --cpu-kernels "$kernels" 2>/dev/null

port=18445
models=$(mktemp)
echo "$repo" >"$models"
server_pid=
start() {
    local started
    started=$(date +%s%N)
    if [ "$1" != baseline ]; then
        HF_HUB_CACHE="$cache" HF_HUB_OFFLINE=1 RUST_LOG=warn \
            target/release/embeddings serve --port "$port" --models-file "$models" --dtype "$1" \
            --cache-bytes "${cache_bytes:-0}" &
    else
        HF_HUB_OFFLINE=1 target/baseline-python/bin/python benches/baseline_server.py "$snapshot" "$port" 2>/dev/null &
    fi
    server_pid=$!
    for _ in $(seq 1 6000); do
        if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
            echo "$1: start-up to a healthy /health: $(( ($(date +%s%N) - started) / 1000000 )) ms"
            if [ "$1" != baseline ]; then
                echo "$1 kernels: $(curl -fs "http://127.0.0.1:$port/v1/models" | grep -o '"kernels":"[^"]*"' | head -1)"
            fi
            return
        fi
        sleep 0.01
    done
    echo "$1 did not become healthy" >&2
    exit 1
}
stop() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap 'stop; rm -f "$models"' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
loadgen() {
    cargo bench --locked "${features[@]}" --bench loadgen -- \
        --url "http://127.0.0.1:$port/v1" --model "$repo" --config "$snapshot/config.json" \
        --scale "$scale" --loads "$1" 2>/dev/null
}
measure() {
    echo
    start "$1"
    loadgen "$first_loads"
    stop
    start "$1"
    local ticks began busy
    ticks=$(cpu_ticks); began=$(date +%s%N)
    loadgen C | grep -E "^(# float32 roof|\| C)"
    busy=$(awk -v t="$(( $(cpu_ticks) - ticks ))" -v hz="$(getconf CLK_TCK)" -v ns="$(( $(date +%s%N) - began ))" \
        'BEGIN { printf "%.2f", (t / hz) / (ns / 1e9) }')
    echo "$1 during C: peak RSS $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$server_pid/status"), cores busy $busy of $(nproc)"
    stop
}
measure float32
echo
echo "load R (half of every request sent before), float32, exact-repeat cache off and on (64 MiB):"
for cache_bytes in 0 67108864; do
    start float32
    loadgen R | grep -E "^\| R" | sed "s/^/cache-bytes $cache_bytes: /"
    stop
done
cache_bytes=0
measure bfloat16
if [ -n "$baseline" ]; then
    measure baseline
    echo
    # torch's GEMM roofs and sentence-transformers in-process on load C's texts, same run.
    HF_HUB_OFFLINE=1 target/baseline-python/bin/python benches/torch_reference.py "$snapshot" --scale "$scale"
fi
