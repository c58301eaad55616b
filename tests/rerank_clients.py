"""Drives a running server's rerank routes with real clients, default settings but the base URL:
the official cohere SDK (cohere.ClientV2.rerank -> POST /v2/rerank, cohere.Client.rerank ->
POST /v1/rerank) and LlamaIndex's TextEmbeddingInference reranker
(llama-index-postprocessor-tei-rerank -> POST /rerank).

Usage: python rerank_clients.py BASE_URL FIXTURES_JSONL MODEL
FIXTURES_JSONL holds sentence-transformers' CrossEncoder scores (tests/fixtures/rerank/).
Exits non-zero (with a message) on the first mismatch.
"""
import json
import sys

import cohere
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.tei_rerank import TextEmbeddingInference

base_url, fixtures, model = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]


def check(got, want, what):
    diff = max(abs(g - w) for g, w in zip(got, want))
    assert len(got) == len(want) and diff <= 1e-5, (what, got, want)


def best_first(scores):
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


v2 = cohere.ClientV2(base_url=base_url, api_key="not-checked")
v1 = cohere.Client(base_url=base_url, api_key="not-checked")
for row in rows:
    query, documents, scores = row["query"], row["documents"], row["scores"]
    order = best_first(scores)

    response = v2.rerank(model=model, query=query, documents=documents, top_n=3)
    assert [r.index for r in response.results] == order[:3], (response.results, order)
    check([r.relevance_score for r in response.results], [scores[i] for i in order[:3]], "v2")

    response = v1.rerank(model=model, query=query, documents=documents, return_documents=True)
    assert [r.index for r in response.results] == order, "v1 order"
    assert [r.document.text for r in response.results] == [documents[i] for i in order], "v1 documents"
    check([r.relevance_score for r in response.results], [scores[i] for i in order], "v1")

    reranker = TextEmbeddingInference(base_url=base_url, top_n=2)
    nodes = [NodeWithScore(node=TextNode(text=d), score=0.0) for d in documents]
    ranked = reranker.postprocess_nodes(nodes, QueryBundle(query))
    assert [n.node.text for n in ranked] == [documents[i] for i in order[:2]], "llama-index order"
    check([n.score for n in ranked], [scores[i] for i in order[:2]], "llama-index")

print(f"cohere {cohere.__version__}, llama-index TEI rerank: all checks passed against {base_url}")
