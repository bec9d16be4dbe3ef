//! Connection workers: one single-threaded runtime per CPU the process may use, each on a
//! thread of its own.
//!
//! The listener's accept loop hands every accepted connection to the next worker, round robin,
//! and the connection lives there until it closes: its requests, the handler's work and the
//! upstream calls they make (each worker has its own upstream connection pool, see
//! [`crate::sidecar::upstream`]) all run on one thread. A request then never wakes a task on
//! another thread; on a multi-threaded runtime the client connection, the upstream connection
//! and the handler were polled wherever a worker was free, and every hand-off between them was
//! a cross-thread wake-up (a futex and a context switch). For the same reason an accepted
//! connection is taken off the accept loop's reactor and registered with its worker's own
//! (see [`crate::http::server`]): readiness events then wake the worker directly, where before
//! the accept loop's thread woke for each read and write and woke the worker in turn.
//! Shared state (the credential cache,
//! the scrubber, the metrics, the connection cap) stays shared: it is behind locks and atomics
//! that do not care which thread asks.
//!
//! Dropping [`Workers`] stops them: each runtime is dropped on its own thread, and the tasks
//! still on it (connections past the shutdown grace) are cut.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Runtimes that connections are spread over.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("count", &self.handles.len())
            .finish()
    }
}

/// How many workers to start: one per CPU the process may use (the cgroup quota counts), at
/// least one.
pub fn default_count() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Workers {
    /// Starts `count` workers (at least one), named `{name}-{index}`.
    pub fn start(name: &str, count: usize) -> std::io::Result<Self> {
        let count = count.max(1);
        let mut handles = Vec::with_capacity(count);
        let mut stops = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
        }
        Ok(Self {
            handles,
            stops,
            next: AtomicUsize::new(0),
        })
    }

    /// How many workers there are.
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Runs `task` on the next worker.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        drop(self.handles[index].spawn(task));
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn tasks_are_spread_round_robin_and_each_stays_on_its_thread() {
        let workers = Workers::start("test-worker", 2).unwrap();
        assert_eq!(workers.count(), 2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done, mut finished) = tokio::sync::mpsc::channel::<()>(4);
        for _ in 0..4 {
            let seen = seen.clone();
            let done = done.clone();
            workers.spawn(async move {
                let before = thread::current().name().map(str::to_owned);
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let after = thread::current().name().map(str::to_owned);
                seen.lock().unwrap().push((before, after));
                let _ = done.send(()).await;
            });
        }
        for _ in 0..4 {
            finished.recv().await.unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|(before, after)| before == after));
        let names: HashSet<_> = seen.iter().map(|(name, _)| name.clone().unwrap()).collect();
        assert_eq!(
            names,
            HashSet::from(["test-worker-0".to_owned(), "test-worker-1".to_owned()])
        );
    }

    #[test]
    fn at_least_one_worker_starts() {
        assert_eq!(Workers::start("one", 0).unwrap().count(), 1);
        assert!(default_count() >= 1);
    }
}
