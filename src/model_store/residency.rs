//! Which models are in memory, within a byte budget. A request holds a [`Lease`] on its model
//! from resolving it to answering; a model with a lease is never unloaded. When a lease ends, the
//! model's keep-alive starts: it is unloaded once that expires with no new lease, or earlier,
//! least recently used first, when another model needs its room. A load that does not fit
//! while every resident model is busy waits until one is idle.
//!
//! Generic over what is kept so that the bookkeeping is tested without loading models.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use tokio::sync::Notify;

use super::keep_alive::KeepAlive;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadReason {
    /// Its keep-alive ran out (at once for `keep_alive: 0`).
    Expired,
    /// Another model needed its room within `--max-loaded-bytes`.
    Budget,
}

impl UnloadReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Budget => "budget",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its weights take {needed} bytes, more than the whole --max-loaded-bytes budget of {budget}")]
pub struct LargerThanBudget {
    pub needed: u64,
    pub budget: u64,
}

/// Called with the key, the bytes given back and why, after a model is unloaded.
type UnloadObserver = Box<dyn Fn(&str, u64, UnloadReason) + Send + Sync>;

pub struct Residency<T> {
    budget: Option<u64>,
    default_keep_alive: KeepAlive,
    table: Mutex<Table<T>>,
    /// A lease ended, a model was unloaded or a reservation was given back: room may be free.
    room: Notify,
    /// Wakes the task that unloads expired models when a new expiry is set.
    expiry_set: Arc<Notify>,
    reaper: OnceLock<()>,
    on_unload: UnloadObserver,
}

struct Table<T> {
    resident: HashMap<String, Resident<T>>,
    /// Bytes promised to loads in progress.
    reserved: u64,
}

struct Resident<T> {
    value: Arc<T>,
    bytes: u64,
    leases: usize,
    last_used: Instant,
    expires: Option<Instant>,
}

/// What a resident model looks like from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentState {
    pub bytes: u64,
    /// Requests holding it now.
    pub leases: usize,
    /// When it is unloaded if no request comes: `None` while leased or when kept forever.
    pub expires: Option<Instant>,
}

