"""Drives a running server with LangChain's CohereEmbeddings (langchain-cohere), default
settings but the base URL: embed_documents (input_type search_document) and embed_query
(search_query), synchronous and asynchronous.

Usage: python langchain_cohere_client.py BASE_URL FIXTURES_JSONL
Exits non-zero (with a message) on the first mismatch.
"""
import asyncio
import json
import sys

import langchain_cohere
from langchain_cohere import CohereEmbeddings

base_url, fixtures = sys.argv[1], sys.argv[2]
references = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]
texts = [r["text"] for r in references]


def check(vectors, expected, what):
    assert len(vectors) == len(expected), (what, len(vectors))
    for vector, reference in zip(vectors, expected):
        diff = max(abs(float(x) - y) for x, y in zip(vector, reference["embedding"]))
        assert len(vector) == len(reference["embedding"]) and diff <= 2e-5, (what, reference["text"], diff)


embeddings = CohereEmbeddings(model="all-minilm", cohere_api_key="not-checked", base_url=base_url)
check(embeddings.embed_documents(texts), references, "embed_documents")
check([embeddings.embed_query(texts[3])], references[3:4], "embed_query")
check(asyncio.run(embeddings.aembed_documents(texts[:5])), references[:5], "aembed_documents")
print(f"langchain-cohere {langchain_cohere.__version__ if hasattr(langchain_cohere, '__version__') else ''}: "
      f"all checks passed against {base_url}")
