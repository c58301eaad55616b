//! The parts every architecture is built from, on packed `[tokens, hidden]` activations: the
//! [`embeddings`] of the input, [`attention`] (with [`rotary`] positions or a
//! [`position_bias`]), [`norm`]s, [`mlp`]s, [`projection`]s (linear layers on the packed kernels),
//! and the two [`block`]s that assemble them.

pub mod attention;
pub mod block;
pub mod embeddings;
pub mod mlp;
pub mod norm;
pub mod position_bias;
pub mod projection;
pub mod rotary;
