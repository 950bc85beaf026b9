//! `weft up --worker`: the lender's side. A task drives `weft-compute`'s worker engine: while
//! cores are idle it asks peers that speak `/weft/compute/1` for work; each offered unit's
//! module and input are fetched (unless the module is compiled already), checked against their
//! hashes, run in the sandbox on the pool of lent cores, and reported.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};
use weft_compute::outcome::{GaveUp, Outcome, Report};
use weft_compute::wire::{self, Offer, Request, Response};
use weft_compute::worker::Worker;
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_sandbox::RunError;
use weft_sandbox::pool::Pool;

use super::{Compute, db, server};

/// Time an ask or a report may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a fetch of a module or input may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What the worker task hears.
pub(crate) enum Msg {
    /// A connected peer speaks `/weft/compute/1`.
    Speaks(PeerId),
    /// A peer left.
    Gone(PeerId),
    /// An ask was answered.
    Offered(PeerId, Vec<Offer>),
    /// An ask failed.
    AskFailed(PeerId),
    /// A unit ended.
    Finished,
}

/// The worker side of a node.
pub(crate) struct Handle {
    cores: usize,
    pool: Arc<Pool>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Msg>>>,
    running: Arc<AtomicU32>,
}

impl Handle {
    /// The pool of `cores` threads.
    pub(crate) fn start(cores: usize) -> std::io::Result<Self> {
        // a queue as long as the pool: the engine never asks for more than the idle slots
        let pool = Arc::new(Pool::new(cores, cores)?);
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Handle {
            cores,
            pool,
            tx,
            rx: Mutex::new(Some(rx)),
            running: Arc::new(AtomicU32::new(0)),
        })
    }

    /// Cores lent.
    pub(crate) fn cores(&self) -> usize {
        self.cores
    }

    /// Units running now.
    pub(crate) fn running(&self) -> u32 {
        self.running.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    /// Starts the worker task (once).
    pub(crate) fn run(&self, compute: Compute) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let tx = self.tx.clone();
        let cores = u32::try_from(self.cores).unwrap_or(u32::MAX);
        let pool = self.pool.clone();
        let running = self.running.clone();
        info!(cores, "lending CPU to peers' compute jobs");
        tokio::spawn(async move {
            let mut engine: Worker<PeerId> = Worker::new(cores);
            loop {
                let wait = engine
                    .poll_timeout()
                    .map(|t| t.saturating_since(compute.now()));
                let msg = match wait {
                    Some(w) => tokio::time::timeout(w, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                };
                let now = compute.now();
                match msg {
                    Some(None) => return,
                    None => engine.handle_timeout(now),
                    Some(Some(m)) => match m {
                        Msg::Speaks(peer) => {
                            engine.add_coordinator(now, peer);
                            engine.handle_timeout(now);
                        }
                        Msg::Gone(peer) => engine.remove_coordinator(&peer),
                        Msg::AskFailed(peer) => engine.handle_ask_failed(now, &peer),
                        Msg::Offered(peer, offers) => {
                            let n = u32::try_from(offers.len()).unwrap_or(u32::MAX);
                            engine.handle_offer(now, &peer, n);
                            for offer in offers {
                                running.fetch_add(1, Ordering::Relaxed);
                                let (c, tx, pool, running) =
                                    (compute.clone(), tx.clone(), pool.clone(), running.clone());
                                tokio::spawn(async move {
                                    run_unit(&c, &pool, peer, offer).await;
                                    running.fetch_sub(1, Ordering::Relaxed);
                                    let _ = tx.send(Msg::Finished);
                                });
                            }
                        }
                        Msg::Finished => engine.handle_finished(now),
                    },
                }
                while let Some((peer, slots)) = engine.poll_transmit() {
                    let (c, tx) = (compute.clone(), tx.clone());
                    tokio::spawn(async move {
                        let ask = Request::Ask {
                            slots: u8::try_from(slots).unwrap_or(u8::MAX),
                        };
                        match server::request(&c, peer, &ask, ASK_TIMEOUT).await {
                            Ok(Response::Offers(o)) => {
                                let _ = tx.send(Msg::Offered(peer, o));
                            }
                            other => {
                                debug!(%peer, "compute ask: {other:?}");
                                let _ = tx.send(Msg::AskFailed(peer));
                            }
                        }
                    });
                }
            }
        });
    }
}

