use super::*;
use std::fs;
use std::time::{Duration, SystemTime};

fn open_db(dir: &Path) -> Connection {
    // In a data folder of its own: the folder of the database is never shared.
    let data = dir.join("data");
    fs::create_dir_all(&data).unwrap();
    let conn = Connection::open(data.join("weft.sqlite")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    for (_, sql) in MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Moves a file's modification time forward so a rescan sees the change even within the
/// file system's timestamp resolution.
fn bump_mtime(path: &Path, secs: u64) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs))
        .unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    share: PathBuf,
    conn: Connection,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("music");
    write(&share.join("Coltrane/Blue Train.txt"), b"blue train, 1957");
    write(&share.join("Coltrane/Giant Steps.txt"), b"giant steps");
    write(&share.join("Café Déjà Vu.txt"), b"cafe");
    // The same name in decomposed form (as macOS writes it).
    write(&share.join("Ame\u{301}lie.txt"), b"amelie");
    write(
        &share.join("copies/blue_train_copy.txt"),
        b"blue train, 1957",
    );
    write(&share.join("big.bin"), &vec![7u8; 200_000]);
    let conn = open_db(tmp.path());
    Fixture {
        share: fs::canonicalize(&share).unwrap(),
        _tmp: tmp,
        conn,
    }
}

fn names(hits: &[SearchHit]) -> Vec<String> {
    let mut n: Vec<String> = hits.iter().flat_map(|h| h.names.clone()).collect();
    n.sort();
    n
}

#[test]
fn share_then_search_with_folding_and_prefixes() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    let mut calls = Vec::new();
    let report = index
        .share(&[&fx.share], &mut |p| calls.push(p.clone()))
        .unwrap();
    assert_eq!(report.files_hashed, 6);
    assert_eq!(report.bytes_hashed, 16 + 11 + 4 + 6 + 16 + 200_000);
    assert!(report.unreadable.is_empty());
    let last = calls.last().unwrap();
    assert_eq!((last.files_done, last.files_total), (6, 6));
    assert_eq!(last.bytes_done, last.bytes_total);

    assert_eq!(
        names(&index.search("cafe deja", 10).unwrap()),
        vec!["Café Déjà Vu.txt"]
    );
    assert_eq!(
        names(&index.search("CAFÉ", 10).unwrap()),
        vec!["Café Déjà Vu.txt"]
    );
    assert_eq!(
        names(&index.search("amél", 10).unwrap()),
        vec!["Ame\u{301}lie.txt"]
    );
    assert_eq!(
        names(&index.search("amel", 10).unwrap()),
        vec!["Ame\u{301}lie.txt"]
    );
    // Folder names are searchable too; every word must match.
    assert_eq!(
        names(&index.search("coltrane gia", 10).unwrap()),
        vec!["Giant Steps.txt"]
    );
    assert!(index.search("coltrane nothing", 10).unwrap().is_empty());
    assert!(index.search("\"*) OR (", 10).unwrap().is_empty());
    assert!(index.search("   ", 10).unwrap().is_empty());

    // Identical content under two names is one hit.
    let hits = index.search("blue train", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].copies, 2);
    assert_eq!(hits[0].hash, Key256::hash(b"blue train, 1957"));
    assert_eq!(hits[0].size, 16);
    assert_eq!(hits[0].mime, "text/plain");
    assert_eq!(names(&hits), vec!["Blue Train.txt", "blue_train_copy.txt"]);
}

