"""Drives the server's gRPC API (package tei.v1) with grpcio, through stubs that grpcio-tools
generates from the repository's proto/tei.proto at run time: every RPC against the
sentence-transformers references, a stream of 1,000 messages, errors (malformed message, wrong
kind, unknown model, over-long input), the health service and reflection's service listing.

Usage: python grpc_client.py TARGET PROTO_DIR FIXTURES_DIR [KEY]
TARGET is host:port. The server lists all-MiniLM-L6-v2 first, then the tiny BERT reranker
(alias bert-rr), the tiny classifier (bert-cls) and the tiny SPLADE model (splade). With KEY the
server requires that API key: calls without it must fail UNAUTHENTICATED.
Exits non-zero (with a message) on the first mismatch; prints "all checks passed".
"""
import json
import os
import sys
import tempfile

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_tools import protoc
from google.protobuf.descriptor_pool import DescriptorPool

target, proto_dir, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
key = sys.argv[4] if len(sys.argv) > 4 else None

stubs = tempfile.mkdtemp()
assert protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={stubs}", f"--grpc_python_out={stubs}", "tei.proto"]) == 0
sys.path.insert(0, stubs)
import tei_pb2 as pb  # noqa: E402
import tei_pb2_grpc as rpc  # noqa: E402


def rows(path):
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def close(a, b, tolerance, what):
    assert len(a) == len(b), (what, len(a), len(b))
    worst = max((abs(float(x) - float(y)) for x, y in zip(a, b)), default=0.0)
    assert worst <= tolerance, (what, worst)


def fails_with(code, call, what):
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == code, (what, error.code(), error.details())
        return error.details()
    raise AssertionError(f"{what}: the call succeeded")


channel = grpc.insecure_channel(target)
metadata = (("authorization", f"Bearer {key}"),) if key else ()
info, embed, predict, rerank, tokenize = (
    rpc.InfoStub(channel),
    rpc.EmbedStub(channel),
    rpc.PredictStub(channel),
    rpc.RerankStub(channel),
    rpc.TokenizeStub(channel),
)

# Health and reflection are open, as the HTTP probes are.
health = health_pb2_grpc.HealthStub(channel)
for service in ["", "tei.v1.Embed", "tei.v1.Rerank"]:
    status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
    assert status == health_pb2.HealthCheckResponse.SERVING, (service, status)
database = ProtoReflectionDescriptorDatabase(channel)
services = set(database.get_services())
expected = {f"tei.v1.{name}" for name in ["Info", "Embed", "Predict", "Rerank", "Tokenize"]}
assert expected <= services, services
assert "grpc.health.v1.Health" in services, services
methods = {m.name for m in DescriptorPool(database).FindServiceByName("tei.v1.Embed").methods}
assert methods == {"Embed", "EmbedStream", "EmbedSparse", "EmbedSparseStream", "EmbedAll", "EmbedAllStream"}, methods

if key:
    fails_with(grpc.StatusCode.UNAUTHENTICATED, lambda: info.Info(pb.InfoRequest()), "no key")
    wrong = (("authorization", "Bearer not-the-key"),)
    fails_with(grpc.StatusCode.UNAUTHENTICATED, lambda: info.Info(pb.InfoRequest(), metadata=wrong), "wrong key")
    fails_with(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: list(embed.EmbedStream(iter([pb.EmbedRequest(inputs="a")]))),
        "stream without a key",
    )

about = info.Info(pb.InfoRequest(), metadata=metadata)
assert about.model_type == pb.MODEL_TYPE_EMBEDDING, about
assert about.model_id == "sentence-transformers/all-MiniLM-L6-v2", about.model_id
assert about.max_input_length == 256 and about.max_client_batch_size >= 1, about

# Embed: each text alone, then a stream of 1,000 messages whose answers keep their order.
minilm = rows(os.path.join(fixtures, "minilm_reference.jsonl"))
for row in minilm[:8]:
    answer = embed.Embed(pb.EmbedRequest(inputs=row["text"], truncate=True), metadata=metadata)
    close(answer.embeddings, row["embedding"], 2e-5, ("Embed", row["text"]))
    assert answer.metadata.compute_tokens == row["tokens"], (answer.metadata, row["tokens"])
    assert answer.metadata.total_time_ns >= answer.metadata.inference_time_ns > 0, answer.metadata
    assert answer.metadata.compute_chars == len(row["text"]), answer.metadata
