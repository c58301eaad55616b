#!/usr/bin/env python3
"""Reloads every fixture of tests/fixtures/ and recomputes its reference rows, so that a fixture's
files and its NAME.jsonl are known to agree.

    python scripts/check-fixtures.py          # every family
    python scripts/check-fixtures.py real     # one: real, st-pipelines, rerank or sparse

Needs the versions the references were made with (benches/baseline-requirements.txt pins
sentence-transformers 6.3.0, transformers 5.24.0 and torch 2.15.0; CPU, float32), e.g. in
target/fixture-python. Not part of scripts/test.sh: torch is large, and the fixtures do not
change without scripts/make-fixtures.py being run.

- real: the two real models laid out by scripts/fetch-test-model.py in target/test-hf-home,
  `SentenceTransformer(snapshot).encode(text, normalize_embeddings=True)` and the tokenizer's
  ids against minilm_reference.jsonl and mpnet_reference.jsonl;
- st-pipelines, rerank, sparse: the tiny models, by `scripts/make-fixtures.py --check`, which
  builds them.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.common import FIXTURES, ROOT, TOLERANCE, input_ids, largest_difference, read_rows  # noqa: E402

CACHE = ROOT / "target" / "test-hf-home" / "hub"
REAL = [
    ("sentence-transformers/all-MiniLM-L6-v2", "minilm_reference.jsonl"),
    ("sentence-transformers/all-mpnet-base-v2", "mpnet_reference.jsonl"),
]


def check_real():
    from sentence_transformers import SentenceTransformer

    ok = True
    for repo, references in REAL:
        found = sorted((CACHE / f"models--{repo.replace('/', '--')}" / "snapshots").glob("*"))
        if not found:
            print(f"{repo}: skipped, not laid out (run scripts/fetch-test-model.py)")
            continue
        model = SentenceTransformer(str(found[0]), device="cpu")
        largest = 0.0
        for row in read_rows(FIXTURES / references):
            vector = model.encode([row["text"]], normalize_embeddings=True)[0]
            largest = max(largest, largest_difference(vector.tolist(), row["embedding"]))
            if input_ids(model, row["text"]) != row["ids"]:
                print(f"{repo}: token ids differ for {row['text'][:40]!r}")
                largest = float("inf")
        agree = largest <= TOLERANCE
        print(f"{repo}: {'agree' if agree else 'DIFFER'} (largest difference {largest:.2e})")
        ok &= agree
    return ok


def check_tiny(families):
    script = ROOT / "scripts" / "make-fixtures.py"
    return subprocess.run([sys.executable, str(script), "--check", *families]).returncode == 0


def main():
    families = ["real", "st-pipelines", "rerank", "sparse"]
    chosen = sys.argv[1:] or families
    unknown = [name for name in chosen if name not in families]
    if unknown:
        sys.exit(f"unknown families {unknown}; choose from {families}")
    ok = check_real() if "real" in chosen else True
    tiny = [name for name in chosen if name != "real"]
    if tiny:
        ok &= check_tiny(tiny)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
