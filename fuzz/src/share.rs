//! Decoder targets for the file-sharing protocols: wire messages, verified ranges and the
//! stored resume state.

use std::ops::Range;
use std::sync::OnceLock;

use weft_core::id::Key256;
use weft_share::http_range::{self, Requested};
use weft_share::transfer::{Config, Plan, ResumeState};
use weft_share::verify::{self, Outboard};
use weft_share::wire::{
    self, Bounded, MAX_SEARCH_FRAME, MAX_TRANSFER_FRAME, Publish, SearchQuery, SearchResults,
    TransferRequest, TransferResponse,
};

use crate::codec::round_trip;
use crate::input::Input;

/// Decodes with [`wire::decode`] (codec limit, then the message's bounds) and round-trips what
/// passes.
fn decode_bounded<T>(data: &[u8], max: usize) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Bounded + PartialEq + std::fmt::Debug,
{
    let m = wire::decode::<T>(data, max).ok()?;
    round_trip(&m);
    Some(m)
}

/// A provider receiving a [`TransferRequest`].
pub fn transfer_request(data: &[u8]) {
    if let Some(TransferRequest::Range { start, end, .. }) =
        decode_bounded::<TransferRequest>(data, MAX_TRANSFER_FRAME)
    {
        assert!(start < end && end - start <= wire::MAX_RANGE_BYTES);
        // What a provider computes next for content of some size.
        for size in [end, end.saturating_add(1), u64::MAX] {
            let _ = verify::aligned_range(size, start..end);
            let _ = verify::encoded_len(size, start..end);
        }
    }
}

/// The downloader's own request and assumed content size, read from the first 24 bytes of
/// the input (falling back to a fixed request when they break the request's bounds).
pub fn own_request(input: &mut Input<'_>) -> (TransferRequest, u64) {
    let (start, end, size) = (input.u64(), input.u64(), input.u64());
    let request = TransferRequest::Range {
        hash: Key256::hash(b"content"),
        start,
        end,
    };
    if request.check().is_ok() && end <= size {
        (request, size)
    } else {
        (
            TransferRequest::Range {
                hash: Key256::hash(b"content"),
                start: 16_384,
                end: 40_000,
            },
            100_000,
        )
    }
}

/// A downloader receiving a [`TransferResponse`] for its own request: decode, then
/// [`wire::expect_slice`].
pub fn transfer_response(data: &[u8]) {
    let mut input = Input::new(data);
    let (request, size) = own_request(&mut input);
    let Some(response) = decode_bounded::<TransferResponse>(input.rest(), MAX_TRANSFER_FRAME)
    else {
        return;
    };
    if let Ok(Some(len)) = wire::expect_slice(&request, size, &response) {
        let TransferRequest::Range { start, end, .. } = request;
        assert_eq!(verify::encoded_len(size, start..end).ok(), Some(len));
    }
}

/// A node receiving a [`SearchQuery`].
pub fn search_query(data: &[u8]) {
    let _ = decode_bounded::<SearchQuery>(data, MAX_SEARCH_FRAME);
}

/// A node receiving [`SearchResults`].
pub fn search_results(data: &[u8]) {
    let _ = decode_bounded::<SearchResults>(data, MAX_SEARCH_FRAME);
}

/// A directory receiving a [`Publish`].
pub fn publish(data: &[u8]) {
    let _ = decode_bounded::<Publish>(data, MAX_SEARCH_FRAME);
}

/// Size of the fixed content whose encoded slices [`verify_range`] checks: five chunk groups
/// and a partial one.
pub const CONTENT_SIZE: u64 = 5 * verify::GROUP_BYTES + 1234;

/// The fixed content (deterministic bytes) and its outboard.
pub fn content() -> &'static (Vec<u8>, Outboard) {
    static CONTENT: OnceLock<(Vec<u8>, Outboard)> = OnceLock::new();
    CONTENT.get_or_init(|| {
        let data: Vec<u8> = (0..CONTENT_SIZE)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let outboard = match Outboard::compute(&data[..], CONTENT_SIZE) {
            Ok(o) => o,
            Err(e) => panic!("outboard of the fixed content: {e}"),
        };
        (data, outboard)
    })
}

