#!/usr/bin/env python3
"""The SPLADE benchmark, on naver/splade-v3's shape: BERT-base (12 layers, hidden 768) under
BertForMaskedLM with MiniLM's uncased WordPiece vocabulary (bert-base-uncased's 30,522
entries), seeded random weights, SpladePooling max / relu, saved by SparseEncoder.save. One
run measures:
  - this server's POST /embed_sparse through HTTP (release build, started here): 64 texts of
    55-65 words in one request, p50 and p90;
  - sentence-transformers' SparseEncoder.encode in-process on the same texts (batch 32);
  - torch's float32 GEMM on every core (the roof), and each side's share of it (the forward
    pass' FLOPs, the masked-LM head's hidden x 30,522 product included, over its time).
Both sides' vectors are compared (the same nonzero indices; the largest value difference).

Run by scripts/bench-sparse.sh, which builds the server and the Python environment:
    PYTHON benches/sparse.py SNAPSHOT_DIR SERVER_BINARY [--runs 9]
Prints a Markdown table; the model directory goes under target/bench-sparse/.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from sentence_transformers import SparseEncoder
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sparse_encoder.modules import SpladePooling
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

from torch_reference import SplitMix64, cpu_line, gemm_gflops, words

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rerank import Server, median_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROOF_SHAPE = (2048, 768, 3072)
HIDDEN, INTERMEDIATE, LAYERS, VOCAB = 768, 3072, 12, 30522


def build_splade(snapshot: Path, out: Path) -> Path:
    if (out / "modules.json").exists():
        return out
    torch.manual_seed(3)
    config = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=12,
                        intermediate_size=INTERMEDIATE, max_position_embeddings=512, architectures=["BertForMaskedLM"])
    model = BertForMaskedLM(config).eval()
    with torch.no_grad():
        # splade-v3's logits are mostly negative: a shifted bias leaves some hundreds of entries a text.
        model.cls.predictions.bias.copy_(torch.full((VOCAB,), -2.2))
    staging = out.parent / "staging"
    model.save_pretrained(staging)
    AutoTokenizer.from_pretrained(snapshot).save_pretrained(staging)
    encoder = SparseEncoder(modules=[Transformer(str(staging), transformer_task="fill-mask", max_seq_length=512),
                                     SpladePooling("max", "relu")], device="cpu")
    encoder.save(str(out))
    return out


def texts_of_the_run():
    vocabulary = words()
    random = SplitMix64(0x5BA2)
    return [" ".join(vocabulary[random.range(0, len(vocabulary) - 1)] for _ in range(random.range(55, 65))) + "."
            for _ in range(64)]


def forward_flops(lengths):
    h, i = HIDDEN, INTERMEDIATE
    total = 0
    for n in lengths:
        total += LAYERS * (2 * n * (4 * h * h + 2 * h * i) + 2 * 2 * n * n * h)
        total += 2 * n * (h * h + h * VOCAB)
    return total


class SparseServer(Server):
    def embed_sparse(self, texts):
        body = json.dumps({"model": "ce", "inputs": texts})
        self.connection.request("POST", "/embed_sparse", body, {"content-type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200, answer
        return [{e["index"]: e["value"] for e in vector} for vector in answer]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    model_dir = build_splade(args.snapshot, ROOT / "target/bench-sparse/splade-v3-shape")
    texts = texts_of_the_run()
    roof = gemm_gflops(torch.float32, ROOF_SHAPE)
    model = SparseEncoder(str(model_dir), device="cpu")
    lengths = [int(model.preprocess([t])["attention_mask"].sum()) for t in texts]
    tokens, flops = sum(lengths), forward_flops(lengths)
    reference = model.encode(texts, batch_size=32, convert_to_tensor=True).to_dense()
    st_p50, st_p90 = median_seconds(lambda: model.encode(texts, batch_size=32), args.runs)
    # The same texts every run: the exact-repeat cache is off, or every run after the first hits it.
    server = SparseServer(args.binary, model_dir, "float32", ["--cache-bytes", "0"])
    try:
        ours = server.embed_sparse(texts)
        p50, p90 = median_seconds(lambda: server.embed_sparse(texts), args.runs)
    finally:
        server.close()
    same_indices, worst, active = 0, 0.0, []
    for vector, want in zip(ours, reference):
        indices = torch.nonzero(want).flatten().tolist()
        same_indices += sorted(vector) == indices
        worst = max([worst] + [abs(vector.get(i, 0.0) - float(want[i])) for i in indices])
        active.append(len(indices))
    print(f"{cpu_line()}; 64 texts of 55-65 words, {tokens} tokens, {min(active)}-{max(active)} active dimensions a text; "
          f"torch {torch.__version__}, {args.runs} runs each")
    print()
    print("| float32 | GEMM roof (torch) | SparseEncoder.encode p50 / p90 | tokens/s | share of roof | "
          "this server /embed_sparse p50 / p90 | tokens/s | share of roof | speed-up | same indices | largest value difference |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    share = lambda seconds: f"{100 * flops / seconds / 1e9 / roof:.0f}%"
    print(f"| splade-v3 shape | {roof:.0f} GFLOP/s | {1e3 * st_p50:.0f} / {1e3 * st_p90:.0f} ms | {tokens / st_p50:.0f} | "
          f"{share(st_p50)} | {1e3 * p50:.0f} / {1e3 * p90:.0f} ms | {tokens / p50:.0f} | {share(p50)} | "
          f"{st_p50 / p50:.2f}x | {same_indices} / {len(texts)} | {worst:.1e} |")


if __name__ == "__main__":
    main()
