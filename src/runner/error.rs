//! The runner's one error type: what building a model from its files, or running a batch, can
//! run into.

/// Why a task model could not be built, or a batch not run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The checkpoint's files do not hold what its architecture or head needs (a tensor missing
    /// or misshapen, a Dense folder without weights), or its number format cannot run on the
    /// device.
    #[error("{0}")]
    Weights(String),
    /// A sequence the model cannot take (longer than its positions, an id outside its
    /// vocabulary); the engine's callers check these long before.
    #[error("{0}")]
    Input(String),
    /// The tensor library failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}
