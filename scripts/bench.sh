#!/usr/bin/env bash
# Reproduces the README's performance figures in one run on this machine:
#   1. the runner benchmark (forward pass per shape, with a plain matmul as yardstick),
#   2. the release server started from a warm cache (start-up time to a healthy /health),
#   3. loads A, B and I through HTTP with the load generator, and load C against a fresh server
#      (peak RSS during C, and how many cores the server kept busy).
# Usage: scripts/bench.sh [--quick]   (--quick: a tenth of the requests, for a smoke run)
# Features as in scripts/test.sh (EMBEDDINGS_FEATURES, default mkl on x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
seconds=2
if [ "${1:-}" = --quick ]; then scale=0.1; seconds=0.5; fi
if [ -z "${EMBEDDINGS_FEATURES+set}" ]; then
    if [ "$(uname -m)" = x86_64 ]; then EMBEDDINGS_FEATURES=mkl; else EMBEDDINGS_FEATURES=; fi
fi
features=()
if [ -n "$EMBEDDINGS_FEATURES" ]; then
    features=(--features "$EMBEDDINGS_FEATURES")
    case ",$EMBEDDINGS_FEATURES," in *,mkl,*) scripts/install-mkl.sh ;; esac
fi
python3 scripts/fetch-test-model.py >/dev/null
cargo build --release --locked "${features[@]}" --bin embeddings >/dev/null 2>&1
cargo bench --locked "${features[@]}" --no-run >/dev/null 2>&1

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, features: ${EMBEDDINGS_FEATURES:-none}"
echo
cargo bench --locked "${features[@]}" --bench runner -- --seconds "$seconds" 2>/dev/null

port=18445
models=$(mktemp)
echo "sentence-transformers/all-MiniLM-L6-v2" >"$models"
server_pid=
start_server() {
    local started=$(date +%s%N)
    HF_HUB_CACHE="$PWD/target/test-hf-home/hub" HF_HUB_OFFLINE=1 RUST_LOG=warn \
        target/release/embeddings serve --port "$port" --models-file "$models" &
    server_pid=$!
    for _ in $(seq 1 600); do
        if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
            echo "start-up from a warm cache to a healthy /health: $(( ($(date +%s%N) - started) / 1000000 )) ms"
            return
        fi
        sleep 0.01
    done
    echo "server did not become healthy" >&2
    exit 1
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap 'stop_server; rm -f "$models"' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
loadgen() {
    cargo bench --locked "${features[@]}" --bench loadgen -- \
        --url "http://127.0.0.1:$port/v1" --scale "$scale" --loads "$1" 2>/dev/null
}

echo
start_server
loadgen A,B,I
stop_server
echo
start_server
ticks=$(cpu_ticks); began=$(date +%s%N)
loadgen C | tail -n 1
busy=$(awk -v t="$(( $(cpu_ticks) - ticks ))" -v hz="$(getconf CLK_TCK)" -v ns="$(( $(date +%s%N) - began ))" \
    'BEGIN { printf "%.2f", (t / hz) / (ns / 1e9) }')
echo "during C: peak RSS $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$server_pid/status"), cores busy $busy of $(nproc)"
