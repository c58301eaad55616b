"""Drives a running server with the official cohere SDK, default settings but the base URL:
cohere.ClientV2 (POST /v2/embed) and cohere.Client (POST /v1/embed).

Usage: python cohere_client.py BASE_URL FIXTURES_JSONL
Exits non-zero (with a message) on the first mismatch.
"""
import base64
import json
import struct
import sys

import cohere

base_url, fixtures = sys.argv[1], sys.argv[2]
references = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]
texts = [r["text"] for r in references]
model = "sentence-transformers/all-MiniLM-L6-v2"


def check(vectors, what):
    assert len(vectors) == len(references), (what, len(vectors))
    for vector, reference in zip(vectors, references):
        diff = max(abs(float(x) - y) for x, y in zip(vector, reference["embedding"]))
        assert len(vector) == len(reference["embedding"]) and diff <= 2e-5, (what, reference["text"], diff)


v2 = cohere.ClientV2(base_url=base_url, api_key="not-checked")
response = v2.embed(
    model=model,
    texts=texts,
    input_type="search_document",
    embedding_types=["float", "int8", "uint8", "binary", "ubinary", "base64"],
)
embeddings = response.embeddings
check(embeddings.float_, "v2 float")
assert response.meta.billed_units.input_tokens == sum(r["tokens"] for r in references), response.meta
assert response.texts == texts
for floats, int8, uint8, binary, ubinary, packed in zip(
    embeddings.float_, embeddings.int8, embeddings.uint8, embeddings.binary, embeddings.ubinary, embeddings.base64
):
    assert len(int8) == 384 and all(-128 <= q <= 127 for q in int8), int8[:4]
    assert [q + 128 for q in int8] == uint8
    # sentence-transformers' packbits of x > 0, and the signed form less 128.
    bits = [1 if x > 0 else 0 for x in floats]
    want = [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)]
    assert ubinary == want, (ubinary[:4], want[:4])
    assert binary == [b - 128 for b in want]
    # The JSON floats are float32 values printed shortest-first: round them back to compare.
    as_float32 = struct.unpack(f"<{len(floats)}f", struct.pack(f"<{len(floats)}f", *floats))
    assert struct.unpack(f"<{len(floats)}f", base64.b64decode(packed)) == as_float32

inputs = [{"content": [{"type": "text", "text": t}]} for t in texts[:3]]
shortened = v2.embed(model=model, inputs=inputs, input_type="search_query", embedding_types=["float"], output_dimension=64)
for vector in shortened.embeddings.float_:
    assert len(vector) == 64 and abs(sum(x * x for x in vector) - 1.0) < 1e-4

v1 = cohere.Client(base_url=base_url, api_key="not-checked")
floats = v1.embed(model=model, texts=texts, input_type="search_query")
assert floats.response_type == "embeddings_floats", floats.response_type
check(floats.embeddings, "v1 float")
typed = v1.embed(model=model, texts=texts[:2], input_type="clustering", embedding_types=["ubinary"])
assert typed.response_type == "embeddings_by_type" and len(typed.embeddings.ubinary[0]) == 48

try:
    v2.embed(model="no-such-model", texts=["x"], input_type="search_query", embedding_types=["float"])
    raise AssertionError("an unknown model was accepted")
except cohere.errors.NotFoundError as error:
    assert "no-such-model" in json.dumps(error.body), error.body
try:
    v2.embed(model=model, texts=["word " * 400], input_type="search_query", embedding_types=["float"], truncate="NONE")
    raise AssertionError("an over-long text with truncate=NONE was accepted")
except cohere.errors.BadRequestError as error:
    assert "message" in error.body, error.body

print("all checks passed")
