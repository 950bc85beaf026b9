//! `/weft/compute/1`, the coordinator side: one request per stream (an ask, a fetch or a
//! report), answered with one response. Requests are bounded before they are read, decoded
//! without panics and checked; what one peer can hold is bounded per peer and in all.

use std::time::Duration;

use futures::StreamExt;
use tracing::debug;
use weft_compute::outcome::{Outcome, Report};
use weft_compute::wire::{
    self, MAX_OFFER, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME, Offer, PROTOCOL, Request, Response,
};
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_net::framing::{read_frame, write_last_frame};
use weft_net::libp2p::StreamProtocol;

use super::{Compute, ComputeError, db};
use crate::share::per_peer::PerPeer;

/// Streams served at once.
const MAX_INBOUND: u32 = 64;
/// Streams one peer may have served at once.
const MAX_INBOUND_PER_PEER: u32 = 8;
/// Time a peer has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) fn spawn(compute: Compute) -> Result<(), ComputeError> {
    let mut incoming = compute
        .net()
        .inbound()
        .accept(
            StreamProtocol::new(PROTOCOL),
            weft_net::inbound::DEFAULT_BACKLOG,
        )
        .map_err(|_| ComputeError::AlreadyRegistered)?;
    let slots = PerPeer::default();
    tokio::spawn(async move {
        while let Some((peer, mut stream)) = incoming.next().await {
            let Some(ticket) = slots.take(peer, |c| {
                c.total < MAX_INBOUND && c.mine < MAX_INBOUND_PER_PEER
            }) else {
                debug!(%peer, "compute: too many streams; dropped");
                continue;
            };
            let compute = compute.clone();
            tokio::spawn(async move {
                let _ticket = ticket;
                let serve = async {
                    let frame = read_frame(&mut stream, MAX_REQUEST_FRAME)
                        .await
                        .map_err(|e| e.to_string())?;
                    let request: Request =
                        wire::decode(&frame, MAX_REQUEST_FRAME).map_err(|e| e.to_string())?;
                    compute.net().mark_useful(&peer);
                    let c = compute.clone();
                    let response = tokio::task::spawn_blocking(move || answer(&c, peer, request))
                        .await
                        .map_err(|e| e.to_string())?;
                    let bytes = weft_core::wire::encode(&response, MAX_RESPONSE_FRAME)
                        .map_err(|e| e.to_string())?;
                    write_last_frame(&mut stream, &bytes)
                        .await
                        .map_err(|e| e.to_string())
                };
                match tokio::time::timeout(READ_TIMEOUT, serve).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(%peer, "compute request: {e}"),
                    Err(_) => debug!(%peer, "compute request timed out"),
                }
            });
        }
    });
    Ok(())
}

/// Answers one request (blocking: the engine's lock and the database).
fn answer(compute: &Compute, peer: PeerId, request: Request) -> Response {
    match request {
        Request::Ask { slots } => Response::Offers(offers(compute, peer, usize::from(slots))),
        Request::Fetch { hash } => match db::blob(&compute.db(), &hash) {
            Ok(Some(bytes)) => Response::Blob(bytes),
            _ => Response::NotFound,
        },
        Request::Report {
            job,
            unit,
            report,
            output,
        } => {
            let now = compute.now();
            // the output must be the one the outcome names, and within the job's limit
            let limit = compute.with_engine(|e| e.spec(&job).map(|s| s.limits.output_bytes));
            let Some(limit) = limit else {
                return Response::Refused;
            };
            let fits = match &report {
                Report::Done(Outcome::Output { hash, .. }) => {
                    output.len() <= limit as usize && Key256::hash(&output) == *hash
                }
                _ => output.is_empty(),
            };
            if !fits {
                debug!(%peer, %job, unit, "compute: report with an output that does not match");
                return Response::Refused;
            }
            if let Report::Done(Outcome::Output { hash, .. }) = &report
                && let Err(e) = db::insert_candidate(&compute.db(), &job, unit, hash, &output)
            {
                debug!("compute: cannot keep an output: {e}");
                return Response::Refused;
            }
            match compute.with_engine(|e| e.report(now, &peer, &job, unit, report)) {
                Ok(()) => Response::Taken,
                Err(e) => {
                    debug!(%peer, %job, unit, "compute: report refused: {e}");
                    Response::Refused
                }
            }
        }
    }
}

fn offers(compute: &Compute, peer: PeerId, slots: usize) -> Vec<Offer> {
    let now = compute.now();
    compute.with_engine(|engine| {
        let issued = engine.assign(now, &peer, slots.min(MAX_OFFER));
        issued
            .into_iter()
            .filter_map(|i| {
                let spec = engine.spec(&i.job)?;
                let unit = spec.units.get(i.unit as usize)?;
                Some(Offer {
                    job: i.job,
                    unit: i.unit,
                    module: spec.module,
                    module_size: spec.module_size,
                    abi: spec.abi,
                    input: unit.input,
                    input_size: unit.size,
                    limits: spec.limits,
                    deadline_ms: spec.deadline_ms,
                })
            })
            .collect()
    })
}

/// Sends one request to `peer` and reads its response (the worker side's client).
pub(super) async fn request(
    compute: &Compute,
    peer: PeerId,
    request: &Request,
    timeout: Duration,
) -> Result<Response, String> {
    let mut control = compute.net().stream_control();
    let exchange = async {
        let mut stream = control
            .open_stream(peer, StreamProtocol::new(PROTOCOL))
            .await
            .map_err(|e| e.to_string())?;
        let bytes =
            weft_core::wire::encode(request, MAX_REQUEST_FRAME).map_err(|e| e.to_string())?;
        weft_net::framing::write_frame(&mut stream, &bytes)
            .await
            .map_err(|e| e.to_string())?;
        let frame = read_frame(&mut stream, MAX_RESPONSE_FRAME)
            .await
            .map_err(|e| e.to_string())?;
        wire::decode::<Response>(&frame, MAX_RESPONSE_FRAME).map_err(|e| e.to_string())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}