impl<T: Send + Sync + 'static> Residency<T> {
    pub fn new(
        budget: Option<u64>,
        default_keep_alive: KeepAlive,
        on_unload: impl Fn(&str, u64, UnloadReason) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            budget,
            default_keep_alive,
            table: Mutex::new(Table {
                resident: HashMap::new(),
                reserved: 0,
            }),
            room: Notify::new(),
            expiry_set: Arc::new(Notify::new()),
            reaper: OnceLock::new(),
            on_unload: Box::new(on_unload),
        })
    }

    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    pub fn default_keep_alive(&self) -> KeepAlive {
        self.default_keep_alive
    }

    fn table(&self) -> MutexGuard<'_, Table<T>> {
        // Every change to the table is complete before anything that could panic.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A lease on the model under `key` if it is resident; `keep_alive` (else the default)
    /// applies once the lease ends.
    pub fn lease(self: &Arc<Self>, key: &str, keep_alive: Option<KeepAlive>) -> Option<Lease<T>> {
        let mut table = self.table();
        let resident = table.resident.get_mut(key)?;
        resident.leases += 1;
        resident.expires = None;
        let value = Arc::clone(&resident.value);
        drop(table);
        Some(self.lease_of(key, value, keep_alive))
    }

    /// The lease of a lease count already taken.
    fn lease_of(self: &Arc<Self>, key: &str, value: Arc<T>, keep_alive: Option<KeepAlive>) -> Lease<T> {
        Lease {
            value,
            key: key.to_owned(),
            keep_alive: keep_alive.unwrap_or(self.default_keep_alive),
            residency: Arc::clone(self),
        }
    }

    /// The model under `key` and its state, without leasing it.
    pub fn peek(&self, key: &str) -> Option<(Arc<T>, ResidentState)> {
        let table = self.table();
        let resident = table.resident.get(key)?;
        Some((Arc::clone(&resident.value), resident.state()))
    }

    /// Bytes held by resident models and loads in progress.
    pub fn used_bytes(&self) -> u64 {
        self.table().used()
    }

    /// Room for `bytes` more, unloading idle models (least recently used first) as needed and
    /// waiting for busy ones to become idle. Fails at once only when `bytes` alone exceed the
    /// budget. Cancel-safe: a dropped wait has taken nothing.
    pub async fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation<T>, LargerThanBudget> {
        if let Some(budget) = self.budget.filter(|&budget| bytes > budget) {
            return Err(LargerThanBudget { needed: bytes, budget });
        }
        loop {
            let room_freed = self.room.notified();
            tokio::pin!(room_freed);
            // Registered before looking, so a lease ending between the look and the wait wakes it.
            room_freed.as_mut().enable();
            let (fits, evicted) = self.evict_for(bytes);
            self.report(evicted, UnloadReason::Budget);
            if fits {
                return Ok(Reservation {
                    bytes,
                    residency: Arc::clone(self),
                    installed: false,
                });
            }
            room_freed.await;
        }
    }

    /// Takes idle models out, least recently used first, until `bytes` fit, and reserves them.
    /// Takes none out when even all the idle ones would not make room: the load waits for a
    /// busy model, and the idle ones stay for the requests that may come meanwhile.
    fn evict_for(&self, bytes: u64) -> (bool, Vec<(String, Resident<T>)>) {
        let mut table = self.table();
        let Some(budget) = self.budget else {
            table.reserved += bytes;
            return (true, Vec::new());
        };
        let mut idle: Vec<(String, Instant, u64)> = table
            .resident
            .iter()
            .filter(|(_, r)| r.leases == 0)
            .map(|(key, r)| (key.clone(), r.last_used, r.bytes))
            .collect();
        let idle_bytes: u64 = idle.iter().map(|(_, _, bytes)| bytes).sum();
        if table.used() - idle_bytes + bytes > budget {
            return (false, Vec::new());
        }
        idle.sort_by_key(|(_, last_used, _)| *last_used);
        let mut evicted = Vec::new();
        for (key, _, _) in idle {
            if table.used() + bytes <= budget {
                break;
            }
            evicted.extend(table.resident.remove_entry(&key));
        }
        table.reserved += bytes;
        (true, evicted)
    }

    /// Drops unloaded models outside the lock and tells the observer.
    fn report(&self, unloaded: Vec<(String, Resident<T>)>, reason: UnloadReason) {
        if unloaded.is_empty() {
            return;
        }
        for (key, resident) in unloaded {
            let bytes = resident.bytes;
            drop(resident);
            (self.on_unload)(&key, bytes, reason);
        }
        self.room.notify_waiters();
    }

    fn release(self: &Arc<Self>, key: &str, value: &Arc<T>, keep_alive: KeepAlive) {
        let now = Instant::now();
        let mut unloaded = Vec::new();
        let mut expiry_set = false;
        {
            let mut table = self.table();
            if let Some(resident) = table.resident.get_mut(key).filter(|r| Arc::ptr_eq(&r.value, value)) {
                resident.leases -= 1;
                resident.last_used = now;
                if resident.leases == 0 {
                    resident.expires = keep_alive.expiry(now);
                    match resident.expires {
                        Some(at) if at <= now => unloaded.extend(table.resident.remove_entry(key)),
                        Some(_) => expiry_set = true,
                        None => {}
                    }
                }
            }
        }
        self.report(unloaded, UnloadReason::Expired);
        // A lease ending frees no bytes, but a waiting load may now unload this model.
        self.room.notify_waiters();
        if expiry_set {
            self.start_reaper();
            self.expiry_set.notify_one();
        }
    }

    /// Unloads every idle model whose keep-alive has run out; returns the next expiry.
    fn unload_expired(&self, now: Instant) -> Option<Instant> {
        let (unloaded, next) = {
            let mut table = self.table();
            let expired: Vec<String> = table
                .resident
                .iter()
                .filter(|(_, r)| r.leases == 0 && r.expires.is_some_and(|at| at <= now))
                .map(|(key, _)| key.clone())
                .collect();
            let unloaded: Vec<_> = expired
                .iter()
                .filter_map(|key| table.resident.remove_entry(key))
                .collect();
            let next = table.resident.values().filter_map(|r| r.expires).min();
            (unloaded, next)
        };
        self.report(unloaded, UnloadReason::Expired);
        next
    }

    /// One task per residency sleeps until the next expiry; started with the first expiry, in
    /// the runtime of the request that set it.
    fn start_reaper(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.reaper.get_or_init(|| {
            let residency = Arc::downgrade(self);
            let woken = Arc::clone(&self.expiry_set);
            runtime.spawn(unload_when_expired(residency, woken));
        });
    }
}

