"""Drives a running server with the real clients of the other dialects, default settings:
huggingface_hub's InferenceClient (TEI / Inference Endpoint style, model=URL), the ollama
Python client, and LlamaIndex's TextEmbeddingsInference.

Usage: python dialect_clients.py BASE_URL FIXTURES_JSONL
Exits non-zero (with a message) on the first mismatch.
"""
import json
import sys

import huggingface_hub
import ollama
from huggingface_hub import InferenceClient
from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference

base_url, fixtures = sys.argv[1], sys.argv[2]
references = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]
texts = [r["text"] for r in references]
model = "sentence-transformers/all-MiniLM-L6-v2"


def check(vectors, refs, what):
    assert len(vectors) == len(refs), (what, len(vectors), len(refs))
    for vector, reference in zip(vectors, refs):
        vector = [float(x) for x in vector]
        assert len(vector) == len(reference["embedding"]), (what, len(vector))
        diff = max(abs(x - y) for x, y in zip(vector, reference["embedding"]))
        assert diff <= 2e-5, (what, reference["text"], diff)


# huggingface_hub: InferenceClient(model=URL) posts {"inputs": ...} to the URL itself.
hf = InferenceClient(model=base_url)
one = hf.feature_extraction(texts[0])
assert one.shape == (1, 384), one.shape
check(one, references[:1], "huggingface_hub one text")
batch = hf.feature_extraction(texts[:8])
assert batch.shape == (8, 384), batch.shape
check(batch, references[:8], "huggingface_hub batch")
# normalize=False is the pipeline's own vector; all-MiniLM-L6-v2's ends with Normalize.
check(hf.feature_extraction(texts[0], normalize=False, truncate=True), references[:1], "huggingface_hub options")
# The hosted API's path, through the same client.
hosted = InferenceClient(model=f"{base_url}/pipeline/feature-extraction/{model}")
check(hosted.feature_extraction(texts[:4]), references[:4], "huggingface_hub hosted path")

# ollama: embed, the older embeddings, list and ps.
client = ollama.Client(host=base_url)
embedded = client.embed(model="all-minilm", input=texts)
check(embedded.embeddings, references, "ollama embed")
assert embedded.prompt_eval_count == sum(r["tokens"] for r in references), embedded.prompt_eval_count
check(client.embed(model="all-minilm:latest", input=texts[0]).embeddings, references[:1], "ollama embed one")
check([client.embeddings(model="all-minilm", prompt=texts[1]).embedding], references[1:2], "ollama embeddings")
names = [m.model for m in client.list().models]
assert f"{model}:latest" in names, names
# ps lists the loaded model; keep_alive=0 unloads it once answered, the next request loads it again.
loaded = {m.model: m for m in client.ps().models}
assert f"{model}:latest" in loaded and loaded[f"{model}:latest"].size > 0, loaded
assert loaded[f"{model}:latest"].expires_at is not None, loaded
check(client.embed(model="all-minilm", input=texts[:2], keep_alive=0).embeddings, references[:2], "ollama keep_alive 0")
assert f"{model}:latest" not in {m.model for m in client.ps().models}, client.ps()
check(client.embed(model="all-minilm", input=texts[:2], keep_alive="5m").embeddings, references[:2], "ollama reloaded")
assert f"{model}:latest" in {m.model for m in client.ps().models}, client.ps()
try:
    client.embed(model="no-such-model", input="x")
    raise AssertionError("expected ResponseError")
except ollama.ResponseError as error:
    assert error.status_code == 404 and "no-such-model" in error.error, (error.status_code, error.error)

# LlamaIndex's TEI client posts {"inputs": [...], "truncate": true} to /embed.
llama = TextEmbeddingsInference(model_name=model, base_url=base_url, embed_batch_size=10)
check(llama.get_text_embedding_batch(texts), references, "llama-index batch")
check([llama.get_query_embedding(texts[2])], references[2:3], "llama-index query")

print(
    f"huggingface_hub {huggingface_hub.__version__}, ollama {ollama.__version__ if hasattr(ollama, '__version__') else ''}, "
    f"llama-index TEI: all checks passed against {base_url}"
)
