use super::*;
use proptest::prelude::*;
use weft_core::wire::encode;

fn key() -> impl Strategy<Value = Key256> {
    any::<[u8; 32]>().prop_map(Key256)
}

fn name() -> impl Strategy<Value = String> {
    ".{1,40}".prop_map(|s| truncate(&s, MAX_NAME_BYTES))
}

fn result() -> impl Strategy<Value = SearchResult> {
    (
        key(),
        any::<u64>(),
        proptest::collection::vec(name(), 1..MAX_NAMES),
        "[a-z]{1,10}/[a-z]{1,10}",
        any::<u32>(),
    )
        .prop_map(|(hash, size, names, mime, sources)| SearchResult {
            hash,
            size,
            names,
            mime,
            sources,
        })
}

fn item() -> impl Strategy<Value = PublishItem> {
    (
        key(),
        any::<u64>(),
        name(),
        proptest::collection::vec("[a-z0-9]{1,20}", 0..10),
    )
        .prop_map(|(hash, size, name, keywords)| PublishItem {
            hash,
            size,
            name,
            mime: "audio/flac".into(),
            keywords,
        })
}

fn round_trip<T: Serialize + DeserializeOwned + Bounded + PartialEq + std::fmt::Debug>(
    msg: &T,
    max: usize,
) -> Result<(), TestCaseError> {
    let bytes = encode(msg, max).unwrap();
    prop_assert_eq!(&decode::<T>(&bytes, max).unwrap(), msg);
    Ok(())
}

proptest! {
    #[test]
    fn transfer_messages_round_trip(hash in key(), start in 0u64..1 << 40, len in 1u64..=MAX_RANGE_BYTES, ms in any::<u32>()) {
        round_trip(&TransferRequest::Range { hash, start, end: start + len }, MAX_TRANSFER_FRAME)?;
        let slice = TransferResponse::Slice { size: start + len, start, end: start + len, encoded_len: len * 2 };
        round_trip(&slice, MAX_TRANSFER_FRAME)?;
        for e in [TransferError::NotFound, TransferError::Busy { retry_after_ms: ms }, TransferError::BadRange, TransferError::Internal] {
            round_trip(&TransferResponse::Error(e), MAX_TRANSFER_FRAME)?;
        }
    }

    #[test]
    fn search_and_publish_round_trip(
        results in proptest::collection::vec(result(), 0..20),
        items in proptest::collection::vec(item(), 0..20),
        hashes in proptest::collection::vec(key(), 0..20),
        text in ".{0,50}",
        more in any::<bool>(),
    ) {
        round_trip(&SearchResults { results, more }, MAX_SEARCH_FRAME)?;
        round_trip(&Publish::Add(items), MAX_SEARCH_FRAME)?;
        round_trip(&Publish::Remove(hashes), MAX_SEARCH_FRAME)?;
        round_trip(&Publish::Reset, MAX_SEARCH_FRAME)?;
        round_trip(&SearchQuery { text: truncate(&text, MAX_QUERY_BYTES), max_results: 50 }, MAX_SEARCH_FRAME)?;
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode::<TransferRequest>(&bytes, MAX_TRANSFER_FRAME);
        let _ = decode::<TransferResponse>(&bytes, MAX_TRANSFER_FRAME);
        let _ = decode::<SearchResults>(&bytes, MAX_SEARCH_FRAME);
        let _ = decode::<Publish>(&bytes, MAX_SEARCH_FRAME);
        let _ = decode::<SearchQuery>(&bytes, MAX_SEARCH_FRAME);
    }

    #[test]
    fn truncate_keeps_char_boundaries(s in ".{0,80}", max in 0usize..100) {
        let t = truncate(&s, max);
        prop_assert!(t.len() <= max && s.starts_with(&t));
    }
}

#[test]
fn bounds_are_enforced() {
    let hash = Key256::hash(b"x");
    let too_big = TransferRequest::Range {
        hash,
        start: 0,
        end: MAX_RANGE_BYTES + 1,
    };
    let bytes = encode(&too_big, MAX_TRANSFER_FRAME).unwrap();
    assert!(matches!(
        decode::<TransferRequest>(&bytes, MAX_TRANSFER_FRAME),
        Err(WireError::OutOfBounds(_))
    ));
    let empty = encode(
        &TransferRequest::Range {
            hash,
            start: 5,
            end: 5,
        },
        MAX_TRANSFER_FRAME,
    )
    .unwrap();
    assert!(decode::<TransferRequest>(&empty, MAX_TRANSFER_FRAME).is_err());

    let long_name = SearchResult {
        hash,
        size: 1,
        names: vec!["n".repeat(MAX_NAME_BYTES + 1)],
        mime: String::new(),
        sources: 1,
    };
    let bytes = encode(
        &SearchResults {
            results: vec![long_name],
            more: false,
        },
        MAX_SEARCH_FRAME,
    )
    .unwrap();
    assert!(matches!(
        decode::<SearchResults>(&bytes, MAX_SEARCH_FRAME),
        Err(WireError::OutOfBounds("name too long"))
    ));

    let item = PublishItem {
        hash,
        size: 1,
        name: "a".into(),
        mime: String::new(),
        keywords: vec![],
    };
    let many = Publish::Add(vec![item; MAX_PUBLISH_ITEMS + 1]);
    let bytes = encode(&many, MAX_SEARCH_FRAME).unwrap();
    assert!(matches!(
        decode::<Publish>(&bytes, MAX_SEARCH_FRAME),
        Err(WireError::OutOfBounds(_))
    ));
    assert!(matches!(
        decode::<Publish>(&bytes, 100),
        Err(WireError::Decode(DecodeError::TooLarge { .. }))
    ));
}

#[test]
fn slices_must_answer_the_request() {
    let hash = Key256::hash(b"x");
    let size = 5 << 20;
    let req = TransferRequest::Range {
        hash,
        start: 1 << 20,
        end: 2 << 20,
    };
    let len = verify::encoded_len(size, (1 << 20)..(2 << 20)).unwrap();
    let good = TransferResponse::Slice {
        size,
        start: 1 << 20,
        end: 2 << 20,
        encoded_len: len,
    };
    assert_eq!(expect_slice(&req, size, &good).unwrap(), Some(len));
    let longer = TransferResponse::Slice {
        size,
        start: 1 << 20,
        end: 2 << 20,
        encoded_len: len + 1,
    };
    assert!(matches!(
        expect_slice(&req, size, &longer),
        Err(WireError::Mismatch("encoded length"))
    ));
    let other = TransferResponse::Slice {
        size,
        start: 0,
        end: 2 << 20,
        encoded_len: len,
    };
    assert!(matches!(
        expect_slice(&req, size, &other),
        Err(WireError::Mismatch("range"))
    ));
    let busy = TransferResponse::Error(TransferError::Busy {
        retry_after_ms: 100,
    });
    assert_eq!(expect_slice(&req, size, &busy).unwrap(), None);
}