/// The `(size, range)` pairs a downloader may ask [`verify_range`] to check, selected by the
/// first input byte: honest ones (whole content, first, middle and last groups, unaligned),
/// and ones where the size the downloader believes is wrong (a peer's search result lied).
pub fn range_cases() -> Vec<(u64, Range<u64>)> {
    let g = verify::GROUP_BYTES;
    let n = CONTENT_SIZE;
    vec![
        (n, 0..n),
        (n, 0..g),
        (n, g..2 * g),
        (n, 5 * g..n),
        (n, 1000..g + 5000),
        (n, n - 1..n),
        (n, 3 * g + 7..4 * g - 7),
        (n + 1, 0..n + 1),
        (n - 1, 0..n - 1),
        (4 * g, 0..4 * g),
        (u64::MAX, 0..g),
        (u64::MAX, u64::MAX - g..u64::MAX),
        (0, 0..0),
        (n, 0..0),
    ]
}

/// [`verify::decode_range`] of arbitrary bytes for the fixed content's root: byte 0 selects a
/// case of [`range_cases`] (or, above their count, reads size and range from the next 24
/// bytes), the rest is the encoded slice. Whatever is returned as verified must be the
/// content's true bytes.
pub fn verify_range(data: &[u8]) {
    let (content, outboard) = content();
    let mut input = Input::new(data);
    let cases = range_cases();
    let selector = usize::from(input.byte());
    let (size, range) = match cases.get(selector) {
        Some(c) => c.clone(),
        None => {
            let (size, start, end) = (input.u64(), input.u64(), input.u64());
            (size, start..end)
        }
    };
    let encoded = input.rest();
    if let Ok(bytes) = verify::decode_range(outboard.root, size, range.clone(), encoded) {
        assert_eq!(bytes.len() as u64, range.end - range.start);
        if bytes.is_empty() {
            // An empty range needs no proof, wherever it lies.
            return;
        }
        // Bytes verified against the true root are the content's own, whatever size the
        // downloader assumed.
        let (start, end) = (range.start as usize, range.end as usize);
        assert_eq!(
            content.get(start..end),
            Some(&bytes[..]),
            "verified bytes differ from the content"
        );
    }
}

/// A downloader reading its stored resume state (a local file, but one a crash may have
/// left half written): [`ResumeState::from_bytes`], then resuming a plan of the default
/// configuration from it (for content of exactly as many pieces as the state claims).
pub fn resume_state(data: &[u8]) {
    let Ok(state) = ResumeState::from_bytes(data) else {
        return;
    };
    assert_eq!(
        ResumeState::from_bytes(&state.to_bytes()).as_ref(),
        Ok(&state)
    );
    let count = state.count();
    assert_eq!(state.iter().count() as u64, u64::from(count));
    // The plan is the downloader's own (its configuration, the content size it was told);
    // only the state comes from the file.
    let config = Config::default();
    let size = config.piece_bytes * u64::from(state.pieces());
    if let Ok(plan) = Plan::<u32>::resume(Key256::hash(b"content"), size, config, &state) {
        assert_eq!(plan.resume_state().count(), count);
    }
}

/// The content gateway reading an HTTP client's `Range` header: the first 8 bytes are the
/// content size, the rest the header's value. A part is never empty and never leaves the
/// content; a valid `bytes=` value is never answered with 416 unless it starts past the end.
pub fn http_range(data: &[u8]) {
    let mut input = Input::new(data);
    let size = input.u64() % (1 << 50);
    let value = input.rest();
    match http_range::resolve(Some(value), size) {
        Requested::Part(r) => {
            assert!(r.start < r.end && r.end <= size, "{r:?} of {size}");
        }
        Requested::Unsatisfiable => {
            // Only one range (empty list elements do not count), and it selects nothing.
            let text = std::str::from_utf8(value).expect("416 only for text");
            let ows = [' ', '\t'];
            let (_, set) = text
                .trim_matches(ows)
                .split_once('=')
                .expect("416 only for a range set");
            let specs = set
                .split(',')
                .filter(|e| !e.trim_matches(ows).is_empty())
                .count();
            assert_eq!(specs, 1, "416 for {text:?}");
        }
        Requested::Whole => {}
    }
    assert_eq!(http_range::resolve(None, size), Requested::Whole);
}
