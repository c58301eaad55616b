#!/usr/bin/env python3
"""What one line of Python gets on this CPU, for the README's same-run comparisons: torch's GEMM
on every core (MKL/oneDNN, the float32 and bfloat16 roofs), and sentence-transformers in-process
on load C's exact texts (the load generator's generator, ported), float32 and under
torch.autocast("cpu", dtype=torch.bfloat16) (where ATen has bfloat16 kernels: AVX-512 and up).

Run in the baseline's venv (scripts/bench.sh --baseline makes it):
    target/baseline-python/bin/python benches/torch_reference.py SNAPSHOT_DIR [--scale 1]
Prints a Markdown table; nothing is written.
"""

import argparse
import os
import re
import time
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parent.parent
ROOF_SHAPE = (2048, 384, 1536)  # benches/support/roof.rs: MiniLM's feed-forward on a big batch


class SplitMix64:
    """benches/loadgen.rs' `Random`, bit for bit."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def range(self, low, high):
        return low + self.next_u64() % (high - low + 1)


def words():
    """The load generator's vocabulary (benches/support/words.rs)."""
    return re.findall(r'^\s+"([^"]+)",$', (ROOT / "benches/support/words.rs").read_text(), re.M)


def load_c_texts(scale):
    words_list = words()
    random = SplitMix64(0xC0FFEE)

    def sentence(fewest, most):
        count = random.range(fewest, most)
        text = [words_list[random.range(0, len(words_list) - 1)] for _ in range(count)]
        text[0] = text[0][:1].upper() + text[0][1:]
        return " ".join(text) + "."

    requests = max(1, round(20 * scale))
    return [[sentence(55, 65) for _ in range(256)] for _ in range(requests)]


def gemm_gflops(dtype, shape, seconds=2.0):
    m, k, n = shape
    a = torch.randn(m, k).to(dtype)
    b = torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    runs, start = 0, time.perf_counter()
    while runs < 5 or time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * m * k * n * runs / (time.perf_counter() - start) / 1e9


def cpu_line():
    info = Path("/proc/cpuinfo").read_text()
    name = re.search(r"model name\s*:\s*(.*)", info).group(1).strip()
    flags = set(re.search(r"flags\s*:\s*(.*)", info).group(1).split())
    shown = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(shown) or 'no AVX-512'}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot", help="all-MiniLM-L6-v2's snapshot folder")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    print(f"# {cpu_line()}; torch {torch.__version__} ({torch.backends.mkldnn.is_available() and 'oneDNN' or ''} "
          f"{torch.backends.mkl.is_available() and 'MKL' or ''}), {torch.get_num_threads()} threads")
    roofs = {dtype: gemm_gflops(dtype, ROOF_SHAPE) for dtype in (torch.float32, torch.bfloat16)}
    print(f"# torch GEMM {ROOF_SHAPE[0]}x{ROOF_SHAPE[1]}x{ROOF_SHAPE[2]}: float32 {roofs[torch.float32]:.0f} "
          f"GFLOP/s, bfloat16 {roofs[torch.bfloat16]:.0f} GFLOP/s")

    model = SentenceTransformer(args.snapshot, device="cpu")
    requests = load_c_texts(args.scale)
    tokens = sum(sum(mask) for texts in requests for mask in model.tokenize(texts)["attention_mask"].tolist())
    print("| stack | load C tokens/s | fidelity to float32 |")
    print("|---|---|---|")
    model.encode(requests[0][:64], batch_size=32)
    start = time.perf_counter()
    reference = [model.encode(texts, batch_size=32, convert_to_tensor=True) for texts in requests]
    float32 = tokens / (time.perf_counter() - start)
    print(f"| sentence-transformers in-process, float32 (batch 32) | {float32:,.0f} | reference |")
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("DEFAULT", "AVX2", "NEON"):
        # ATen has no bfloat16 kernels below AVX-512: autocast's linear layers then run on a
        # scalar fallback at a fraction of float32's speed (minutes for load C), which says
        # nothing about bfloat16 itself.
        print(f"| sentence-transformers in-process, autocast bfloat16 | skipped: ATen's {capability} kernels "
              "have no bfloat16 GEMM | |")
        return
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.encode(requests[0][:64], batch_size=32)
        start = time.perf_counter()
        autocast = [model.encode(texts, batch_size=32, convert_to_tensor=True) for texts in requests]
        bfloat16 = tokens / (time.perf_counter() - start)
    cosine = min(
        torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1).min().item()
        for a, b in zip(reference, autocast)
    )
    print(f"| sentence-transformers in-process, autocast bfloat16 | {bfloat16:,.0f} | min cosine {cosine:.5f} |")


if __name__ == "__main__":
    main()