#[test]
fn rescan_skips_unchanged_and_follows_changes() {
    let fx = fixture();
    let index = Index::new(&fx.conn).with_workers(2);
    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let again = index.rescan(&mut |_| {}).unwrap();
    assert_eq!(
        (
            again.files_hashed,
            again.files_unchanged,
            again.files_removed
        ),
        (0, 6, 0)
    );

    let giant = fx.share.join("Coltrane/Giant Steps.txt");
    fs::write(&giant, b"giant steps, remastered").unwrap();
    bump_mtime(&giant, 1);
    fs::remove_file(fx.share.join("big.bin")).unwrap();
    let old = Key256::hash(&vec![7u8; 200_000]);
    assert!(index.outboard(&old).unwrap().is_some());
    let changed = index.rescan(&mut |_| {}).unwrap();
    assert_eq!(
        (
            changed.files_hashed,
            changed.files_unchanged,
            changed.files_removed
        ),
        (1, 4, 1)
    );
    assert_eq!(
        index.search("giant", 10).unwrap()[0].hash,
        Key256::hash(b"giant steps, remastered")
    );
    assert!(index.search("big", 10).unwrap().is_empty());
    assert!(
        index.outboard(&old).unwrap().is_none(),
        "outboard of a gone file is kept"
    );
    assert!(
        index
            .outboard(&Key256::hash(b"giant steps"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn unreadable_files_are_reported_not_fatal() {
    use std::os::unix::ffi::OsStrExt;
    let fx = fixture();
    let bad = fx.share.join(std::ffi::OsStr::from_bytes(b"bad-\xff.txt"));
    fs::write(&bad, b"x").unwrap();
    let report = Index::new(&fx.conn)
        .share(&[&fx.share], &mut |_| {})
        .unwrap();
    assert_eq!(report.files_hashed, 6);
    assert_eq!(report.skipped_count, 1);
    assert_eq!(report.skipped[0].path, bad);
    assert_eq!(report.skipped[0].reason, SkipReason::NotUtf8);
    // A folder that cannot be read is reported, and the rest shared.
    let closed = fx.share.join("closed");
    write(&closed.join("inside.txt"), b"inside");
    fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let report = Index::new(&fx.conn).rescan(&mut |_| {}).unwrap();
    fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    if report.unreadable_count == 0 {
        // root reads every folder: nothing to see here.
        return;
    }
    assert_eq!(report.unreadable[0].path, closed);
}

#[test]
fn shared_unshare_and_missing_paths() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    let missing = fx.share.join("nope");
    assert!(
        matches!(index.share(&[&fx.share, &missing], &mut |_| {}), Err(IndexError::Missing(p)) if p == missing)
    );
    assert!(
        index.shared().unwrap().is_empty(),
        "a failed share shares nothing"
    );

    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let shared = index.shared().unwrap();
    assert_eq!(
        shared,
        vec![SharedRoot {
            path: fx.share.clone(),
            files: 6,
            bytes: 200_053,
            missing: false,
        }]
    );

    // A path inside a root becomes a root of its own, taking its files along unhashed.
    let coltrane = fx.share.join("Coltrane");
    let inner = index.share(&[&coltrane], &mut |_| {}).unwrap();
    assert_eq!(inner.roots, vec![coltrane.clone()]);
    assert_eq!((inner.files_hashed, inner.files_unchanged), (0, 2));
    assert_eq!(
        inner.root_changes,
        vec![RootChange::SplitFrom {
            root: coltrane.clone(),
            parent: fx.share.clone(),
            files: 2
        }]
    );
    let counts: Vec<(PathBuf, u64)> = index
        .shared()
        .unwrap()
        .into_iter()
        .map(|r| (r.path, r.files))
        .collect();
    assert_eq!(counts, vec![(fx.share.clone(), 4), (coltrane.clone(), 2)]);
    assert_eq!(index.rescan(&mut |_| {}).unwrap().files_unchanged, 6);
    // The folder part of a moved file's path is still searchable from its new root.
    assert_eq!(index.search("coltrane blue", 10).unwrap().len(), 0);
    assert_eq!(index.search("giant", 10).unwrap().len(), 1);

    // Unsharing it hands its files back, unhashed.
    let back = index.unshare(&coltrane).unwrap();
    assert_eq!(back.handed_to, Some(fx.share.clone()));
    assert_eq!(back.root.files, 2);
    let again = index.rescan(&mut |_| {}).unwrap();
    assert_eq!((again.files_hashed, again.files_unchanged), (0, 6));
    assert_eq!(index.search("coltrane blue", 10).unwrap().len(), 1);

    let parent = fx.share.parent().unwrap().to_path_buf();
    let around = index.share(&[&parent], &mut |_| {}).unwrap();
    assert_eq!(around.files_hashed, 0, "the data folder is left out");
    assert!(
        around
            .skipped
            .iter()
            .any(|s| s.reason == SkipReason::DataFolder),
        "{around:?}"
    );
    let shared = index.shared().unwrap();
    assert_eq!(shared.len(), 2, "the music folder stays a root: {shared:?}");
    assert_eq!(
        (shared[0].path.clone(), shared[0].files),
        (parent.clone(), 0)
    );

    let gone = index.unshare(&parent).unwrap();
    assert_eq!((gone.root.path, gone.handed_to), (parent.clone(), None));
    assert_eq!(index.shared().unwrap().len(), 1);
    index.unshare(&fx.share).unwrap();
    assert!(index.shared().unwrap().is_empty());
    assert!(index.search("blue", 10).unwrap().is_empty());
    assert!(index.contents(None, 100).unwrap().is_empty());
    assert!(matches!(
        index.unshare(&parent),
        Err(IndexError::NotShared(_))
    ));
}

#[test]
fn single_files_can_be_shared() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    let file = fx.share.join("Coltrane/Blue Train.txt");
    index.share(&[&file], &mut |_| {}).unwrap();
    let hit = &index.search("blue", 10).unwrap()[0];
    assert_eq!(hit.names, vec!["Blue Train.txt"]);
    assert_eq!(index.recheck(&hit.hash).unwrap(), Some(file));
}

#[test]
fn recheck_before_serving() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let hash = Key256::hash(b"giant steps");
    let path = fx.share.join("Coltrane/Giant Steps.txt");
    assert_eq!(index.recheck(&hash).unwrap(), Some(path.clone()));

    // Touched but the same content: still served, and the new time is recorded.
    bump_mtime(&path, 5);
    assert_eq!(index.recheck(&hash).unwrap(), Some(path.clone()));
    assert_eq!(index.rescan(&mut |_| {}).unwrap().files_hashed, 0);

    // Same size, other content: not served, re-recorded under the new hash.
    fs::write(&path, b"GIANT STEPS").unwrap();
    bump_mtime(&path, 9);
    assert_eq!(index.recheck(&hash).unwrap(), None);
    assert!(index.outboard(&hash).unwrap().is_none());
    assert_eq!(
        index.recheck(&Key256::hash(b"GIANT STEPS")).unwrap(),
        Some(path.clone())
    );

    // One of two copies gone: the other serves.
    let blue = Key256::hash(b"blue train, 1957");
    fs::remove_file(fx.share.join("Coltrane/Blue Train.txt")).unwrap();
    assert_eq!(
        index.recheck(&blue).unwrap(),
        Some(fx.share.join("copies/blue_train_copy.txt"))
    );
    assert_eq!(
        index.content(&blue).unwrap().unwrap().names,
        vec!["blue_train_copy.txt"]
    );
}

#[test]
fn stored_outboards_serve_verified_ranges() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let hash = Key256::hash(&vec![7u8; 200_000]);
    let ob = index.outboard(&hash).unwrap().unwrap();
    let path = index.recheck(&hash).unwrap().unwrap();
    let file = fs::File::open(path).unwrap();
    let mut slice = Vec::new();
    crate::verify::encode_range(&file, &ob, 50_000..120_000, &mut slice).unwrap();
    let bytes = crate::verify::decode_range(hash, 200_000, 50_000..120_000, &slice).unwrap();
    assert_eq!(bytes, vec![7u8; 70_000]);
}

