#!/usr/bin/env bash
# Builds the CUDA variant (no GPU needed) and checks how its binary behaves on a machine
# without a GPU: `--device auto` falls back to the CPU and serves, `--device cuda` exits with a
# clear error. Installs Debian's nvcc when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-cuda-toolkit.sh
python3 scripts/fetch-test-model.py >/dev/null
CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}" cargo build --release --locked --features cuda --target-dir target/cuda
binary=target/cuda/release/embeddings
models=$(mktemp)
trap 'rm -f "$models" "$models.err" "$models.out"' EXIT
echo "sentence-transformers/all-MiniLM-L6-v2" >"$models"
export HF_HUB_CACHE="$PWD/target/test-hf-home/hub" HF_HUB_OFFLINE=1

set +e
timeout 60 "$binary" serve --port 0 --device cuda --models-file "$models" 2>"$models.err"
status=$?
set -e
if [ "$status" = 124 ]; then
    echo "check-cuda-build: a GPU is present and --device cuda served until stopped"
    exit 0
fi
grep -q "no usable CUDA GPU" "$models.err" || { cat "$models.err" >&2; exit 1; }
echo "check-cuda-build: --device cuda without a GPU: $(grep '^error:' "$models.err")"
rm -f "$models.err"

"$binary" embed --device auto --models-file "$models" --model all-MiniLM-L6-v2 "hello" >"$models.out" 2>"$models.err"
grep -q '"object":"list"' "$models.out" || { cat "$models.err" >&2; exit 1; }
grep -q "falling back to the CPU" "$models.err" || { echo "expected a CPU fallback warning" >&2; cat "$models.err" >&2; exit 1; }
rm -f "$models.out" "$models.err"
echo "check-cuda-build: --device auto fell back to the CPU and embedded"
