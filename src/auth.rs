//! API keys: `--api-key` (several, comma-separated) and `--api-key-file` (one per line, read
//! again on SIGHUP). Keys are compared in constant time and never logged.

use std::path::PathBuf;
use std::sync::RwLock;

use subtle::ConstantTimeEq;

pub struct ApiKeys {
    inline: Vec<String>,
    file: Option<PathBuf>,
    keys: RwLock<Vec<Vec<u8>>>,
}

impl ApiKeys {
    /// Keys from the flag's comma-separated list and the file; an unreadable file is an error.
    pub fn new(inline: &str, file: Option<PathBuf>) -> anyhow::Result<Self> {
        let inline = split_keys(inline);
        let keys = Self {
            inline,
            file,
            keys: RwLock::new(Vec::new()),
        };
        keys.reload()?;
        Ok(keys)
    }

    /// No keys at all: every request is let through.
    pub fn none() -> Self {
        Self {
            inline: Vec::new(),
            file: None,
            keys: RwLock::new(Vec::new()),
        }
    }

    /// Reads the key file again (SIGHUP). On failure the keys in force stay.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let mut keys: Vec<Vec<u8>> = self.inline.iter().map(|k| k.as_bytes().to_vec()).collect();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the API key file {}: {e}", path.display()))?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .map(|line| line.as_bytes().to_vec()),
            );
        }
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = keys;
        Ok(count)
    }

    pub fn enabled(&self) -> bool {
        !self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_empty()
    }

    /// Whether an `Authorization` header value carries one of the keys (`Bearer KEY`). Every
    /// key is compared, in constant time, whatever matches.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let keys = self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.is_empty() {
            return true;
        }
        let Some(presented) = authorization.and_then(bearer) else {
            return false;
        };
        keys.iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.as_slice().ct_eq(presented)
            })
            .into()
    }
}

fn split_keys(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The token of `Bearer TOKEN` (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| token.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_the_list_and_the_file_are_accepted_as_bearer_tokens() {
        let dir = std::env::temp_dir().join(format!("embeddings-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("keys");
        std::fs::write(&file, "# rotated monthly\nfile-key\n\n").expect("written");
        let keys = ApiKeys::new(" one , two,", Some(file.clone())).expect("keys");
        assert!(keys.enabled());
        for good in ["Bearer one", "bearer two", "BEARER file-key", "Bearer  one "] {
            assert!(keys.allows(Some(good.as_bytes())), "{good}");
        }
        for bad in ["Bearer three", "one", "Basic one", "Bearer ", "Bearer on", ""] {
            assert!(!keys.allows(Some(bad.as_bytes())), "{bad}");
        }
        assert!(!keys.allows(None));
        std::fs::write(&file, "new-key\n").expect("written");
        assert_eq!(keys.reload().expect("reloads"), 3);
        assert!(keys.allows(Some(b"Bearer new-key")) && !keys.allows(Some(b"Bearer file-key")));
        assert!(ApiKeys::none().allows(None));
    }
}
