//! The integration tests, one binary: each module starts the real router (or the real
//! binary) on loopback and speaks one area's protocol the way its clients do. `common` holds
//! the helpers they share. The bfloat16 suite is a binary of its own (`tests/bfloat16.rs`):
//! it caps the CPU kernels, which is process-wide state.

mod common;

mod api;
mod cache;
mod cli;
mod client_libraries;
mod cohere;
mod conformance;
mod dialects;
mod docs;
mod download;
mod embed_all;
mod fuzz;
mod gemma3;
mod grpc;
mod gte;
mod hostile;
mod lifecycle;
mod load_errors;
mod memory_budget;
mod mistral;
mod modernbert;
mod nomic_bert;
mod observability;
mod openapi;
mod otlp;
mod parity;
mod pipelines;
mod qwen3;
mod rerank;
mod rerank_limits;
mod sparse;
mod tei_drop_in;
mod tei_routes;
mod timings;
