"""The peer this project is measured against: a FastAPI + sentence-transformers embeddings
service of the kind people write by hand, serving the same all-MiniLM-L6-v2 snapshot.

    python benches/baseline_server.py SNAPSHOT_DIR PORT

It speaks just enough of OpenAI's API for the load generator (float vectors and usage), and
runs as such services usually do: one uvicorn worker, `model.encode` per request in a thread.
"""
import sys

import uvicorn
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

snapshot, port = sys.argv[1], int(sys.argv[2])
model = SentenceTransformer(snapshot, device="cpu")
app = FastAPI()


class Request(BaseModel):
    model: str
    input: str | list[str]
    encoding_format: str | None = None


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/v1/embeddings")
async def embeddings(request: Request):
    texts = [request.input] if isinstance(request.input, str) else request.input
    vectors = await run_in_threadpool(model.encode, texts, normalize_embeddings=True, batch_size=32)
    tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"])
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
