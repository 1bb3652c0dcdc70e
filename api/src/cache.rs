//! Answers for an unchanged store, kept in memory. An entry is valid for one fingerprint (the
//! size and modification time of the store manifest, the inventory and the workspace with its
//! write-ahead log, and the server's own change counter); any change empties the cache. Concurrent requests for the same missing
//! entry compute it once and share it.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::OnceCell;

use crate::error::ApiError;

/// At most this many answers are kept; beyond it the cache starts over.
const MAX_ENTRIES: usize = 512;

/// What cached answers depend on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Fingerprint {
    files: Vec<Option<(u64, SystemTime)>>,
    generation: u64,
}

impl Fingerprint {
    pub(crate) fn of(files: &[&Path], generation: u64) -> Fingerprint {
        let files = files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
            })
            .collect();
        Fingerprint { files, generation }
    }
}

/// What an answer is the answer to: the question and every parameter it depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    KnownGroups,
    Report {
        window: query::Window,
        include_noise: bool,
        groups: Vec<String>,
        collections: Vec<query::Collection>,
        outcome: query::report::OutcomeFilter,
    },
    Readiness {
        window: query::Window,
        include_noise: bool,
        groups: Vec<String>,
        min_days: u32,
        silent_days: u32,
    },
    Suggestions {
        window: query::Window,
        include_noise: bool,
        group: String,
        granularity: Option<policy::suggest::Granularity>,
    },
    Candidate {
        group: String,
    },
    Decisions {
        group: String,
        history: bool,
    },
    Timeline {
        window: query::Window,
        include_noise: bool,
        groups: Vec<String>,
    },
}

type Slot = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

#[derive(Debug, Default)]
struct Entries {
    fingerprint: Fingerprint,
    slots: HashMap<CacheKey, Slot>,
}

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct ResponseCache {
    entries: Mutex<Entries>,
}

/// Whether an answer came from the cache (sent as `X-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Hit,
    Miss,
}

impl Lookup {
    pub(crate) fn header_value(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
        }
    }
}

impl ResponseCache {
    /// The answer for `key` under `fingerprint`, computed by `compute` when missing. Errors
    /// are not kept: the next request tries again.
    pub(crate) async fn get_or_compute<T, F, Fut>(
        &self,
        fingerprint: Fingerprint,
        key: CacheKey,
        compute: F,
    ) -> Result<(Arc<T>, Lookup), ApiError>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.fingerprint != fingerprint || entries.slots.len() >= MAX_ENTRIES {
                entries.slots.clear();
                entries.fingerprint = fingerprint;
            }
            entries.slots.entry(key).or_default().clone()
        };
        let mut lookup = Lookup::Hit;
        let value = slot
            .get_or_try_init(|| {
                lookup = Lookup::Miss;
                async {
                    compute()
                        .await
                        .map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>)
                }
            })
            .await?
            .clone();
        let typed = value.downcast::<T>().map_err(|_| {
            ApiError::internal(
                "the response cache",
                &std::io::Error::other("cached value of another type under the same key"),
            )
        })?;
        Ok((typed, lookup))
    }

    /// Number of answers kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slots
            .values()
            .filter(|s| s.initialized())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn print(generation: u64) -> Fingerprint {
        Fingerprint {
            files: vec![],
            generation,
        }
    }

    fn key(name: &str) -> CacheKey {
        CacheKey::Timeline {
            window: query::Window::default(),
            include_noise: false,
            groups: vec![name.to_owned()],
        }
    }

    #[tokio::test]
    async fn computes_once_per_fingerprint_and_key() {
        let cache = ResponseCache::default();
        let runs = AtomicUsize::new(0);
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ApiError>(42u32)
        };
        let (v, l) = cache
            .get_or_compute(print(0), key("a"), compute)
            .await
            .unwrap();
        assert_eq!((*v, l), (42, Lookup::Miss));
        let (_, l) = cache
            .get_or_compute(print(0), key("a"), compute)
            .await
            .unwrap();
        assert_eq!(l, Lookup::Hit);
        cache
            .get_or_compute(print(0), key("b"), compute)
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A change of the store empties the cache.
        let (_, l) = cache
            .get_or_compute(print(1), key("a"), compute)
            .await
            .unwrap();
        assert_eq!(l, Lookup::Miss);
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let cache = ResponseCache::default();
        let failed = cache
            .get_or_compute(print(0), key("a"), || async {
                Err::<u32, _>(ApiError::bad_parameter("no"))
            })
            .await;
        assert!(failed.is_err());
        let (v, l) = cache
            .get_or_compute(print(0), key("a"), || async { Ok::<_, ApiError>(7u32) })
            .await
            .unwrap();
        assert_eq!((*v, l), (7, Lookup::Miss));
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let cache = Arc::new(ResponseCache::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(print(0), key("k"), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, ApiError>(1u8)
                    })
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
