#!/usr/bin/env python3
"""Two builds of the server side by side: are their vectors bit-identical?

For refactors that must not change a single bit. Both binaries serve the same models file
(every tiny pipeline of tests/fixtures/st-pipelines plus the real MiniLM and MPNet from the
test cache that scripts/fetch-test-model.py lays out) on loopback ports; every reference text
of every model is sent in one batch, then alone, with each prompt the references use, as
base64 (the float32 bits themselves). Any difference is printed and the exit status is 1.

Usage: scripts/compare-binaries.py OLD_BINARY NEW_BINARY [--dtype float32|bfloat16]
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CACHE = ROOT / "target" / "test-hf-home" / "hub"
REAL = {
    "sentence-transformers/all-MiniLM-L6-v2": FIXTURES / "minilm_reference.jsonl",
    "sentence-transformers/all-mpnet-base-v2": FIXTURES / "mpnet_reference.jsonl",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/embeddings",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        return json.load(answer)


def start(binary, models_file, dtype):
    port = free_port()
    env = dict(os.environ, HF_HUB_CACHE=str(CACHE), HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [binary, "serve", "--models-file", models_file, "--port", str(port), "--dtype", dtype,
         "--preload", "none", "--cache-bytes", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"{binary} did not become healthy")


def cases():
    """(model name, [(text, prompt_name)]) for every model compared."""
    models = []
    for jsonl in sorted((FIXTURES / "st-pipelines").glob("*.jsonl")):
        directory = jsonl.with_suffix("")
        rows = [json.loads(line) for line in jsonl.open()]
        models.append((str(directory), [(r["text"], r.get("prompt_name")) for r in rows]))
    for repo, jsonl in REAL.items():
        if (CACHE / ("models--" + repo.replace("/", "--"))).exists():
            models.append((repo, [(json.loads(line)["text"], None) for line in jsonl.open()]))
        else:
            print(f"skipped {repo}: not in {CACHE} (run scripts/fetch-test-model.py)")
    return models


def vectors(port, model, rows):
    """Every row's base64 vector: grouped by prompt in one batch, then each alone."""
    out = []
    for prompt in sorted({p for _, p in rows}, key=str):
        texts = [t for t, p in rows if p == prompt]
        body = {"model": model, "input": texts, "encoding_format": "base64"}
        if prompt is not None:
            body["prompt_name"] = prompt
        out += [("batch", prompt, t, d["embedding"]) for t, d in zip(texts, post(port, body)["data"])]
        for text in texts:
            body["input"] = text
            out.append(("alone", prompt, text, post(port, body)["data"][0]["embedding"]))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    models = cases()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(name for name, _ in models) + "\n")
        models_file = f.name
    servers = [start(args.old, models_file, args.dtype), start(args.new, models_file, args.dtype)]
    differing = compared = 0
    try:
        for model, rows in models:
            old, new = (vectors(port, model, rows) for _, port in servers)
            for a, b in zip(old, new):
                compared += 1
                if a != b:
                    differing += 1
                    print(f"DIFFERS {model} {a[0]} prompt={a[1]} {a[2][:40]!r}")
            print(f"{pathlib.Path(model).name}: {len(old)} vectors compared")
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()
        os.unlink(models_file)
    print(f"{args.dtype}: {compared} vectors, {differing} differ")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
