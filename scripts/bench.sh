#!/usr/bin/env bash
# Reproduces the README's performance figures in one run on this machine:
#   1. the runner benchmark (forward pass per shape, with a plain matmul as yardstick),
#   2. this server (release build) started from a warm cache: start-up time to a healthy /health,
#      loads A, B and I through HTTP with the load generator, then load C against a fresh
#      server (peak RSS during C, and how many cores the server kept busy),
#   3. the same loads against the FastAPI + sentence-transformers baseline
#      (benches/baseline_server.py) on the same model snapshot, when --baseline is given
#      (it installs the baseline's Python packages into target/baseline-python).
# Usage: scripts/bench.sh [--quick] [--baseline]   (--quick: a tenth of the requests)
# Features as in scripts/test.sh (EMBEDDINGS_FEATURES, default the pure-Rust build; mkl opts in).
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
seconds=2
baseline=
for arg in "$@"; do
    case "$arg" in
        --quick) scale=0.1; seconds=0.5 ;;
        --baseline) baseline=1 ;;
        *) echo "usage: scripts/bench.sh [--quick] [--baseline]" >&2; exit 2 ;;
    esac
done
. scripts/features.sh
python3 scripts/fetch-test-model.py >/dev/null
cache="$PWD/target/test-hf-home/hub"
snapshot="$cache/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/$(cat "$cache/models--sentence-transformers--all-MiniLM-L6-v2/refs/main")"
if [ -n "$baseline" ] && ! target/baseline-python/bin/python -c 'import sentence_transformers, fastapi, uvicorn' 2>/dev/null; then
    python3 -m venv target/baseline-python
    target/baseline-python/bin/pip install -q --disable-pip-version-check -r benches/baseline-requirements.txt
fi
cargo build --release --locked "${features[@]}" --bin embeddings >/dev/null 2>&1
cargo bench --locked "${features[@]}" --no-run >/dev/null 2>&1

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, features: ${EMBEDDINGS_FEATURES:-none}"
echo
cargo bench --locked "${features[@]}" --bench runner -- --seconds "$seconds" 2>/dev/null

port=18445
models=$(mktemp)
echo "sentence-transformers/all-MiniLM-L6-v2" >"$models"
server_pid=
start() {
    local started
    started=$(date +%s%N)
    if [ "$1" = embeddings ]; then
        HF_HUB_CACHE="$cache" HF_HUB_OFFLINE=1 RUST_LOG=warn \
            target/release/embeddings serve --port "$port" --models-file "$models" &
    else
        HF_HUB_OFFLINE=1 target/baseline-python/bin/python benches/baseline_server.py "$snapshot" "$port" 2>/dev/null &
    fi
    server_pid=$!
    for _ in $(seq 1 6000); do
        if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
            echo "$1: start-up to a healthy /health: $(( ($(date +%s%N) - started) / 1000000 )) ms"
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
        --url "http://127.0.0.1:$port/v1" --scale "$scale" --loads "$1" 2>/dev/null
}
measure() {
    echo
    start "$1"
    loadgen A,B,I
    stop
    start "$1"
    local ticks began busy
    ticks=$(cpu_ticks); began=$(date +%s%N)
    loadgen C | tail -n 1
    busy=$(awk -v t="$(( $(cpu_ticks) - ticks ))" -v hz="$(getconf CLK_TCK)" -v ns="$(( $(date +%s%N) - began ))" \
        'BEGIN { printf "%.2f", (t / hz) / (ns / 1e9) }')
    echo "$1 during C: peak RSS $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$server_pid/status"), cores busy $busy of $(nproc)"
    stop
}
measure embeddings
if [ -n "$baseline" ]; then
    measure baseline
fi