/// Holds only a weak reference between wake-ups, so a dropped residency ends the task.
async fn unload_when_expired<T: Send + Sync + 'static>(residency: Weak<Residency<T>>, woken: Arc<Notify>) {
    loop {
        let next = match residency.upgrade() {
            Some(residency) => residency.unload_expired(Instant::now()),
            None => return,
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = woken.notified() => {}
                }
            }
            None => woken.notified().await,
        }
    }
}

impl<T> Drop for Residency<T> {
    fn drop(&mut self) {
        self.expiry_set.notify_one();
    }
}

impl<T> Table<T> {
    fn used(&self) -> u64 {
        self.reserved + self.resident.values().map(|r| r.bytes).sum::<u64>()
    }
}

impl<T> Resident<T> {
    fn state(&self) -> ResidentState {
        ResidentState {
            bytes: self.bytes,
            leases: self.leases,
            expires: self.expires,
        }
    }
}

/// Room promised to one load; given back if the load fails or is abandoned.
pub struct Reservation<T: Send + Sync + 'static> {
    bytes: u64,
    residency: Arc<Residency<T>>,
    installed: bool,
}

impl<T: Send + Sync + 'static> Reservation<T> {
    /// The loaded model takes the reserved room, leased to the caller.
    pub fn install(mut self, key: &str, value: T, keep_alive: Option<KeepAlive>) -> Lease<T> {
        let value = Arc::new(value);
        {
            let mut table = self.residency.table();
            table.reserved -= self.bytes;
            table.resident.insert(
                key.to_owned(),
                Resident {
                    value: Arc::clone(&value),
                    bytes: self.bytes,
                    leases: 1,
                    last_used: Instant::now(),
                    expires: None,
                },
            );
        }
        self.installed = true;
        self.residency.lease_of(key, value, keep_alive)
    }
}

impl<T: Send + Sync + 'static> Drop for Reservation<T> {
    fn drop(&mut self) {
        if !self.installed {
            self.residency.table().reserved -= self.bytes;
            self.residency.room.notify_waiters();
        }
    }
}

/// A request's hold on a resident model: it stays loaded while the lease lives.
pub struct Lease<T: Send + Sync + 'static> {
    value: Arc<T>,
    key: String,
    keep_alive: KeepAlive,
    residency: Arc<Residency<T>>,
}

impl<T: Send + Sync + 'static> Lease<T> {
    /// The model itself, for blocking work that must own a handle; the lease still decides
    /// when the model may be unloaded.
    pub fn shared(&self) -> Arc<T> {
        Arc::clone(&self.value)
    }
}

impl<T: Send + Sync + 'static> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send + Sync + 'static> Drop for Lease<T> {
    fn drop(&mut self) {
        self.residency.release(&self.key, &self.value, self.keep_alive);
    }
}

#[cfg(test)]
#[path = "residency_tests.rs"]
mod tests;
