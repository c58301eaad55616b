"""Drives a server started as TEI would be (MODEL_ID, PORT, no models file) with TEI's clients,
default settings: tei-client's HttpClient and GrpcClient (whose gRPC stubs were generated from
TEI's own proto, not ours) and huggingface_hub's InferenceClient(model=URL).

Usage: python tei_clients.py BASE_URL GRPC_TARGET FIXTURES_DIR KIND
KIND is "embedding" (the server runs all-MiniLM-L6-v2) or "reranker" (the tiny BERT reranker).
Exits non-zero (with a message) on the first mismatch; prints "all checks passed".
"""
import json
import os
import sys

from huggingface_hub import InferenceClient
from tei_client import GrpcClient, HttpClient, ModelType

base_url, grpc_target, fixtures, kind = sys.argv[1:5]


def rows(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def close(a, b, tolerance, what):
    assert len(a) == len(b), (what, len(a), len(b))
    worst = max((abs(float(x) - float(y)) for x, y in zip(a, b)), default=0.0)
    assert worst <= tolerance, (what, worst)


http, grpc = HttpClient(base_url), GrpcClient(grpc_target)
for client in (http, grpc):
    assert client.health(), client

if kind == "embedding":
    references = rows(os.path.join(fixtures, "minilm_reference.jsonl"))[:6]
    texts = [r["text"] for r in references]
    for name, client in (("http", http), ("grpc", grpc)):
        info = client.info()
        assert client.model_type == ModelType.Embedding, (name, info)
        # TEI's /info keeps --model-id as model_id beside --served-model-name.
        assert info.server_model_id == "sentence-transformers/all-MiniLM-L6-v2", (name, info.server_model_id)
        vectors = client.embed(texts, truncate=True)
        for vector, reference in zip(vectors, references):
            close(vector, reference["embedding"], 2e-5, (name, "embed", reference["text"]))
        tokens = client.tokenize(texts[0])
        assert [t.id for t in tokens[0].tokens] == references[0]["ids"], (name, "tokenize")
        decoded = client.decode(references[0]["ids"])
        decoded = decoded[0] if isinstance(decoded, list) else decoded
        assert decoded == texts[0].lower(), (name, decoded)
    hf = InferenceClient(model=base_url)
    close(hf.feature_extraction(texts[0])[0], references[0]["embedding"], 2e-5, "InferenceClient.feature_extraction")
    similarities = hf.sentence_similarity(texts[0], other_sentences=texts[1:])
    expected = [sum(a * b for a, b in zip(references[0]["embedding"], r["embedding"])) for r in references[1:]]
    close(similarities, expected, 1e-5, "InferenceClient.sentence_similarity")
else:
    row = rows(os.path.join(fixtures, "rerank", "tiny-bert-reranker.jsonl"))[0]
    for name, client in (("http", http), ("grpc", grpc)):
        assert client.model_type == ModelType.Reranker, (name, client.info())
        ranked = client.rerank(row["query"], row["documents"], truncate=True)
        scores = [r.score for r in sorted(ranked.ranks, key=lambda r: r.index)]
        close(scores, row["scores"], 1e-5, (name, "rerank"))

print("all checks passed")
