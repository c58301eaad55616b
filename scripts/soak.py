#!/usr/bin/env python3
"""Soak test (not in CI): mixed load over every dialect and three models for a while, with a
memory budget that forces unloads and the exact-repeat cache on (or, with --distinct, every
vector computed on the kernels). Every answer is checked against
its sentence-transformers reference vector; the server's resident memory is sampled throughout.

    cargo build --release --locked
    python3 scripts/fetch-test-model.py
    python3 scripts/soak.py [--seconds 600] [--clients 6]
    python3 scripts/soak.py --distinct 3000 [--dtype bfloat16]

With --distinct N the run is about the kernels under sustained load instead: the exact-repeat
cache off (so every vector is computed), MiniLM and MPNet both preloaded (Ollama's keep_alive 0
still unloads one now and then), N distinct generated
texts per model (their references computed first by sentence-transformers in the baseline venv
of `scripts/bench.sh --baseline`, kept in target/), requests of random mixes of them in every
dialect at saturation. It passes when no vector is outside the number format's bounds (float32:
max abs 2e-5; bfloat16: cosine >= 0.9999 and max abs <= 3e-3), no answer is a 5xx, and the RSS
is flat: the peak of the run's second half at most 5% (plus 16 MB) over the first half's.

Models: all-MiniLM-L6-v2 and all-mpnet-base-v2 (laid out from PyPI by fetch-test-model.py) and
the tiny BERT pipeline of tests/fixtures. The budget holds MPNet alone or MiniLM with the tiny
model, so requests alternating between them unload one another; Ollama requests also send
keep_alive 0 now and then. Passes when no vector is wrong, no answer is a 5xx, the weights
loaded never pass the budget, the server's peak anonymous RSS (heap: weights, batches, cache)
stays within its idle RSS plus the budget plus --allowance (the batches in flight, the cache and
the allocator's slack), and its peak total RSS within that plus the largest weights file (mapped
while its model loads; clean file pages the kernel can drop). Standard library only.
"""

import argparse
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"
TINY = "tiny-bert-mean-sqrt-len"
DIALECTS = ["openai", "tei", "hf", "ollama", "cohere"]
MAX_ABS = 2e-5
BF16_MIN_COSINE = 0.9999
BF16_MAX_ABS = 3e-3
WORDS = ("retrieval vector search index query document passage token model embedding server batch "
         "kernel memory cache latency throughput cosine similarity rerank sparse dense layer "
         "attention head pooling normalise weight bias matrix panel register lane cluster river "
         "mountain harbour library garden winter orange violin engine bridge market signal "
         "question answer paragraph summary chapter journal archive museum planet ocean forest").split()


def references():
    def read(path):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [(r["text"], r["embedding"]) for r in rows if not r.get("prompt_name")]

    return {
        "minilm": read(FIXTURES / "minilm_reference.jsonl"),
        "mpnet": read(FIXTURES / "mpnet_reference.jsonl"),
        "tiny": read(FIXTURES / "st-pipelines" / f"{TINY}.jsonl"),
    }