unnormalized = embed.Embed(pb.EmbedRequest(inputs=minilm[0]["text"], truncate=True, normalize=False, dimensions=8), metadata=metadata)
assert len(unnormalized.embeddings) == 8, len(unnormalized.embeddings)
requests = [pb.EmbedRequest(inputs=minilm[i % 16]["text"], truncate=True) for i in range(1000)]
answers = list(embed.EmbedStream(iter(requests), metadata=metadata))
assert len(answers) == 1000, len(answers)
for i, answer in enumerate(answers):
    close(answer.embeddings, minilm[i % 16]["embedding"], 2e-5, ("EmbedStream", i))

# EmbedAll: one state per token, whose normalised mean is the pooled vector.
states = embed.EmbedAll(pb.EmbedAllRequest(inputs=minilm[0]["text"], truncate=True), metadata=metadata)
assert len(states.token_embeddings) == minilm[0]["tokens"], len(states.token_embeddings)
mean = [sum(t.embeddings[d] for t in states.token_embeddings) / minilm[0]["tokens"] for d in range(384)]
norm = sum(x * x for x in mean) ** 0.5
close([x / norm for x in mean], minilm[0]["embedding"], 2e-5, "EmbedAll")
streamed = list(embed.EmbedAllStream(iter([pb.EmbedAllRequest(inputs=r["text"], truncate=True) for r in minilm[:3]]), metadata=metadata))
assert [len(s.token_embeddings) for s in streamed] == [r["tokens"] for r in minilm[:3]]

# EmbedSparse: the first listed sparse model; indices and values as SparseEncoder gives them.
splade = rows(os.path.join(fixtures, "rerank", "tiny-splade.jsonl"))
sparse_requests = [pb.EmbedSparseRequest(inputs=r["text"], truncate=True) for r in splade[:6]]
one = [embed.EmbedSparse(request, metadata=metadata) for request in sparse_requests]
streamed = list(embed.EmbedSparseStream(iter(sparse_requests), metadata=metadata))
for answer, again, row in zip(one, streamed, splade):
    got = {v.index: v.value for v in answer.sparse_embeddings}
    want = dict(zip(row["indices"], row["values"]))
    # An entry within float32 rounding of zero may be on one side only (README "Sparse vectors").
    for index in set(got) | set(want):
        assert abs(got.get(index, 0.0) - want.get(index, 0.0)) <= 1e-5, ("EmbedSparse", index)
    assert [(v.index, v.value) for v in again.sparse_embeddings] == [(v.index, v.value) for v in answer.sparse_embeddings]

# Rerank, and the same pairs as a client stream: ranks by descending score, scores as CrossEncoder.
for row in rows(os.path.join(fixtures, "rerank", "tiny-bert-reranker.jsonl"))[:3]:
    ranked = rerank.Rerank(pb.RerankRequest(query=row["query"], texts=row["documents"], truncate=True, return_text=True), metadata=metadata)
    by_index = sorted(ranked.ranks, key=lambda r: r.index)
    close([r.score for r in by_index], row["scores"], 1e-5, "Rerank")
    assert [r.score for r in ranked.ranks] == sorted((r.score for r in ranked.ranks), reverse=True)
    assert all(r.text == row["documents"][r.index] for r in ranked.ranks)
    stream = [
        pb.RerankStreamRequest(query=row["query"], text=document, truncate=True, raw_scores=True)
        for document in row["documents"]
    ]
    streamed = rerank.RerankStream(iter(stream), metadata=metadata)
    close([r.score for r in sorted(streamed.ranks, key=lambda r: r.index)], row["raw_scores"], 1e-5, "RerankStream")
    assert all(not r.HasField("text") for r in streamed.ranks)
    assert streamed.metadata.compute_tokens == sum(row["tokens"]), (streamed.metadata.compute_tokens, row["tokens"])

