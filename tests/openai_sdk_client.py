"""Drives a running server with the official OpenAI Python SDK, default settings.

Usage: python openai_sdk_client.py BASE_URL FIXTURES_JSONL
Exits non-zero (with a message) on the first mismatch.
"""
import json
import sys

import openai
from openai import OpenAI

base_url, fixtures = sys.argv[1], sys.argv[2]
references = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]
client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=120)
model = "sentence-transformers/all-MiniLM-L6-v2"


def max_abs_diff(a, b):
    assert len(a) == len(b), (len(a), len(b))
    return max(abs(x - y) for x, y in zip(a, b))


# The SDK's default: it asks for base64 and decodes it itself.
texts = [r["text"] for r in references]
response = client.embeddings.create(model=model, input=texts)
assert response.model == model, response.model
assert len(response.data) == len(references)
for item, reference in zip(response.data, references):
    diff = max_abs_diff(item.embedding, reference["embedding"])
    assert diff <= 2e-5, (reference["text"], diff)
assert response.usage.prompt_tokens == sum(r["tokens"] for r in references), response.usage

# Explicit floats, a short name, and dimensions.
floats = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[0], encoding_format="float")
assert max_abs_diff(floats.data[0].embedding, references[0]["embedding"]) <= 2e-5
short = client.embeddings.create(model=model, input=texts[0], dimensions=64)
assert len(short.data[0].embedding) == 64
assert abs(sum(x * x for x in short.data[0].embedding) - 1.0) < 1e-4

# Token ids, as tiktoken-style clients send them.
by_ids = client.embeddings.create(model=model, input=[references[0]["ids"]])
assert max_abs_diff(by_ids.data[0].embedding, references[0]["embedding"]) <= 2e-5

# Errors arrive as the SDK's typed exceptions.
try:
    client.embeddings.create(model="no-such-model", input="x")
    raise AssertionError("expected NotFoundError")
except openai.NotFoundError as error:
    assert error.body["code"] == "model_not_found", error.body
try:
    client.embeddings.create(model=model, input=[])
    raise AssertionError("expected BadRequestError")
except openai.BadRequestError as error:
    assert error.body["param"] == "input", error.body

models = client.models.list()
assert any(m.id == model for m in models.data)
print(f"openai sdk {openai.__version__}: all checks passed against {base_url}")
