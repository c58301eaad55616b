//! The exact-repeat cache: a text's pipeline vector, addressed by everything that decides it
//! (the entry's weights and number format, pooling, prompt, truncation, and the text), kept
//! within a byte budget, least recently used first out. A hit skips tokenisation and the
//! forward pass and gives back the very vector the miss computed, bit for bit; shortening and
//! normalisation are applied after, per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// What every vector of one request shares in its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The entry's weights and number format (`ModelSpec::weights_key`).
    pub weights: &'a str,
    /// The pooling modes and the leading tokens pooling skips, as text.
    pub pooling: String,
    pub prompt: Option<&'a str>,
    /// How an over-long text is cut (`Right`, `Left`, `Off`).
    pub truncation: &'a str,
}

pub type Key = [u8; 32];

impl Scope<'_> {
    /// The address of `text` in this scope. Every part is length-prefixed, so no two different
    /// scopes and texts share their bytes.
    pub fn key(&self, text: &str) -> Key {
        let mut hash = Sha256::new();
        for part in [
            self.weights,
            &self.pooling,
            self.prompt.unwrap_or("\u{0}none"),
            self.truncation,
            text,
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize().into()
    }
}

/// A cached result: the pipeline's vector and the tokens the model read for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub vector: Vec<f32>,
    pub tokens: usize,
}

impl Cached {
    /// What an entry holds in memory, roughly: the vector, the key and the bookkeeping.
    fn bytes(&self) -> usize {
        self.vector.len() * 4 + 32 * 2 + 96
    }
}

struct Entries {
    by_key: HashMap<Key, (Arc<Cached>, u64)>,
    by_age: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
}

pub struct EmbeddingCache {
    budget: usize,
    entries: Mutex<Entries>,
}

impl EmbeddingCache {
    /// A cache of at most `budget` bytes; 0 turns it off.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            entries: Mutex::new(Entries {
                by_key: HashMap::new(),
                by_age: BTreeMap::new(),
                clock: 0,
                bytes: 0,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves consistent maps (no update spans a panic point).
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&self, key: &Key) -> Option<Arc<Cached>> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        let (cached, age) = entries.by_key.get_mut(key)?;
        let (cached, old) = (Arc::clone(cached), std::mem::replace(age, now));
        entries.by_age.remove(&old);
        entries.by_age.insert(now, *key);
        Some(cached)
    }

    /// Stores `cached` under `key`, evicting the least recently used entries past the budget.
    pub fn put(&self, key: Key, cached: Cached) {
        let size = cached.bytes();
        if !self.enabled() || size > self.budget {
            return;
        }
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        if let Some((old, age)) = entries.by_key.insert(key, (Arc::new(cached), now)) {
            entries.bytes -= old.bytes();
            entries.by_age.remove(&age);
        }
        entries.by_age.insert(now, key);
        entries.bytes += size;
        while entries.bytes > self.budget {
            let Some((_, oldest)) = entries.by_age.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = entries.by_key.remove(&oldest) {
                entries.bytes -= evicted.bytes();
            }
        }
        crate::metrics::cache_size(entries.bytes, entries.by_key.len());
    }

    /// Bytes and entries held now.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.bytes, entries.by_key.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(prompt: Option<&str>) -> Scope<'_> {
        Scope {
            weights: "m",
            pooling: "mean".into(),
            prompt,
            truncation: "Right",
        }
    }

    #[test]
    fn every_part_of_the_address_matters() {
        let base = scope(None).key("text");
        assert_eq!(base, scope(None).key("text"));
        assert_ne!(base, scope(Some("")).key("text"), "an empty prompt is a prompt");
        assert_ne!(base, scope(None).key("text "));
        let other = Scope {
            truncation: "Left",
            ..scope(None)
        };
        assert_ne!(base, other.key("text"));
        // Parts cannot run into each other.
        let a = Scope {
            weights: "ab",
            ..scope(None)
        };
        let b = Scope {
            weights: "a",
            pooling: "bmean".into(),
            ..scope(None)
        };
        assert_ne!(a.key("x"), b.key("x"));
    }

    #[test]
    fn least_recently_used_entries_leave_first_within_the_budget() {
        let entry = |x: f32| Cached {
            vector: vec![x; 8],
            tokens: 3,
        };
        let size = entry(0.0).bytes();
        let cache = EmbeddingCache::new(3 * size);
        let keys: Vec<Key> = (0..4).map(|i| scope(None).key(&i.to_string())).collect();
        for (i, key) in keys.iter().take(3).enumerate() {
            cache.put(*key, entry(i as f32));
        }
        assert!(cache.get(&keys[0]).is_some(), "touch 0: now 1 is the oldest");
        cache.put(keys[3], entry(3.0));
        assert!(cache.get(&keys[1]).is_none());
        assert_eq!(cache.get(&keys[0]).map(|c| c.vector[0]), Some(0.0));
        assert_eq!(cache.usage(), (3 * size, 3));
        let off = EmbeddingCache::new(0);
        off.put(keys[0], entry(1.0));
        assert!(off.get(&keys[0]).is_none());
    }
}
