//! Seed inputs for every target, built from [`crate::samples`] with the current message types.
//!
//! A target binary started with `WEFT_FUZZ_SEED_DIR=DIR` writes its seeds into `DIR` and exits
//! instead of fuzzing ([`write_if_asked`]); `scripts/fuzz` does this before every run.

use serde::Serialize;
use weft_core::wire;
use weft_net::{Keypair, Multiaddr};
use weft_overlay::flood;
use weft_share::transfer::ResumeState;
use weft_share::verify;

use crate::input::push_frame;
use crate::network::op;
use crate::scenarios::NODES;
use crate::{net, samples, share};

/// The environment variable naming the directory to write seeds into.
pub const SEED_DIR_VAR: &str = "WEFT_FUZZ_SEED_DIR";

/// If [`SEED_DIR_VAR`] is set, writes `seeds()` into that directory as `seed-NNN` files and
/// exits the process.
///
/// # Panics
/// If the directory cannot be written (seed generation only, never while fuzzing).
pub fn write_if_asked(seeds: fn() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os(SEED_DIR_VAR) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    for (i, seed) in seeds().iter().enumerate() {
        let path = dir.join(format!("seed-{i:03}"));
        if let Err(e) = std::fs::write(&path, seed) {
            panic!("cannot write {}: {e}", path.display());
        }
    }
    std::process::exit(0);
}

fn encoded<T: Serialize>(msgs: &[T]) -> Vec<Vec<u8>> {
    msgs.iter()
        .filter_map(|m| wire::encode(m, usize::MAX).ok())
        .collect()
}

/// Seeds of [`crate::collab::msg_request`].
pub fn msg_request() -> Vec<Vec<u8>> {
    encoded(&samples::msg_requests())
}

/// Seeds of [`crate::collab::msg_response`].
pub fn msg_response() -> Vec<Vec<u8>> {
    encoded(&samples::msg_responses())
}

/// Seeds of [`crate::overlay::kademlia_message`].
pub fn kademlia_message() -> Vec<Vec<u8>> {
    encoded(&samples::kademlia())
}

/// Seeds of [`crate::overlay::directory_message`].
pub fn directory_message() -> Vec<Vec<u8>> {
    encoded(&samples::directory())
}

/// Seeds of [`crate::overlay::flood_message`].
pub fn flood_message() -> Vec<Vec<u8>> {
    encoded(&samples::flood())
}

/// Seeds of [`crate::overlay::flood_qrp`]: the whole transfer, and each update alone.
pub fn flood_qrp() -> Vec<Vec<u8>> {
    let frames: Vec<Vec<u8>> = encoded(
        &samples::qrp_updates()
            .into_iter()
            .map(flood::Message::<u32>::RouteTable)
            .collect::<Vec<_>>(),
    );
    let mut all = Vec::new();
    for f in &frames {
        push_frame(&mut all, f);
    }
    let mut out = vec![all];
    for f in &frames {
        let mut one = Vec::new();
        push_frame(&mut one, f);
        out.push(one);
    }
    out
}

/// Seeds of [`crate::overlay::chord_message`].
pub fn chord_message() -> Vec<Vec<u8>> {
    encoded(&samples::chord())
}

/// Seeds of [`crate::overlay::pastry_message`].
pub fn pastry_message() -> Vec<Vec<u8>> {
    encoded(&samples::pastry())
}

/// Seeds of [`crate::overlay::can_message`].
pub fn can_message() -> Vec<Vec<u8>> {
    encoded(&samples::can())
}

/// Seeds of [`crate::overlay::freenet_message`].
pub fn freenet_message() -> Vec<Vec<u8>> {
    encoded(&samples::freenet())
}

/// Seeds of [`crate::share::transfer_request`].
pub fn transfer_request() -> Vec<Vec<u8>> {
    encoded(&samples::transfer_requests())
}

/// Seeds of [`crate::share::transfer_response`]: a zero header (the fallback request), then
/// each response.
pub fn transfer_response() -> Vec<Vec<u8>> {
    encoded(&samples::transfer_responses())
        .into_iter()
        .map(|r| [vec![0u8; 24], r].concat())
        .collect()
}

/// Seeds of [`crate::share::search_query`].
pub fn search_query() -> Vec<Vec<u8>> {
    encoded(&samples::search_queries())
}

/// Seeds of [`crate::share::search_results`].
pub fn search_results() -> Vec<Vec<u8>> {
    encoded(&samples::search_results())
}

/// Seeds of [`crate::share::publish`].
pub fn publish() -> Vec<Vec<u8>> {
    encoded(&samples::publishes())
}

/// Seeds of [`crate::share::verify_range`]: the true encoded slice of every case the fixed
/// content can serve.
pub fn verify_range() -> Vec<Vec<u8>> {
    let (data, outboard) = share::content();
    let mut out = Vec::new();
    for (i, (_, range)) in share::range_cases().into_iter().enumerate() {
        let mut slice = Vec::new();
        if verify::encode_range(&data[..], outboard, range, &mut slice).is_ok() {
            out.push([vec![i as u8], slice].concat());
        }
    }
    out
}

