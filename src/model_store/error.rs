//! Why a listed model could not be made ready, in the three cases a client must tell apart:
//! its files are at fault (no retry helps until someone changes them), its weights do not fit
//! the memory the server may use (no retry helps at this budget), or something that passes (the
//! hub unreachable, a download cut short, a worker thread not started) which a retry may get
//! past. Messages name the file and the fault; whoever reports the error names the model once.

use crate::hub::HubError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Missing, damaged or unsupported files, or an entry's options its files cannot serve.
    #[error("{0}")]
    Files(String),
    /// The weights need more memory than `--max-loaded-bytes` or the process's headroom.
    #[error("{0}")]
    OverBudget(String),
    /// A fault that may pass: retry later.
    #[error("{0}")]
    Transient(String),
}

impl LoadError {
    /// A fault in the files, unless the hub failed in a way that may pass (anywhere in the
    /// error's chain: readers of the pipeline's files wrap what the hub said).
    pub fn from_files(error: &anyhow::Error) -> Self {
        let transient = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<HubError>())
            .is_some_and(|hub| hub.transient);
        let message = format!("{error:#}");
        if transient {
            Self::Transient(message)
        } else {
            Self::Files(message)
        }
    }

    /// Whether the same request may succeed later without anyone changing the files or the
    /// budget.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(transient: bool) -> anyhow::Error {
        anyhow::Error::new(HubError {
            model: "m".into(),
            message: "tokenizer.json: gone".into(),
            transient,
        })
    }

    #[test]
    fn a_hub_fault_that_may_pass_is_transient_through_the_readers_context() {
        let wrapped = hub(true).context("reading the pipeline");
        let error = LoadError::from_files(&wrapped);
        assert!(error.is_transient(), "{error:?}");
        assert_eq!(error.to_string(), "reading the pipeline: tokenizer.json: gone");
    }

    #[test]
    fn anything_else_is_a_fault_in_the_files() {
        assert_eq!(
            LoadError::from_files(&hub(false)),
            LoadError::Files("tokenizer.json: gone".into())
        );
        let plain = anyhow::anyhow!("config.json: unknown model_type");
        assert!(!LoadError::from_files(&plain).is_transient());
    }
}