/// Fetches a blob by hash from `peer` and checks it.
async fn fetch(c: &Compute, peer: PeerId, hash: Key256, size: u64) -> Result<Vec<u8>, String> {
    match server::request(c, peer, &Request::Fetch { hash }, FETCH_TIMEOUT).await? {
        Response::Blob(bytes) => {
            wire::verify_blob(&bytes, &hash, size).map_err(|e| e.to_string())?;
            Ok(bytes)
        }
        other => Err(format!("fetch of {} answered {other:?}", hash.short())),
    }
}

async fn run_unit(c: &Compute, pool: &Pool, peer: PeerId, offer: Offer) {
    let started = Instant::now();
    let report = match execute(c, pool, peer, &offer).await {
        Ok((output, fuel)) => (
            Report::Done(Outcome::Output {
                hash: Key256::hash(&output),
                fuel,
            }),
            output,
        ),
        Err(Run::Sandbox(e)) => {
            debug!(job = %offer.job, unit = offer.unit, "unit ended without output: {e}");
            (e.report(), Vec::new())
        }
        Err(Run::Fetch(e)) => {
            debug!(%peer, "cannot fetch a unit's module or input: {e}");
            (Report::GaveUp(GaveUp::Fetch), Vec::new())
        }
    };
    let fuel = match report.0 {
        Report::Done(o) => Some(o.fuel()),
        Report::GaveUp(_) => None,
    };
    let request = Request::Report {
        job: offer.job,
        unit: offer.unit,
        report: report.0,
        output: report.1,
    };
    match server::request(c, peer, &request, ASK_TIMEOUT).await {
        Ok(Response::Taken) => {
            if let Some(fuel) = fuel {
                let busy = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let c = c.clone();
                let peer = peer.to_string();
                let _ =
                    tokio::task::spawn_blocking(move || db::add_lent(&c.db(), &peer, fuel, busy))
                        .await;
            }
        }
        other => debug!(%peer, job = %offer.job, unit = offer.unit, "report not taken: {other:?}"),
    }
}

enum Run {
    Fetch(String),
    Sandbox(RunError),
}

async fn execute(
    c: &Compute,
    pool: &Pool,
    peer: PeerId,
    offer: &Offer,
) -> Result<(Vec<u8>, u64), Run> {
    let sandbox = c.sandbox().clone();
    let compiled = match sandbox.cache().get(&offer.module, offer.abi) {
        Some(m) => m,
        None => {
            let bytes = fetch(c, peer, offer.module, offer.module_size)
                .await
                .map_err(Run::Fetch)?;
            let (s, hash, abi) = (sandbox.clone(), offer.module, offer.abi);
            tokio::task::spawn_blocking(move || s.compile(&hash, &bytes, abi))
                .await
                .map_err(|e| Run::Sandbox(RunError::Internal(e.to_string())))?
                .map_err(Run::Sandbox)?
        }
    };
    let input = fetch(c, peer, offer.input, offer.input_size)
        .await
        .map_err(Run::Fetch)?;
    let (tx, rx) = oneshot::channel();
    let limits = offer.limits;
    pool.spawn(move || {
        let _ = tx.send(sandbox.run(&compiled, &input, &limits));
    })
    .map_err(|e| Run::Sandbox(RunError::Internal(e.to_string())))?;
    let finished = rx
        .await
        .map_err(|e| Run::Sandbox(RunError::Internal(e.to_string())))?
        .map_err(Run::Sandbox)?;
    Ok((finished.output, finished.fuel))
}