# Predict: the classifier's labels by descending probability.
classes = rows(os.path.join(fixtures, "rerank", "tiny-bert-classifier.jsonl"))
texts = [pb.PredictRequest(inputs=r["text"], truncate=True) for r in classes[:5]]
one = [predict.Predict(request, metadata=metadata) for request in texts]
streamed = list(predict.PredictStream(iter(texts), metadata=metadata))
for answer, again, row in zip(one, streamed, classes):
    close([p.score for p in answer.predictions], sorted(row["probabilities"], reverse=True), 1e-6, "Predict")
    assert [p.label for p in again.predictions] == [p.label for p in answer.predictions]
pair = pb.PredictPairRequest(inputs=["a question", "an answer"], truncate=True)
paired = predict.PredictPair(pair, metadata=metadata)
assert len(paired.predictions) == 3 and abs(sum(p.score for p in paired.predictions) - 1) < 1e-5, paired
assert len(list(predict.PredictPairStream(iter([pair, pair]), metadata=metadata))) == 2
fails_with(
    grpc.StatusCode.INVALID_ARGUMENT,
    lambda: predict.PredictPair(pb.PredictPairRequest(inputs=["one", "two", "three"]), metadata=metadata),
    "a pair of three",
)

# Tokenize and Decode, alone and streamed.
for row in minilm[:4]:
    tokens = tokenize.Tokenize(pb.EncodeRequest(inputs=row["text"], add_special_tokens=True), metadata=metadata).tokens
    assert [t.id for t in tokens] == row["ids"], row["text"]
    assert tokens[0].special and not tokens[0].HasField("start") and tokens[1].HasField("start")
streamed = list(tokenize.TokenizeStream(iter([pb.EncodeRequest(inputs=r["text"], add_special_tokens=True) for r in minilm[:4]]), metadata=metadata))
assert [[t.id for t in s.tokens] for s in streamed] == [r["ids"] for r in minilm[:4]]
text = tokenize.Decode(pb.DecodeRequest(ids=[101, 7592, 2088, 102], skip_special_tokens=True), metadata=metadata).text
assert text == "hello world", text
framed = list(tokenize.DecodeStream(iter([pb.DecodeRequest(ids=[101, 7592, 102], skip_special_tokens=False)]), metadata=metadata))
assert framed[0].text == "[CLS] hello [SEP]", framed[0].text

# Errors: each a status, and the server answers the next call.
over_long = " ".join(["word"] * 600)
fails_with(
    grpc.StatusCode.INVALID_ARGUMENT,
    lambda: embed.Embed(pb.EmbedRequest(inputs=over_long, truncate=False), metadata=metadata),
    "over-long, truncation off",
)
assert len(embed.Embed(pb.EmbedRequest(inputs=over_long, truncate=True), metadata=metadata).embeddings) == 384
fails_with(
    grpc.StatusCode.FAILED_PRECONDITION,
    lambda: embed.Embed(pb.EmbedRequest(inputs="a"), metadata=metadata + (("x-model", "bert-rr"),)),
    "an embedding of a reranker",
)
fails_with(
    grpc.StatusCode.NOT_FOUND,
    lambda: embed.Embed(pb.EmbedRequest(inputs="a"), metadata=metadata + (("x-model", "no-such-model"),)),
    "an unknown model",
)
fails_with(
    grpc.StatusCode.INVALID_ARGUMENT,
    lambda: tokenize.Decode(pb.DecodeRequest(ids=[10**9]), metadata=metadata),
    "an id outside the vocabulary",
)
raw = channel.unary_unary("/tei.v1.Embed/Embed", request_serializer=None, response_deserializer=None)
details = fails_with(grpc.StatusCode.INTERNAL, lambda: raw(b"\x0a\xff\xff\xff\xff\x0f", metadata=metadata), "a malformed message")
assert "decode" in details.lower(), details
assert len(embed.Embed(pb.EmbedRequest(inputs="still serving"), metadata=metadata).embeddings) == 384

print("all checks passed")
