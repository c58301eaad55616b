/* Debian's MKL 2020.4 has no half-precision GEMM, but candle's `mkl` backend references
 * `hgemm_` for f16 matmuls. This service computes in float32 only, so f16 GEMM is never
 * called; the stand-in exists to satisfy the linker and fails loudly if that ever changes. */
#include <stdio.h>
#include <stdlib.h>

void hgemm_(void) {
    fputs("embeddings: half-precision GEMM (hgemm_) is not available in this MKL build\n", stderr);
    abort();
}
