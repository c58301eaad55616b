#!/usr/bin/env python3
"""Reloads every fixture model of tests/fixtures/ with sentence-transformers and recomputes its
reference rows, so that a fixture's files and its NAME.jsonl are known to agree.

    python scripts/check-fixtures.py                 # every family
    python scripts/check-fixtures.py st-pipelines    # one family: st-pipelines, rerank, sparse, real

Needs the versions the references were made with (benches/baseline-requirements.txt pins
sentence-transformers 6.3.0, transformers 5.24.0 and torch 2.15.0; CPU, float32), e.g. in
target/fixture-python. Not part of scripts/test.sh: torch is large, and the fixtures do not
change without a generator being run.

What it compares, per family:
- real: the two real models laid out by scripts/fetch-test-model.py in target/test-hf-home
  against minilm_reference.jsonl and mpnet_reference.jsonl (`embedding`, `ids`);
- st-pipelines: `SentenceTransformer(dir).encode(text, prompt_name=..., normalize_embeddings=True)`
  against `embedding` and the tokenizer's ids against `ids`, with weights stored as float16 or
  bfloat16 upcast to float32 as the references were made. Models whose `model_type` only remote
  code defines (`new`, `nomic_bert`) cannot load offline and are reported as skipped;
- rerank: `CrossEncoder(dir).predict` against `scores` (rerankers), or against `logits` and
  their softmax `probabilities` (the classifier), and `SparseEncoder` for tiny-splade;
- sparse: scripts/make-sparse-fixtures.py --check.

Rebuilding a family from nothing: only sparse/ has a generator (scripts/make-sparse-fixtures.py);
st-pipelines/ and rerank/ have none in the repository yet.
"""

import json
import pathlib
import subprocess
import sys

import torch
from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CACHE = ROOT / "target" / "test-hf-home" / "hub"
# A faithful float32 recomputation on another machine agrees to about 1e-6.
TOLERANCE = 2e-5
REMOTE_CODE = {"new", "nomic_bert"}


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def worst(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def report(name, largest, count):
    status = "agree" if largest <= TOLERANCE else "DIFFER"
    print(f"{name}: {count} rows {status} (largest difference {largest:.2e})")
    return largest <= TOLERANCE


def check_embeddings(name, model, references):
    largest = 0.0
    for row in references:
        vector = model.encode([row["text"]], prompt_name=row.get("prompt_name"), normalize_embeddings=True)[0]
        largest = max(largest, worst(vector.tolist(), row["embedding"]))
        if "ids" in row:
            prompt = model.prompts.get(row["prompt_name"], "") if row.get("prompt_name") else ""
            features = model.tokenize([prompt + row["text"]])
            ids = [int(i) for i, keep in zip(features["input_ids"][0], features["attention_mask"][0]) if keep]
            if ids != row["ids"]:
                print(f"{name}: token ids differ for {row['text'][:40]!r}")
                return False
    return report(name, largest, len(references))


def check_real():
    ok = True
    for repo, references in [
        ("sentence-transformers/all-MiniLM-L6-v2", "minilm_reference.jsonl"),
        ("sentence-transformers/all-mpnet-base-v2", "mpnet_reference.jsonl"),
    ]:
        snapshots = CACHE / f"models--{repo.replace('/', '--')}" / "snapshots"
        found = sorted(snapshots.glob("*"))
        if not found:
            print(f"{repo}: skipped, not laid out (run scripts/fetch-test-model.py)")
            continue
        model = SentenceTransformer(str(found[0]), device="cpu")
        ok &= check_embeddings(repo, model, rows(FIXTURES / references))
    return ok


def check_pipelines():
    ok = True
    folder = FIXTURES / "st-pipelines"
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        config = json.loads((directory / "config.json").read_text())
        if config.get("model_type") in REMOTE_CODE:
            print(f"{directory.name}: skipped, model_type {config['model_type']} needs remote code")
            continue
        model = SentenceTransformer(str(directory), device="cpu", model_kwargs={"dtype": torch.float32})
        ok &= check_embeddings(directory.name, model, rows(folder / f"{directory.name}.jsonl"))
    return ok


def check_rerank():
    ok = True
    folder = FIXTURES / "rerank"
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        references = rows(folder / f"{directory.name}.jsonl")
        largest = 0.0
        if "splade" in directory.name:
            model = SparseEncoder(str(directory), device="cpu")
            for row in references:
                vector = model.encode([row["text"]], convert_to_tensor=True).to_dense()[0]
                indices = torch.nonzero(vector).flatten().tolist()
                if indices != row["indices"]:
                    print(f"{directory.name}: active dimensions differ for {row['text'][:40]!r}")
                    ok = False
                    break
                largest = max(largest, worst([float(vector[i]) for i in indices], row["values"]))
        else:
            model = CrossEncoder(str(directory), device="cpu", model_kwargs={"dtype": torch.float32})
            for row in references:
                if "documents" in row:
                    scores = model.predict([(row["query"], d) for d in row["documents"]])
                    largest = max(largest, worst([float(s) for s in scores], row["scores"]))
                else:
                    # A classifier's CrossEncoder gives its logits; `probabilities` are their softmax.
                    logits = model.predict(row["text"], convert_to_tensor=True)
                    largest = max(largest, worst(logits.tolist(), row["logits"]))
                    probabilities = torch.softmax(logits.float(), dim=-1).tolist()
                    largest = max(largest, worst(probabilities, row["probabilities"]))
        ok &= report(directory.name, largest, len(references))
    return ok


def check_sparse():
    script = ROOT / "scripts" / "make-sparse-fixtures.py"
    return subprocess.run([sys.executable, str(script), "--check"]).returncode == 0


FAMILIES = {"real": check_real, "st-pipelines": check_pipelines, "rerank": check_rerank, "sparse": check_sparse}


def main():
    chosen = sys.argv[1:] or list(FAMILIES)
    unknown = [name for name in chosen if name not in FAMILIES]
    if unknown:
        sys.exit(f"unknown families {unknown}; choose from {list(FAMILIES)}")
    ok = all([FAMILIES[name]() for name in chosen])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
