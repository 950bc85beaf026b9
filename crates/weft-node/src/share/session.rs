//! The downloader's side of `/weft/content/1`: one long-lived stream per source, with the
//! requests pipelined on it.
//!
//! A stream per request cost a stream negotiation each time, and libp2p-stream hands inbound
//! streams over through a channel of one slot: when several arrive at once and the provider's
//! accept loop is not scheduled in between, the extra ones are dropped, which the downloader saw
//! as broken streams. A [`Session`] opens one stream and keeps it: the download loop hands it
//! pieces to ask for ([`Session::ask`]), it writes each request at once and reads the answers in
//! order; every slice is verified on a blocking thread while the next one is read. Results go to
//! the download loop's channel as `(peer, piece, result)`. When the stream fails, every piece
//! still asked for is reported as [`FetchError::Unreachable`] and the session ends; the loop
//! opens a new one when it next asks that source.

use std::collections::VecDeque;
use std::ops::Range;

use futures::AsyncReadExt;
use tokio::sync::mpsc;
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_share::transfer::PieceIndex;
use weft_share::verify;

use super::Share;
use super::content::{self, Answer, FetchError};
use super::piece_file::PieceBuf;

/// What a session reports for one piece: the verified bytes, or why there are none.
pub type PieceResult = (PeerId, PieceIndex, Result<Verified, FetchError>);

/// Whether a session's stream opened: `Err` says why not (the peer could not be reached).
pub type Opened = (PeerId, Result<(), String>);

/// A verified piece: its bytes and the hash pairs its slice proved (for the file's tree).
pub struct Verified {
    /// Exactly the bytes asked for, in a buffer ready for a direct write.
    pub bytes: PieceBuf,
    /// The tree nodes the slice carried.
    pub parts: verify::TreeParts,
}

/// Pieces asked for but not yet written to the stream, at most (the plan's window per source
/// keeps far fewer in flight).
const ASK_QUEUE: usize = 64;

/// A piece to ask for.
struct Ask {
    piece: PieceIndex,
    range: Range<u64>,
}

/// A running session with one source; dropping it ends the session (answers still on their
/// way are then not reported).
pub struct Session {
    asks: mpsc::Sender<Ask>,
    task: tokio::task::AbortHandle,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Starts a session with `peer` for the content `hash` of `size` bytes: it dials and
    /// opens its stream at once and says on `opened` whether that worked; results go to
    /// `results`.
    pub fn start(
        share: &Share,
        peer: PeerId,
        hash: Key256,
        size: u64,
        results: mpsc::Sender<PieceResult>,
        opened: mpsc::Sender<Opened>,
    ) -> Self {
        let (asks, rx) = mpsc::channel(ASK_QUEUE);
        let share = share.clone();
        let task = tokio::spawn(run(share, peer, hash, size, rx, results, opened));
        Session {
            asks,
            task: task.abort_handle(),
        }
    }

    /// Asks for `piece` (`range` of the content). False if the session has ended: start a
    /// new one.
    pub fn ask(&self, piece: PieceIndex, range: Range<u64>) -> bool {
        self.asks.try_send(Ask { piece, range }).is_ok()
    }

    /// Whether the session has ended (its stream failed).
    pub fn is_closed(&self) -> bool {
        self.asks.is_closed()
    }
}

async fn run(
    share: Share,
    peer: PeerId,
    hash: Key256,
    size: u64,
    mut asks: mpsc::Receiver<Ask>,
    results: mpsc::Sender<PieceResult>,
    opened: mpsc::Sender<Opened>,
) {
    // Pieces written to the stream, in order, waiting for their answers.
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Ask>();
    let error = match content::open_stream(&share, peer).await {
        Err(e) => {
            let _ = opened.send((peer, Err(e.to_string()))).await;
            e
        }
        Ok(stream) => {
            let _ = opened.send((peer, Ok(()))).await;
            let (mut reader, mut writer) = stream.split();
            let write = async {
                while let Some(ask) = asks.recv().await {
                    let range = ask.range.clone();
                    // Recorded before it is written, so that a failed write reports it too.
                    if sent_tx.send(ask).is_err() {
                        break;
                    }
                    content::write_request(&mut writer, hash, range).await?;
                }
                Ok::<(), FetchError>(())
            };
            let read = async {
                while let Some(ask) = sent_rx.recv().await {
                    let (piece, range) = (ask.piece, ask.range.clone());
                    match content::read_answer(&mut reader, hash, Some(size), range.clone()).await {
                        Ok(Answer::Slice { encoded, .. }) => {
                            let results = results.clone();
                            let len = usize::try_from(range.end - range.start).unwrap_or(0);
                            let mut bytes = share.buffers().take(len);
                            // Verified off the runtime while the next answer is read, straight
                            // into the buffer the piece is written to disk from.
                            tokio::task::spawn_blocking(move || {
                                let got = verify::decode_range_into(
                                    hash, size, range, &encoded, &mut bytes,
                                )
                                .map(|parts| Verified { bytes, parts })
                                .map_err(|_| FetchError::Corrupt);
                                let _ = results.blocking_send((peer, piece, got));
                            });
                        }
                        Ok(Answer::Refused(e)) => {
                            if results.send((peer, piece, Err(e))).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            // The answer did not fit: the stream is out of step. Report this
                            // piece with the error, the others as interrupted.
                            let _ = results.send((peer, piece, Err(e.clone()))).await;
                            return Err(e);
                        }
                    }
                }
                Ok::<(), FetchError>(())
            };
            // Either side failing ends the session; the other is dropped with it.
            let outcome = tokio::select! {
                r = write => r,
                r = read => r,
            };
            match outcome {
                Ok(()) => return,
                Err(e) => e,
            }
        }
    };
    let reason = match error {
        FetchError::Unreachable(e) => e,
        other => other.to_string(),
    };
    asks.close();
    sent_rx.close();
    let mut left: VecDeque<Ask> = VecDeque::new();
    while let Ok(ask) = sent_rx.try_recv() {
        left.push_back(ask);
    }
    while let Ok(ask) = asks.try_recv() {
        left.push_back(ask);
    }
    for ask in left {
        let err = Err(FetchError::Unreachable(reason.clone()));
        if results.send((peer, ask.piece, err)).await.is_err() {
            return;
        }
    }
}
