use super::*;
use proptest::prelude::*;

fn content(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed ^ (i >> 10) as u8)
        })
        .collect()
}

/// A size and a range inside it, biased towards group boundaries.
fn size_and_range() -> impl Strategy<Value = (usize, Range<u64>)> {
    prop_oneof![
        0usize..70_000,
        0usize..400_000,
        Just(16 * 1024),
        Just(32 * 1024 + 1)
    ]
    .prop_flat_map(|size| (Just(size), 0..=size as u64, 0..=size as u64))
    .prop_map(|(size, a, b)| (size, a.min(b)..a.max(b)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip((size, range) in size_and_range(), seed in any::<u8>()) {
        let data = content(size, seed);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        prop_assert_eq!(ob.root, Key256::hash(&data));
        prop_assert_eq!(ob.pairs.len() as u64, Outboard::stored_len(size as u64));
        let mut slice = Vec::new();
        encode_range(&data[..], &ob, range.clone(), &mut slice).unwrap();
        prop_assert_eq!(slice.len() as u64, encoded_len(size as u64, range.clone()).unwrap());
        let bytes = decode_range(ob.root, ob.size, range.clone(), &slice).unwrap();
        prop_assert_eq!(&bytes[..], &data[range.start as usize..range.end as usize]);
    }

    #[test]
    fn any_flipped_byte_is_detected(
        (size, range) in size_and_range(),
        pick in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        prop_assume!(!range.is_empty());
        let data = content(size, 7);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let mut slice = Vec::new();
        encode_range(&data[..], &ob, range.clone(), &mut slice).unwrap();
        let at = pick.index(slice.len());
        slice[at] ^= flip;
        match decode_range(ob.root, ob.size, range.clone(), &slice) {
            Err(e @ VerifyError::Corrupt { .. }) => prop_assert_eq!(e.range(), range),
            other => prop_assert!(false, "flip at {} not detected: {:?}", at, other.map(|b| b.len())),
        }
    }

    #[test]
    fn truncated_or_padded_slices_fail((size, range) in size_and_range(), cut in 1usize..100) {
        prop_assume!(!range.is_empty());
        let data = content(size, 3);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let mut slice = Vec::new();
        encode_range(&data[..], &ob, range.clone(), &mut slice).unwrap();
        let short = &slice[..slice.len().saturating_sub(cut)];
        prop_assert!(decode_range(ob.root, ob.size, range.clone(), short).is_err());
        slice.push(0);
        let padded = decode_range(ob.root, ob.size, range.clone(), &slice);
        prop_assert!(
            matches!(padded, Err(VerifyError::TrailingBytes { extra: 1, .. })),
            "padded slice accepted"
        );
    }
}

/// The bytes of `range` if `slice` verifies with `bao_tree`'s own decoder, read as a stream
/// (which, unlike `decode_range`, ignores bytes after the slice).
fn bao_tree_decode(root: Key256, size: u64, range: Range<u64>, slice: &[u8]) -> Option<Vec<u8>> {
    use bao_tree::io::BaoContentItem;
    use bao_tree::io::sync::DecodeResponseIter;
    let aligned = aligned_range(size, range.clone()).ok()?;
    if size == 0 {
        return (root == Key256::hash(&[])).then(Vec::new);
    }
    if aligned.is_empty() {
        return Some(Vec::new());
    }
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let ranges = chunk_ranges(size, &aligned);
    let root = blake3::Hash::from_bytes(root.0);
    let mut out = Vec::new();
    for item in DecodeResponseIter::new(root, tree, slice, &ranges) {
        if let BaoContentItem::Leaf(leaf) = item.ok()? {
            out.extend_from_slice(&leaf.data);
        }
    }
    if out.len() as u64 != aligned.end - aligned.start {
        return None;
    }
    Some(out[(range.start - aligned.start) as usize..(range.end - aligned.start) as usize].to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The in-place decoder agrees with `bao_tree`'s own ([`bao_tree_decode`]) on every
    /// slice, intact, with a flipped byte, or cut short: same bytes, or both refuse.
    #[test]
    fn in_place_decoder_agrees_with_bao_tree(
        (size, range) in size_and_range(),
        pick in any::<prop::sample::Index>(),
        flip in 0u8..=255,
        cut in 0usize..3,
    ) {
        let data = content(size, 11);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let mut slice = Vec::new();
        encode_range(&data[..], &ob, range.clone(), &mut slice).unwrap();
        if !slice.is_empty() {
            let at = pick.index(slice.len());
            slice[at] ^= flip;
        }
        let slice = &slice[..slice.len().saturating_sub(cut * 100)];
        let ours = decode_range(ob.root, ob.size, range.clone(), slice).ok();
        let theirs = bao_tree_decode(ob.root, ob.size, range.clone(), slice);
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn wrong_root_is_refused() {
    let data = content(100_000, 1);
    let ob = Outboard::compute(&data[..], data.len() as u64).unwrap();
    let mut slice = Vec::new();
    encode_range(&data[..], &ob, 0..5000, &mut slice).unwrap();
    let other = Key256::hash(b"something else");
    assert!(matches!(
        decode_range(other, ob.size, 0..5000, &slice),
        Err(VerifyError::Corrupt { .. })
    ));
    assert!(matches!(
        decode_range(ob.root, ob.size, 0..200_000, &slice),
        Err(VerifyError::OutOfBounds { .. })
    ));
}

#[test]
fn changed_file_is_not_served() {
    let mut data = content(100_000, 1);
    let ob = Outboard::compute(&data[..], data.len() as u64).unwrap();
    data[50_000] ^= 1;
    let mut slice = Vec::new();
    let res = encode_range(&data[..], &ob, 40_000..60_000, &mut slice);
    assert!(matches!(res, Err(ServeError::Changed)), "{res:?}");
    // Ranges away from the change still serve.
    let mut slice = Vec::new();
    encode_range(&data[..], &ob, 0..16_384, &mut slice).unwrap();
    assert_eq!(
        decode_range(ob.root, ob.size, 0..16_384, &slice).unwrap(),
        &data[..16_384]
    );
    // A shorter file is a change too.
    assert!(matches!(
        encode_range(&data[..90_000], &ob, 80_000..100_000, Vec::new()),
        Err(ServeError::Changed)
    ));
}

#[test]
fn empty_content() {
    let ob = Outboard::compute(&[][..], 0).unwrap();
    assert_eq!(ob.root, Key256::hash(&[]));
    assert_eq!(encoded_len(0, 0..0).unwrap(), 0);
    assert!(decode_range(ob.root, 0, 0..0, &[]).unwrap().is_empty());
    assert!(decode_range(Key256::hash(b"x"), 0, 0..0, &[]).is_err());
}

#[test]
fn stored_outboard_length_is_checked() {
    let data = content(100_000, 1);
    let ob = Outboard::compute(&data[..], data.len() as u64).unwrap();
    let again = Outboard::from_parts(ob.root, ob.size, ob.pairs.clone()).unwrap();
    assert_eq!(again, ob);
    assert!(Outboard::from_parts(ob.root, ob.size, vec![0; 3]).is_err());
}

#[test]
fn tree_built_from_verified_slices_equals_the_computed_one() {
    for size in [0usize, 1, 16_384, 16_385, 1_000_000, 3 * 1_048_576 + 5] {
        let data = content(size, 7);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let mut builder = TreeBuilder::new(ob.root, ob.size, 1 << 30).unwrap();
        let piece = 1u64 << 20;
        let mut start = 0u64;
        let mut pieces = 0;
        while start < size as u64 || (size == 0 && pieces == 0) {
            let end = (start + piece).min(size as u64);
            let mut slice = Vec::new();
            encode_range(&data[..], &ob, start..end, &mut slice).unwrap();
            let mut bytes = vec![0; (end - start) as usize];
            let parts =
                decode_range_into(ob.root, ob.size, start..end, &slice, &mut bytes).unwrap();
            assert_eq!(bytes, &data[start as usize..end as usize]);
            builder.add(&parts);
            start = end;
            pieces += 1;
        }
        let built = builder.finish().expect("every node recorded");
        assert_eq!(built.root, ob.root, "size {size}");
        assert_eq!(built.pairs, ob.pairs, "size {size}");
    }
    // Pieces missing: no outboard.
    let data = content(3 * 1_048_576, 9);
    let ob = Outboard::compute(&data[..], data.len() as u64).unwrap();
    let mut builder = TreeBuilder::new(ob.root, ob.size, 1 << 30).unwrap();
    let mut slice = Vec::new();
    encode_range(&data[..], &ob, 0..1_048_576, &mut slice).unwrap();
    let mut bytes = vec![0; 1_048_576];
    let parts = decode_range_into(ob.root, ob.size, 0..1_048_576, &slice, &mut bytes).unwrap();
    builder.add(&parts);
    assert!(builder.finish().is_none());
    // Too large for the memory allowed.
    assert!(TreeBuilder::new(ob.root, ob.size, 64).is_none());
}

#[test]
fn a_huge_claimed_range_is_refused_before_anything_is_allocated() {
    // Found by fuzzing (share_verify_range): a size a peer claims must not size a buffer.
    let r = decode_range(Key256::hash(b"x"), u64::MAX, 0..u64::MAX / 2, &[0; 100]);
    assert!(matches!(r, Err(VerifyError::Truncated { .. })), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A node's own copy read through its outboard yields exactly the bytes of the range.
    #[test]
    fn read_verified_yields_the_range((size, range) in size_and_range(), seed in any::<u8>()) {
        let data = content(size, seed);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let mut out = vec![7u8; 3];
        read_verified(&data[..], &ob, range.clone(), &mut out).unwrap();
        prop_assert_eq!(&out[..3], &[7u8; 3][..], "appended, not overwritten");
        prop_assert_eq!(&out[3..], &data[range.start as usize..range.end as usize]);
    }

    /// A byte changed anywhere in the groups a range touches is never read out: the read
    /// fails, and what it appended (if anything) is the unchanged groups' bytes.
    #[test]
    fn read_verified_refuses_a_changed_group(
        (size, range) in size_and_range().prop_filter("non-empty", |(_, r)| !r.is_empty()),
        pick in any::<u64>(),
    ) {
        let mut data = content(size, 3);
        let ob = Outboard::compute(&data[..], size as u64).unwrap();
        let aligned = aligned_range(size as u64, range.clone()).unwrap();
        let at = aligned.start + pick % (aligned.end - aligned.start);
        data[at as usize] ^= 0x01;
        let mut out = Vec::new();
        let r = read_verified(&data[..], &ob, range.clone(), &mut out);
        prop_assert!(matches!(r, Err(ServeError::Changed)), "{r:?}");
        let changed_group = at / GROUP_BYTES * GROUP_BYTES;
        let kept = range.start + out.len() as u64;
        prop_assert!(kept <= changed_group.max(range.start), "bytes of the changed group were read out");
        prop_assert_eq!(&out[..], &data[range.start as usize..kept as usize]);
    }
}

#[test]
fn read_verified_refuses_a_shorter_file_and_out_of_bounds() {
    let data = content(100_000, 1);
    let ob = Outboard::compute(&data[..], 100_000).unwrap();
    let mut out = Vec::new();
    let r = read_verified(&data[..50_000], &ob, 0..100_000, &mut out);
    assert!(matches!(r, Err(ServeError::Changed)), "{r:?}");
    let r = read_verified(&data[..], &ob, 0..100_001, &mut out);
    assert!(matches!(r, Err(ServeError::OutOfBounds { .. })), "{r:?}");
}
