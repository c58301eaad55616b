# syntax=docker/dockerfile:1
# CPU image of the embeddings service.
#
#   docker build -t embeddings:cpu .
#   docker build -t embeddings:cpu --build-arg MODELS="sentence-transformers/all-MiniLM-L6-v2" .   # bake models in
#   docker buildx build --platform linux/arm64 -t embeddings:cpu-arm64 .                           # arm64 (pure Rust)
#
# The binary is built for the baseline of its architecture (no target-cpu=native), so the image
# runs on any x86-64 (or arm64) host; SIMD paths are picked at run time. On x86-64 it links
# Debian's Intel MKL for the matrix products; FEATURES= builds the pure-Rust backend instead.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
ARG TARGETARCH
# Cargo features: "auto" = mkl on amd64, none elsewhere (MKL is x86-64 only).
ARG FEATURES=auto
WORKDIR /src
COPY scripts/ scripts/
RUN if [ "$FEATURES" = auto ]; then \
        if [ "${TARGETARCH:-amd64}" = amd64 ]; then echo mkl; else echo ""; fi > /tmp/features; \
    else echo "$FEATURES" > /tmp/features; fi \
    && case ",$(cat /tmp/features)," in *,mkl,*) scripts/install-mkl.sh ;; esac
COPY Cargo.toml Cargo.lock build.rs ./
COPY build/ build/
COPY src/ src/
COPY benches/ benches/
COPY tests/ tests/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --features "$(cat /tmp/features)" \
    && cp target/release/embeddings /usr/local/bin/embeddings

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl for the health check; libomp5-14 is the OpenMP runtime the MKL build links against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libomp5-14 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /data embeddings \
    && mkdir -p /data/huggingface /etc/embeddings \
    && chown -R embeddings:embeddings /data
COPY --from=build /usr/local/bin/embeddings /usr/local/bin/embeddings
COPY supported_models.txt /etc/embeddings/supported_models.txt

ENV EMBEDDINGS_HOST=0.0.0.0
ENV EMBEDDINGS_PORT=11445
ENV EMBEDDINGS_MODELS_FILE=/etc/embeddings/supported_models.txt
ENV EMBEDDINGS_DEVICE=cpu
ENV HF_HOME=/data/huggingface
ENV RUST_LOG=info

USER 10001:10001
WORKDIR /data

# Models to bake into the image (space-separated names from supported_models.txt), for hosts
# without network access; run the container with HF_HUB_OFFLINE=1 there. A token for gated
# models comes in as a build secret:  --secret id=hf_token,env=HF_TOKEN
ARG MODELS=""
RUN --mount=type=secret,id=hf_token,uid=10001 \
    if [ -n "$MODELS" ]; then \
        HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" embeddings download $MODELS; \
    fi

VOLUME ["/data/huggingface"]
EXPOSE 11445
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["sh", "-c", "curl -fsS http://127.0.0.1:${EMBEDDINGS_PORT}/health/ready || exit 1"]
ENTRYPOINT ["/usr/local/bin/embeddings"]
CMD ["serve"]