def distinct_texts(count, seed):
    """`count` different texts of 3 to 120 words (a few long ones, so batches mix lengths)."""
    rng = random.Random(seed)
    texts, seen = [], set()
    while len(texts) < count:
        length = rng.choice([3, 5, 8, 12, 20, 30, 45]) if rng.random() < 0.9 else rng.randint(60, 120)
        text = " ".join(rng.choice(WORDS) for _ in range(length)) + f" ({len(texts)})"
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def distinct_references(count, python):
    """{model key: [(text, embedding)]} for `count` distinct texts a model, from
    sentence-transformers (cached in target/ by count)."""
    path = ROOT / "target" / f"soak-distinct-{count}.json"
    if not path.exists():
        texts = {"minilm": distinct_texts(count, 1), "mpnet": distinct_texts(count, 2)}
        snapshots = {}
        for key, repo in (("minilm", MINILM), ("mpnet", MPNET)):
            repo_dir = ROOT / "target" / "test-hf-home" / "hub" / ("models--" + repo.replace("/", "--"))
            snapshots[key] = str(repo_dir / "snapshots" / (repo_dir / "refs" / "main").read_text().strip())
        program = (
            "import json, sys\n"
            "from sentence_transformers import SentenceTransformer\n"
            "job = json.load(sys.stdin)\n"
            "out = {}\n"
            "for key, texts in job['texts'].items():\n"
            "    model = SentenceTransformer(job['snapshots'][key], device='cpu')\n"
            "    vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)\n"
            "    out[key] = [[t, [float(x) for x in v]] for t, v in zip(texts, vectors)]\n"
            "json.dump(out, sys.stdout)\n"
        )
        print(f"computing sentence-transformers references for {count} texts a model...", file=sys.stderr)
        done = subprocess.run([python, "-c", program], input=json.dumps({"texts": texts, "snapshots": snapshots}),
                              capture_output=True, text=True, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        path.write_text(done.stdout)
    return {key: [(t, e) for t, e in rows] for key, rows in json.loads(path.read_text()).items()}


def within_bounds(vector, expected, dtype):
    if len(vector) != len(expected):
        return False
    worst = max(abs(a - b) for a, b in zip(vector, expected))
    if dtype == "float32":
        return worst <= MAX_ABS
    dot = sum(a * b for a, b in zip(vector, expected))
    norms = math.sqrt(sum(a * a for a in vector)) * math.sqrt(sum(b * b for b in expected))
    return worst <= BF16_MAX_ABS and dot / norms >= BF16_MIN_COSINE


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid, kind="VmRSS"):
    """VmRSS (all resident pages), RssAnon (the heap: weights, batches, cache) or RssFile
    (mapped files: a weights file while its model loads)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(kind + r":\s+(\d+) kB", status).group(1)) * 1024


def post(base, path, body, timeout=120):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return response.read().decode()


def request_for(dialect, model, texts, rng):
    """(path, body, how to read the vectors from the answer)."""
    if dialect == "openai":
        return "/v1/embeddings", {"model": model, "input": texts}, lambda b: [d["embedding"] for d in b["data"]]
    if dialect == "tei":
        return "/embed", {"model": model, "inputs": texts}, lambda b: b
    if dialect == "hf":
        return f"/pipeline/feature-extraction/{model}", {"inputs": texts}, lambda b: b
    if dialect == "ollama":
        body = {"model": model, "input": texts}
        roll = rng.random()
        if roll < 0.1:
            body["keep_alive"] = 0
        elif roll < 0.3:
            body["keep_alive"] = "30s"
        return "/api/embed", body, lambda b: b["embeddings"]
    body = {"model": model, "texts": texts, "input_type": "search_document", "embedding_types": ["float"]}
    return "/v2/embed", body, lambda b: b["embeddings"]["float"]


def client(base, refs, names, deadline, seed, tally, lock, dtype, largest):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        key = rng.choice(list(refs))
        rows = rng.sample(refs[key], rng.randint(1, min(largest, len(refs[key]))))
        dialect = rng.choice(DIALECTS)
        path, body, vectors_of = request_for(dialect, names[key], [t for t, _ in rows], rng)
        started = time.monotonic()
        try:
            status, answer = post(base, path, body)
        except Exception as error:  # a dropped connection counts as a failure, not a crash
            status, answer = 0, str(error)
        elapsed = time.monotonic() - started
        wrong = 0
        if status == 200:
            got = vectors_of(answer)
            if len(got) != len(rows):
                wrong = len(rows)
            for vector, (_, expected) in zip(got, rows):
                if not within_bounds(vector, expected, dtype):
                    wrong += 1
        with lock:
            tally["requests"] += 1
            tally["by_dialect"][dialect] = tally["by_dialect"].get(dialect, 0) + 1
            tally["status"][status] = tally["status"].get(status, 0) + 1
            tally["vectors"] += len(rows) if status == 200 else 0
            tally["wrong"] += wrong
            tally["latencies"].append(elapsed)
            if status != 200 and len(tally["examples"]) < 5:
                tally["examples"].append((dialect, status, str(answer)[:300]))


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--budget", type=int, default=450_000_000, help="--max-loaded-bytes")
    parser.add_argument("--allowance", type=int, default=400_000_000, help="bytes allowed over idle + budget")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "embeddings"))
    parser.add_argument("--distinct", type=int, default=0,
                        help="N distinct texts a model, the cache off, both models resident (see above)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--reference-python", default=str(ROOT / "target" / "baseline-python" / "bin" / "python"),
                        help="a Python with sentence-transformers, for --distinct's references")
    args = parser.parse_args()

    cache = ROOT / "target" / "test-hf-home" / "hub"
    tiny_dir = FIXTURES / "st-pipelines" / TINY
    models_file = ROOT / "target" / "soak-models.txt"
    port = free_port()
    command = [args.binary, "serve", "--port", str(port), "--models-file", str(models_file), "--dtype", args.dtype]
    if args.distinct:
        refs = distinct_references(args.distinct, args.reference_python)
        models_file.write_text(f"{MINILM} minilm\n{MPNET} mpnet\n")
        names = {"minilm": "minilm", "mpnet": "mpnet"}
        command += ["--preload", "all", "--cache-bytes", "0"]
        largest = 32
    else:
        refs = references()
        models_file.write_text(f"{MINILM} minilm\n{MPNET} mpnet\n{tiny_dir} tiny\n")
        names = {"minilm": "minilm", "mpnet": "mpnet", "tiny": "tiny"}
        command += ["--preload", "none", "--max-loaded-bytes", str(args.budget)]
        largest = 8
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", RUST_LOG="warn")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                get(base, "/health/ready" if args.distinct else "/health/live")
                break
            except Exception:
                time.sleep(0.1)
        time.sleep(0.5)
        idle_rss = rss_bytes(server.pid)
        tally = {"requests": 0, "vectors": 0, "wrong": 0, "status": {}, "by_dialect": {}, "latencies": [],
                 "examples": []}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client,
                                    args=(base, refs, names, deadline, seed, tally, lock, args.dtype, largest))
                   for seed in range(args.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        peak_rss, peak_anon, peak_loaded = idle_rss, idle_rss, 0.0
        halves = [0, 0]
        while any(t.is_alive() for t in threads):
            rss = rss_bytes(server.pid)
            half = 0 if time.monotonic() - started < args.seconds / 2 else 1
            halves[half] = max(halves[half], rss)
            peak_rss = max(peak_rss, rss)
            peak_anon = max(peak_anon, rss_bytes(server.pid, "RssAnon"))
            loaded = metric_sum(get(base, "/metrics"), "embeddings_loaded_model_bytes")
            peak_loaded = max(peak_loaded, loaded)
            time.sleep(0.5)
        for thread in threads:
            thread.join()
        metrics = get(base, "/metrics")
        final_rss = rss_bytes(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    latencies = sorted(tally["latencies"]) or [0.0]
    server_errors = sum(n for s, n in tally["status"].items() if s >= 500 or s == 0)
    bound = idle_rss + args.budget + args.allowance
    largest_file = max(p.stat().st_size for p in cache.rglob("*.safetensors"))
    total_bound = bound + largest_file
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown CPU")
    report = {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "seconds": args.seconds,
        "clients": args.clients,
        "requests": tally["requests"],
        "vectors": tally["vectors"],
        "by_dialect": tally["by_dialect"],
        "status": {str(k): v for k, v in sorted(tally["status"].items())},
        "wrong_vectors": tally["wrong"],
        "server_errors": server_errors,
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)], 1),
        "loads": metric_sum(metrics, "embeddings_model_loads_total"),
        "unloads_budget": metric_sum(metrics, "embeddings_model_unloads_total", reason="budget"),
        "unloads_expired": metric_sum(metrics, "embeddings_model_unloads_total", reason="expired"),
        "cache_hits": metric_sum(metrics, "embeddings_cache_hits_total"),
        "cache_misses": metric_sum(metrics, "embeddings_cache_misses_total"),
        "budget_bytes": args.budget,
        "peak_loaded_bytes": int(peak_loaded),
        "idle_rss_bytes": idle_rss,
        "peak_anon_rss_bytes": peak_anon,
        "anon_rss_bound_bytes": bound,
        "peak_rss_bytes": peak_rss,
        "rss_bound_bytes": total_bound,
        "final_rss_bytes": final_rss,
        "examples_of_failures": tally["examples"],
    }
    if args.distinct:
        # No memory budget here: its bounds do not apply; the RSS must stay flat.
        flat = halves[1] <= halves[0] * 1.05 + 16 * 2**20
        report.update({"mode": f"distinct texts ({args.distinct} a model), cache off", "dtype": args.dtype,
                       "vectors_per_second": round(tally["vectors"] / args.seconds, 1),
                       "peak_rss_first_half_bytes": halves[0], "peak_rss_second_half_bytes": halves[1],
                       "rss_flat": flat})
        for key in ("budget_bytes", "peak_loaded_bytes", "anon_rss_bound_bytes", "rss_bound_bytes"):
            report.pop(key)
        ok = tally["wrong"] == 0 and server_errors == 0 and flat and tally["requests"] > 0
    else:
        ok = (tally["wrong"] == 0 and server_errors == 0 and peak_anon <= bound and peak_rss <= total_bound
              and peak_loaded <= args.budget and tally["requests"] > 0)
    print(json.dumps(report, indent=2))
    print("soak: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
