//! Why an entry's options cannot be served by its model.

/// A prompt name the model does not define (from the models file or a client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPrompt {
    pub name: String,
    pub known: Vec<String>,
}

impl std::fmt::Display for UnknownPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.known.is_empty() {
            write!(f, "prompt {:?} is unknown: this model defines no prompts", self.name)
        } else {
            write!(
                f,
                "prompt {:?} is unknown: this model's prompts are {}",
                self.name,
                self.known.join(", ")
            )
        }
    }
}

impl std::error::Error for UnknownPrompt {}

/// An entry's options that its model cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServingError {
    #[error("pooling={pooling} gives {gives} features but {dense} takes {takes}")]
    PoolingWidth {
        pooling: &'static str,
        gives: usize,
        dense: String,
        takes: usize,
    },
    #[error(transparent)]
    Prompt(#[from] UnknownPrompt),
    #[error("{option}= is a dense embedding option; this model is a {kind} model, which has its own head")]
    NotForScoring { option: &'static str, kind: &'static str },
}
