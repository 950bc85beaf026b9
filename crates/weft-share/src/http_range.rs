//! The HTTP `Range` request header (RFC 9110 §14), resolved against a content size: what the
//! content gateway answers with a whole body, a part, or 416.
//!
//! Only one satisfiable `bytes` range is ever served as a part. RFC 9110 lets a server ignore
//! a `Range` it does not act on, so everything else that is not plainly past the end gets the
//! whole content (200): an unknown unit, a value that does not parse, a reversed range, and a
//! set of several ranges (multipart answers are not built). 416 is kept for a valid single
//! range that starts at or past the end (or asks for an empty suffix).
//!
//! ```
//! use weft_share::http_range::{Requested, resolve};
//! assert_eq!(resolve(Some(b"bytes=0-499"), 10_000), Requested::Part(0..500));
//! assert_eq!(resolve(Some(b"bytes=-500"), 10_000), Requested::Part(9_500..10_000));
//! assert_eq!(resolve(Some(b"bytes=10000-"), 10_000), Requested::Unsatisfiable);
//! assert_eq!(resolve(Some(b"items=0-1"), 10_000), Requested::Whole);
//! assert_eq!(resolve(None, 10_000), Requested::Whole);
//! ```

use std::ops::Range;

/// What to send for a request, given its `Range` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// The whole content (200): no `Range`, or one that is ignored.
    Whole,
    /// These bytes (206), never empty, always inside the content.
    Part(Range<u64>),
    /// A valid single range that selects nothing of the content (416).
    Unsatisfiable,
}

/// One `range-spec` of a `bytes` range set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-last`, or `first-` (to the end) with `last` = `None`.
    From { first: u64, last: Option<u64> },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// Resolves the raw `Range` header value (if any) against content of `size` bytes.
pub fn resolve(header: Option<&[u8]>, size: u64) -> Requested {
    let Some(value) = header else {
        return Requested::Whole;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return Requested::Whole;
    };
    let Some(specs) = parse(value) else {
        return Requested::Whole;
    };
    let [spec] = specs[..] else {
        // Several ranges: served whole (RFC 9110 §14.2 lets a server ignore `Range`).
        return Requested::Whole;
    };
    match spec {
        Spec::From { first, .. } if first >= size => Requested::Unsatisfiable,
        Spec::From { first, last } => {
            let end = last.map_or(size, |l| l.saturating_add(1).min(size));
            Requested::Part(first..end)
        }
        Spec::Suffix(n) if n == 0 || size == 0 => Requested::Unsatisfiable,
        Spec::Suffix(n) => Requested::Part(size.saturating_sub(n)..size),
    }
}

/// HTTP's optional whitespace (RFC 9110 §5.6.3): spaces and tabs, nothing else.
const OWS: [char; 2] = [' ', '\t'];

/// Bytes ranges a value may list before it is ignored (a longer list is no single range).
const MAX_SPECS: usize = 2;

/// The range specs of a valid `bytes=` value (at most [`MAX_SPECS`] kept: more than one is
/// never served as parts), `None` if the unit is not `bytes` or the value is not valid.
fn parse(value: &str) -> Option<Vec<Spec>> {
    let (unit, set) = value.trim_matches(OWS).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // `1#range-spec`: a list whose empty elements (`,,`) do not count.
    for element in set.split(',').map(|e| e.trim_matches(OWS)) {
        if element.is_empty() {
            continue;
        }
        let spec = parse_spec(element)?;
        if specs.len() < MAX_SPECS {
            specs.push(spec);
        }
    }
    (!specs.is_empty()).then_some(specs)
}

/// One `int-range` or `suffix-range`; `None` if it does not parse or is reversed.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(Spec::From { first, last })
}

/// `1*DIGIT` as a number, saturating at `u64::MAX` (a position past any content).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, size: u64) -> Requested {
        resolve(Some(v.as_bytes()), size)
    }

    #[test]
    fn single_ranges_are_parts() {
        assert_eq!(r("bytes=0-4", 10), Requested::Part(0..5));
        assert_eq!(r("bytes=5-", 10), Requested::Part(5..10));
        assert_eq!(r("bytes=-3", 10), Requested::Part(7..10));
        assert_eq!(r("bytes=-30", 10), Requested::Part(0..10));
        assert_eq!(r("bytes=8-100", 10), Requested::Part(8..10));
        assert_eq!(r("bytes=9-9", 10), Requested::Part(9..10));
        assert_eq!(r("Bytes=1-1", 10), Requested::Part(1..2));
        assert_eq!(r(" bytes=1-2 ", 10), Requested::Part(1..3));
        assert_eq!(r("bytes=1-2, ,", 10), Requested::Part(1..3));
        assert_eq!(
            r("bytes=0-99999999999999999999999", 10),
            Requested::Part(0..10)
        );
    }

    #[test]
    fn only_a_valid_single_range_past_the_end_is_unsatisfiable() {
        assert_eq!(r("bytes=10-", 10), Requested::Unsatisfiable);
        assert_eq!(r("bytes=10-20", 10), Requested::Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Requested::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Requested::Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Requested::Unsatisfiable);
        assert_eq!(
            r("bytes=99999999999999999999999-", 10),
            Requested::Unsatisfiable
        );
    }

    #[test]
    fn what_cannot_be_served_as_one_part_is_ignored() {
        for v in [
            "bytes=0-1,3-4",
            "bytes=0-1,20-30",
            "items=0-1",
            "bytes=5-2",
            "bytes=",
            "bytes=,",
            "bytes=a-b",
            "bytes=1",
            "bytes=-",
            "bytes=--1",
            "bytes=+1-2",
            "bytes = 0-1",
            "bytes=0 -1",
            "0-1",
            "",
            "bytes=3-4,, \u{c}",
        ] {
            assert_eq!(r(v, 10), Requested::Whole, "{v:?}");
        }
        assert_eq!(resolve(Some(&[0xff, 0xfe]), 10), Requested::Whole);
        assert_eq!(resolve(None, 10), Requested::Whole);
    }
}
