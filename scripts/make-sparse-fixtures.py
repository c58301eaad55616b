#!/usr/bin/env python3
"""Builds the repository's own tiny SPLADE fixtures in tests/fixtures/sparse/ with
sentence-transformers' own classes, and their reference rows.

    python scripts/make-sparse-fixtures.py            # (re)build every fixture
    python scripts/make-sparse-fixtures.py --check    # reload each and recompute its rows

Needs sentence-transformers 6.3.0, transformers 5.24.0 and torch 2.15.0 (CPU, float32;
benches/baseline-requirements.txt pins them). Each model is random (a fixed seed) and laid out
as `SparseEncoder.save` writes it:

- tiny-modernbert-splade: `ModernBertForMaskedLM` (the tokenizer, vocabulary and sizes of
  tests/fixtures/rerank/tiny-modernbert-reranker) behind a `Transformer` module with
  `transformer_task` "fill-mask" (sentence-transformers 6's form, not the legacy
  `MLMTransformer`), `SpladePooling` max / relu, and `max_active_dims` 40 in
  config_sentence_transformers.json, so its references keep 40 values a text.
- tiny-distilbert-splade: `DistilBertForMaskedLM` (the sizes and MiniLM tokenizer of
  tests/fixtures/st-pipelines/tiny-distilbert-mean, 30,522 dimensions) behind the legacy
  `MLMTransformer`, `SpladePooling` sum / log1p_relu (OpenSearch's activation), with prompts
  `query` ("query: ") and `document` ("") and no default prompt.
- tiny-router-splade: an inference-free sparse model as opensearch-neural-sparse-encoding-doc-v3-distill
  is one: a `Router` (router_config.json, default route `document`) whose `query` route is a
  `SparseStaticEmbedding` (a seeded random weight per vocabulary entry, MiniLM's tokenizer without
  special tokens, truncated to 64) and whose `document` route is a `DistilBertForMaskedLM`
  `Transformer` (fill-mask) with `SpladePooling` max / log1p_relu, each in its own folder.

The decoder bias is shifted so that most logits are negative (about 1% positive for ModernBERT's
960 entries, 0.05% for DistilBERT's 30,522) and a text has tens to hundreds of active dimensions. Rows (NAME.jsonl), from the 22 texts of tests/fixtures/minilm_reference.jsonl
encoded together (batch size 8): `text`, `prompt_name` (absent: none), `tokens` (the input ids'
count, prompt included), `indices` (ascending) and `values` of `SparseEncoder.encode`'s output;
then the same texts under prompt_name "query" for tiny-distilbert-splade; for tiny-router-splade,
each text through `encode_document` then `encode_query`, with `route` naming which (`tokens`:
the ids that route reads, the static side's without special tokens).
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SparseEncoder
from sentence_transformers.base.modules import Router, Transformer
from sentence_transformers.sparse_encoder.modules import MLMTransformer, SparseStaticEmbedding, SpladePooling
from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "sparse"


def texts():
    rows = [json.loads(line) for line in (FIXTURES / "minilm_reference.jsonl").read_text().splitlines() if line.strip()]
    return [row["text"] for row in rows]


def masked_lm(source, architecture, seed, positive_share):
    """A random *ForMaskedLM with `source`'s sizes and tokenizer, saved to a temporary folder;
    its decoder bias is set so that about `positive_share` of the shared texts' logits are
    positive."""
    config = AutoConfig.from_pretrained(source)
    config.architectures = [architecture]
    config.tie_word_embeddings = True
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(config)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    with torch.no_grad():
        bias = model.get_output_embeddings().bias
        bias.zero_()
        encoded = tokenizer(texts(), padding=True, truncation=True, max_length=64, return_tensors="pt")
        logits = model(**encoded).logits[encoded["attention_mask"].bool()]
        spread = float(logits.std())
        threshold = float(torch.quantile(logits.flatten()[:1_000_000], 1 - positive_share))
        bias.copy_(torch.randn_like(bias) * 0.1 * spread - threshold)
    folder = Path(tempfile.mkdtemp(prefix="sparse-fixture-"))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_modernbert():
    folder = masked_lm(FIXTURES / "rerank" / "tiny-modernbert-reranker", "ModernBertForMaskedLM", 25, 0.01)
    transformer = Transformer(str(folder), transformer_task="fill-mask", max_seq_length=64)
    model = SparseEncoder(
        modules=[transformer, SpladePooling(pooling_strategy="max", activation_function="relu")],
        max_active_dims=40,
        device="cpu",
    )
    return model, [None]


def build_distilbert():
    folder = masked_lm(FIXTURES / "st-pipelines" / "tiny-distilbert-mean", "DistilBertForMaskedLM", 26, 0.0005)
    transformer = MLMTransformer(str(folder), max_seq_length=64)
    model = SparseEncoder(
        modules=[transformer, SpladePooling(pooling_strategy="sum", activation_function="log1p_relu")],
        prompts={"query": "query: ", "document": ""},
        device="cpu",
    )
    return model, [None, "query"]


def build_router():
    folder = masked_lm(FIXTURES / "st-pipelines" / "tiny-distilbert-mean", "DistilBertForMaskedLM", 27, 0.0005)
    document = [Transformer(str(folder), transformer_task="fill-mask", max_seq_length=64),
                SpladePooling(pooling_strategy="max", activation_function="log1p_relu")]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    generator = torch.Generator().manual_seed(28)
    # IDF-like weights: most entries between 0.5 and 4, a tenth of them 0 (never weighted).
    weight = torch.rand(len(tokenizer.get_vocab()), generator=generator) * 3.5 + 0.5
    weight[torch.rand(weight.shape, generator=generator) < 0.1] = 0.0
    query = [SparseStaticEmbedding(tokenizer=tokenizer, weight=weight, frozen=True)]
    router = Router.for_query_document(query_modules=query, document_modules=document)
    return SparseEncoder(modules=[router], similarity_fn_name="dot", device="cpu"), ["document", "query"]


BUILDERS = {
    "tiny-modernbert-splade": build_modernbert,
    "tiny-distilbert-splade": build_distilbert,
    "tiny-router-splade": build_router,
}

ROUTES = {"tiny-router-splade": ["document", "query"]}


def reference_rows(model, prompt_names, name=None):
    if name in ROUTES:
        return routed_rows(model)
    rows = []
    inputs = texts()
    for prompt_name in prompt_names:
        vectors = model.encode(inputs, prompt_name=prompt_name, batch_size=8, convert_to_tensor=True)
        vectors = vectors.to_dense() if vectors.is_sparse else vectors
        prompt = model.prompts.get(prompt_name, "") if prompt_name else ""
        for text, vector in zip(inputs, vectors):
            features = model.preprocess([prompt + text])
            indices = torch.nonzero(vector).flatten().tolist()
            row = {
                "text": text,
                "tokens": int(features["attention_mask"].sum()),
                "indices": indices,
                "values": [float(vector[i]) for i in indices],
            }
            if prompt_name:
                row["prompt_name"] = prompt_name
            rows.append(row)
    return rows


def routed_rows(model):
    rows = []
    inputs = texts()
    for route in ROUTES["tiny-router-splade"]:
        encode = model.encode_query if route == "query" else model.encode_document
        vectors = encode(inputs, batch_size=8, convert_to_tensor=True).to_dense()
        for text, vector in zip(inputs, vectors):
            features = model.preprocess([text], task=route)
            indices = torch.nonzero(vector).flatten().tolist()
            rows.append({
                "text": text,
                "route": route,
                "tokens": int(features["attention_mask"].sum()),
                "indices": indices,
                "values": [float(vector[i]) for i in indices],
            })
    return rows


def write_rows(name, rows):
    with open(OUT / f"{name}.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def check(name, prompt_names):
    model = SparseEncoder(str(OUT / name), device="cpu")
    stored = [json.loads(line) for line in (OUT / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    fresh = reference_rows(model, prompt_names, name)
    worst = 0.0
    for a, b in zip(stored, fresh):
        assert a["indices"] == b["indices"] and a["tokens"] == b["tokens"], f"{name}: {a['text'][:40]!r} differs"
        worst = max([worst] + [abs(x - y) for x, y in zip(a["values"], b["values"])])
    assert len(stored) == len(fresh)
    print(f"{name}: {len(stored)} rows agree (largest value difference {worst:.2e})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="reload each fixture and recompute its rows")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        if args.check:
            prompt_names = [None, "query"] if name == "tiny-distilbert-splade" else [None]
            check(name, prompt_names)
            continue
        model, prompt_names = build()
        target = OUT / name
        shutil.rmtree(target, ignore_errors=True)
        model.save(str(target))
        reloaded = SparseEncoder(str(target), device="cpu")
        rows = reference_rows(reloaded, prompt_names, name)
        write_rows(name, rows)
        active = [len(r["indices"]) for r in rows]
        print(f"{name}: {len(rows)} rows, {min(active)}..{max(active)} active dimensions", file=sys.stderr)


if __name__ == "__main__":
    main()