/// Seeds of [`crate::share::resume_state`].
pub fn resume_state() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for pieces in [0, 1, 10, 77] {
        let mut s = ResumeState::new(1 << 20, pieces);
        for p in (0..pieces).step_by(3) {
            s.insert(p);
        }
        out.push(s.to_bytes());
    }
    out
}

/// Seeds of [`crate::net::pex_reply`].
pub fn pex_reply() -> Vec<Vec<u8>> {
    let id = match Keypair::ed25519_from_bytes([7u8; 32]) {
        Ok(k) => k.public().to_peer_id(),
        Err(e) => panic!("fixed key: {e}"),
    };
    let addrs: Vec<Vec<u8>> = [
        "/ip4/127.0.0.1/tcp/4001".to_string(),
        format!("/ip6/::1/udp/4001/quic-v1/p2p/{id}"),
        "/dns4/example.invalid/tcp/443/wss".to_string(),
    ]
    .iter()
    .filter_map(|a| a.parse::<Multiaddr>().ok())
    .map(|a| a.to_vec())
    .collect();
    let reply = weft_net::pex::PexReply {
        peers: vec![(id.to_bytes(), addrs), (vec![1, 2, 3], vec![vec![4, 5]])],
    };
    encoded(&[reply])
}

/// Seeds of [`crate::net::read_frames`].
pub fn read_frame() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for limit in 0..net::FRAME_LIMITS.len() as u8 {
        let mut s = vec![limit];
        for body in [&b"hello"[..], &[], &[0u8; 16][..]] {
            s.extend_from_slice(&(body.len() as u32).to_be_bytes());
            s.extend_from_slice(body);
        }
        out.push(s);
    }
    out
}

/// Seeds of an engine target: for every sample message, one input that lets the network
/// run, injects the message from the hostile peer into one node and runs again; one input
/// that injects every sample into node 0; and one that runs with timers and no hostile input.
fn engine<T: Serialize>(msgs: &[T]) -> Vec<Vec<u8>> {
    let frames = encoded(msgs);
    let run = |s: &mut Vec<u8>| s.extend_from_slice(&[op::RUN, 255, op::NEXT_TIMER, op::RUN, 255]);
    let inject = |s: &mut Vec<u8>, to: u8, f: &[u8]| {
        s.extend_from_slice(&[op::INJECT, to, NODES as u8]);
        push_frame(s, f);
    };
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let mut s = vec![i as u8];
        run(&mut s);
        inject(&mut s, (i % NODES as usize) as u8, f);
        run(&mut s);
        out.push(s);
    }
    let mut all = vec![0];
    run(&mut all);
    for f in &frames {
        inject(&mut all, 0, f);
        all.extend_from_slice(&[op::RUN, 8]);
    }
    run(&mut all);
    out.push(all);
    let mut quiet = vec![1];
    for _ in 0..8 {
        run(&mut quiet);
        quiet.extend_from_slice(&[op::ADVANCE, 0x10, 0x00]);
    }
    out.push(quiet);
    out
}

/// Seeds of the Kademlia engine target.
pub fn engine_kademlia() -> Vec<Vec<u8>> {
    engine(&samples::kademlia())
}

/// Seeds of the directory engine target.
pub fn engine_directory() -> Vec<Vec<u8>> {
    engine(&samples::directory())
}

/// Seeds of the flood engine target.
pub fn engine_flood() -> Vec<Vec<u8>> {
    engine(&samples::flood())
}

/// Seeds of the Chord engine target.
pub fn engine_chord() -> Vec<Vec<u8>> {
    engine(&samples::chord())
}

/// Seeds of the Pastry engine target.
pub fn engine_pastry() -> Vec<Vec<u8>> {
    engine(&samples::pastry())
}

/// Seeds of the CAN engine target.
pub fn engine_can() -> Vec<Vec<u8>> {
    engine(&samples::can())
}

/// Seeds of the Freenet engine target.
pub fn engine_freenet() -> Vec<Vec<u8>> {
    engine(&samples::freenet())
}

/// Seeds of [`crate::share::http_range`]: a 1 MiB size, then `Range` values of every kind.
pub fn http_range() -> Vec<Vec<u8>> {
    let size = (1u64 << 20).to_le_bytes();
    [
        "bytes=0-499",
        "bytes=500-",
        "bytes=-500",
        "bytes=1048576-",
        "bytes=0-1,5-9",
        "Bytes= 3-4 , ,",
        "items=0-1",
        "bytes=9-2",
        "bytes=-0",
    ]
    .iter()
    .map(|v| [&size[..], v.as_bytes()].concat())
    .collect()
}
