//! A fixed set of threads, one per lent core, that run units off the node's async runtime.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// Threads that run tasks in the order they were queued; the queue is bounded.
pub struct Pool {
    tx: SyncSender<Task>,
    threads: usize,
}

/// Why a task was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// As many tasks wait as the queue holds.
    #[error("the compute pool's queue is full")]
    Full,
    /// The threads are gone.
    #[error("the compute pool has stopped")]
    Stopped,
}

impl Pool {
    /// `threads` threads (at least one) with room for `queue` waiting tasks.
    ///
    /// # Errors
    /// The OS error if a thread cannot be started.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (tx, rx) = sync_channel::<Task>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("weft-compute-{i}"))
                .spawn(move || worker_loop(&rx))?;
        }
        Ok(Pool { tx, threads })
    }

    /// How many threads run tasks.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues a task.
    ///
    /// # Errors
    /// [`PoolError`] if the queue is full or the pool stopped.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) -> Result<(), PoolError> {
        self.tx.try_send(Box::new(task)).map_err(|e| match e {
            TrySendError::Full(_) => PoolError::Full,
            TrySendError::Disconnected(_) => PoolError::Stopped,
        })
    }
}

fn worker_loop(rx: &Mutex<Receiver<Task>>) {
    loop {
        let task = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match task {
            Ok(task) => task(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::{Duration, Instant};

    #[test]
    fn tasks_run_on_the_pool_and_a_full_queue_says_so() {
        let pool = Pool::new(1, 1).unwrap();
        let (gate_tx, gate_rx) = channel::<()>();
        let (done_tx, done_rx) = channel();
        let done = done_tx.clone();
        pool.spawn(move || {
            let _ = gate_rx.recv();
            done.send(1).unwrap();
        })
        .unwrap();
        // once the thread holds the first task, one more fits the queue and the next does not
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = done_tx.clone();
            match pool.spawn(move || done.send(2).unwrap()) {
                Ok(()) => break,
                Err(PoolError::Full) => assert!(Instant::now() < deadline),
                Err(e) => panic!("{e}"),
            }
            std::thread::yield_now();
        }
        assert_eq!(pool.spawn(|| {}), Err(PoolError::Full));
        gate_tx.send(()).unwrap();
        let got: Vec<i32> = done_rx.iter().take(2).collect();
        assert_eq!(got, vec![1, 2], "in order, on the pool's thread");
        assert_eq!(pool.threads(), 1);
    }
}
