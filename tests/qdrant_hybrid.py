"""Hybrid search in a real Qdrant with this server's vectors: qdrant-client's local mode
(QdrantClient(":memory:"), Qdrant's own engine in-process; no server binary is installable from
the registries CI reaches), one collection with a named dense vector (all-MiniLM-L6-v2 through
POST /v1/embeddings, via the OpenAI SDK) and a named sparse one (the tiny SPLADE model through
TEI's POST /embed_sparse). Checks that Qdrant stores exactly sentence-transformers' sparse
vectors, and that a hybrid query (both prefetched, fused by reciprocal rank fusion) ranks the
expected document first.

Usage: python qdrant_hybrid.py BASE_URL SPLADE_JSONL DENSE_MODEL SPARSE_MODEL
SPLADE_JSONL holds SparseEncoder.encode's vectors of the shared texts (tests/fixtures/rerank/).
"""
import json
import sys
import urllib.request

import openai
from qdrant_client import QdrantClient, models

base_url, fixtures, dense_model, sparse_model = sys.argv[1:5]
rows = [json.loads(line) for line in open(fixtures, encoding="utf-8") if line.strip()]
# Distinct documents (the shared texts repeat a few).
seen, corpus = set(), []
for row in rows:
    if row["text"] not in seen:
        seen.add(row["text"])
        corpus.append(row)
texts = [row["text"] for row in corpus]


def embed_sparse(inputs):
    request = urllib.request.Request(
        base_url + "/embed_sparse",
        data=json.dumps({"model": sparse_model, "inputs": inputs}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return [
            models.SparseVector(indices=[e["index"] for e in v], values=[e["value"] for e in v])
            for v in json.load(answer)
        ]


dense_client = openai.OpenAI(base_url=base_url + "/v1", api_key="not-checked")


def embed_dense(inputs):
    return [d.embedding for d in dense_client.embeddings.create(model=dense_model, input=inputs).data]


dense = embed_dense(texts)
sparse = embed_sparse(texts)

qdrant = QdrantClient(":memory:")
qdrant.create_collection(
    "docs",
    vectors_config={"dense": models.VectorParams(size=len(dense[0]), distance=models.Distance.COSINE)},
    sparse_vectors_config={"sparse": models.SparseVectorParams()},
)
qdrant.upsert(
    "docs",
    points=[
        models.PointStruct(id=i, vector={"dense": d, "sparse": s}, payload={"text": t})
        for i, (t, d, s) in enumerate(zip(texts, dense, sparse))
    ],
)

# What Qdrant stored is sentence-transformers' vector: values within 1e-5, an entry absent on
# one side counting as 0 (a logit within float32 rounding of zero gives a few 1e-8 on one side
# only; at most two such entries a vector).
stored = qdrant.retrieve("docs", ids=list(range(len(texts))), with_vectors=True)
for point in stored:
    vector = point.vector["sparse"]
    got = dict(zip(vector.indices, vector.values))
    want = dict(zip(corpus[point.id]["indices"], corpus[point.id]["values"]))
    one_sided = set(got) ^ set(want)
    assert len(one_sided) <= 2, (point.id, sorted(one_sided))
    worst = max(abs(got.get(i, 0.0) - want.get(i, 0.0)) for i in set(got) | set(want))
    assert worst <= 1e-5, (point.id, worst)

# A hybrid query for each document's own text ranks that document first.
checked = 0
for i, text in enumerate(texts):
    if len(text.split()) < 6:
        continue
    [dq], [sq] = embed_dense([text]), embed_sparse([text])
    fused = qdrant.query_points(
        "docs",
        prefetch=[
            models.Prefetch(query=dq, using="dense", limit=10),
            models.Prefetch(query=sq, using="sparse", limit=10),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=3,
    ).points
    assert fused[0].id == i, (text, [p.id for p in fused])
    # The random SPLADE model's dot products favour long documents, so the sparse side alone
    # need not rank the text first, but it finds it among its ten.
    alone = qdrant.query_points("docs", query=sq, using="sparse", limit=10).points
    assert i in [p.id for p in alone], (text, [p.id for p in alone])
    checked += 1
assert checked >= 5, checked

print(f"qdrant local mode: {len(texts)} documents, {checked} hybrid queries; all checks passed")