#[test]
fn contents_page_through_everything() {
    let fx = fixture();
    let index = Index::new(&fx.conn);
    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = index.contents(after, 2).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.hash);
        all.extend(page);
    }
    assert_eq!(all.len(), 5, "six files, five distinct contents");
    assert!(all.windows(2).all(|w| w[0].hash < w[1].hash));
    let blue = all
        .iter()
        .find(|e| e.hash == Key256::hash(b"blue train, 1957"))
        .unwrap();
    assert_eq!(blue.keywords, vec!["blue", "train", "txt", "copy"]);
}

#[test]
fn keywords_fold_case_and_accents() {
    assert_eq!(keywords("Café DÉJÀ-vu, café!"), vec!["cafe", "deja", "vu"]);
    assert_eq!(keywords("Ame\u{301}lie"), keywords("Amélie"));
    assert!(keywords("  -- ").is_empty());
    assert_eq!(keywords(&"w ".repeat(5)).len(), 1);
    let many: String = (0..100).map(|i| format!("k{i} ")).collect();
    assert_eq!(keywords(&many).len(), MAX_KEYWORDS);
}

#[test]
fn audio_tags_are_indexed() {
    use lofty::config::WriteOptions;
    use lofty::prelude::{Accessor, TagExt};
    use lofty::tag::{Tag, TagType};
    let fx = fixture();
    let wav = fx.share.join("track01.wav");
    write(&wav, &wav_bytes());
    let mut tag = Tag::new(TagType::RiffInfo);
    tag.set_artist("Sonny Clark".into());
    tag.set_title("Cool Struttin'".into());
    tag.set_album("Cool Struttin".into());
    tag.save_to_path(&wav, WriteOptions::default()).unwrap();
    let index = Index::new(&fx.conn);
    index.share(&[&fx.share], &mut |_| {}).unwrap();
    let hits = index.search("sonny strut", 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].tags.artist.as_deref(), Some("Sonny Clark"));
    assert_eq!(hits[0].tags.title.as_deref(), Some("Cool Struttin'"));
    assert!(hits[0].mime.starts_with("audio/"), "{}", hits[0].mime);
}

/// A valid 8 kHz mono 16-bit PCM WAV of 100 silent samples.
fn wav_bytes() -> Vec<u8> {
    let data_len: u32 = 200;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.extend(std::iter::repeat_n(0u8, data_len as usize));
    b
}
