"""Drives a running server with LangChain's CohereRerank (langchain-cohere), default settings but
the base URL: compress_documents (POST /v2/rerank, top_n 3) and rerank.

Usage: python langchain_cohere_rerank.py BASE_URL FIXTURES_JSONL MODEL
Exits non-zero (with a message) on the first mismatch.
"""
import json
import sys

from langchain_cohere import CohereRerank
from langchain_core.documents import Document

base_url, fixtures, model = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]

reranker = CohereRerank(model=model, cohere_api_key="not-checked", base_url=base_url)
for row in rows:
    query, documents, scores = row["query"], row["documents"], row["scores"]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = reranker.compress_documents([Document(page_content=d) for d in documents], query)
    assert [d.page_content for d in kept] == [documents[i] for i in order[:3]], "compress_documents order"
    for document, i in zip(kept, order):
        assert abs(document.metadata["relevance_score"] - scores[i]) <= 1e-5, (document.metadata, scores[i])
    ranked = reranker.rerank(documents, query, top_n=5)
    assert [r["index"] for r in ranked] == order, "rerank order"

print(f"langchain-cohere CohereRerank: all checks passed against {base_url}")
