//! What the index never shares, what it skips and says so, change detection beyond size and
//! mtime, and nested roots.

use super::*;
use std::fs;

/// A database in `dir` (created if need be), as the node keeps it.
fn db(dir: &Path) -> Connection {
    fs::create_dir_all(dir).unwrap();
    migrated(&dir.join("weft.sqlite"))
}

/// The database file `file` with every migration run.
fn migrated(file: &Path) -> Connection {
    let conn = Connection::open(file).unwrap();
    for (_, sql) in MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A home-like folder: music, a hidden folder, and the node's data folder deep inside.
struct Home {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    data: PathBuf,
    conn: Connection,
}

fn home() -> Home {
    let tmp = tempfile::tempdir().unwrap();
    let home = fs::canonicalize(tmp.path()).unwrap().join("alice");
    write(&home.join("Music/Blue Train.flac"), b"blue train");
    write(&home.join(".ssh/id_ed25519"), b"private ssh key");
    let data = home.join(".local/share/weft");
    let conn = db(&data);
    write(&data.join("identity.key"), b"node private key");
    write(&data.join("api.token"), b"secret token");
    write(&data.join("weft.lock"), b"");
    Home {
        _tmp: tmp,
        home,
        data,
        conn,
    }
}

impl Home {
    /// An index of this home with its `Music` folder shared.
    fn music_shared(&self) -> Index<'_> {
        let index = Index::new(&self.conn);
        index
            .share(&[self.home.join("Music")], &mut |_| {})
            .unwrap();
        index
    }
}

/// The roots `index` shares, in its order.
fn shared_paths(index: &Index<'_>) -> Vec<PathBuf> {
    index
        .shared()
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect()
}

fn indexed_names(index: &Index<'_>) -> Vec<String> {
    let mut names: Vec<String> = index
        .contents(None, 1000)
        .unwrap()
        .into_iter()
        .flat_map(|e| e.names)
        .collect();
    names.sort();
    names
}

#[test]
fn a_home_folder_shares_no_secret_of_the_data_folder_nor_hidden_files() {
    let h = home();
    let index = Index::new(&h.conn);
    // The secrets are found even when the hidden-file rule is lifted.
    write(&h.home.join(".weftignore"), b"!.local\n!.ssh\n");
    index.share(&[&h.home], &mut |_| {}).unwrap();
    let names = indexed_names(&index);
    for secret in ["identity.key", "api.token", "weft.sqlite", "weft.lock"] {
        assert!(
            !names.iter().any(|n| n == secret),
            "{secret} shared: {names:?}"
        );
        assert!(
            index
                .search(secret.split('.').next().unwrap(), 10)
                .unwrap()
                .is_empty()
        );
    }
    assert!(names.iter().any(|n| n == "Blue Train.flac"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "id_ed25519"),
        "re-included: {names:?}"
    );
    fs::remove_file(h.home.join(".weftignore")).unwrap();
    index.rescan(&mut |_| {}).unwrap();
    assert_eq!(indexed_names(&index), vec!["Blue Train.flac"]);
}

#[test]
fn a_link_up_to_the_data_folder_shares_nothing_of_it() {
    let h = home();
    let share = h.home.join("Music");
    std::os::unix::fs::symlink(&h.data, share.join("up")).unwrap();
    std::os::unix::fs::symlink(h.data.join("identity.key"), share.join("key")).unwrap();
    let index = h.music_shared();
    assert_eq!(indexed_names(&index), vec!["Blue Train.flac"]);
    assert!(
        index
            .recheck(&Key256::hash(b"node private key"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn naming_the_data_folder_or_a_secret_is_refused() {
    let h = home();
    let index = Index::new(&h.conn);
    for p in [
        h.data.clone(),
        h.data.join("identity.key"),
        h.data.join("api.token"),
    ] {
        assert!(index.share(&[&p], &mut |_| {}).is_err(), "{}", p.display());
    }
    assert!(index.shared().unwrap().is_empty());
    assert!(indexed_names(&index).is_empty());
}

#[test]
fn an_edit_that_keeps_size_and_mtime_is_noticed() {
    let h = home();
    let index = h.music_shared();
    let song = h.home.join("Music/Blue Train.flac");
    let old = Key256::hash(b"blue train");
    let mtime = fs::metadata(&song).unwrap().modified().unwrap();
    fs::write(&song, b"BLUE TRAIN").unwrap();
    fs::File::options()
        .write(true)
        .open(&song)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let report = index.rescan(&mut |_| {}).unwrap();
    assert_eq!(report.files_hashed, 1);
    assert!(index.outboard(&old).unwrap().is_none());
    assert_eq!(
        index.search("blue", 10).unwrap()[0].hash,
        Key256::hash(b"BLUE TRAIN")
    );
}

#[test]
fn sharing_a_parent_keeps_the_nested_roots_and_hashes_nothing_again() {
    let h = home();
    let index = Index::new(&h.conn);
    let music = h.home.join("Music");
    write(&h.home.join("Papers/p.pdf"), b"paper");
    index.share(&[&music], &mut |_| {}).unwrap();
    let parent = index.share(&[&h.home], &mut |_| {}).unwrap();
    assert_eq!(parent.files_hashed, 1, "only the paper is new");
    assert_eq!(shared_paths(&index), vec![h.home.clone(), music.clone()]);
    index.unshare(&h.home).unwrap();
    assert_eq!(shared_paths(&index), vec![music.clone()]);
    assert_eq!(indexed_names(&index), vec!["Blue Train.flac"]);
}

#[test]
fn links_to_files_inside_the_root_are_followed() {
    let h = home();
    let music = h.home.join("Music");
    std::os::unix::fs::symlink(music.join("Blue Train.flac"), music.join("favourite.flac"))
        .unwrap();
    let index = h.music_shared();
    assert_eq!(
        indexed_names(&index),
        vec!["Blue Train.flac", "favourite.flac"]
    );
}

fn reasons(report: &ScanReport) -> Vec<(String, &'static str)> {
    report
        .skipped
        .iter()
        .map(|s| {
            let name = s.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, s.reason.kind())
        })
        .collect()
}

#[test]
fn every_skipped_path_is_reported_with_its_reason() {
    let h = home();
    let music = h.home.join("Music");
    let link = |to: &Path, name: &str| std::os::unix::fs::symlink(to, music.join(name)).unwrap();
    link(&h.home.join(".ssh/id_ed25519"), "outside");
    link(&h.data.join("api.token"), "token");
    link(&music.join("nowhere"), "broken");
    link(&music.join("loop-b"), "loop-a");
    link(&music.join("loop-a"), "loop-b");
    link(&music, "itself");
    write(&music.join("Albums/a.flac"), b"album");
    link(&music.join("Albums"), "albums-link");
    nix_mkfifo(&music.join("pipe"));
    for i in 0..50 {
        write(&music.join(format!(".git/objects/{i}")), b"git object");
    }
    write(&music.join("draft.tmp"), b"temporary");
    write(&music.join("Albums/.weftignore"), b"*.flac\n");
    write(&music.join("Albums/b.flac"), b"album b");
    let report = Index::new(&h.conn).share(&[&music], &mut |_| {}).unwrap();
    let mut got = reasons(&report);
    got.sort();
    let mut want = vec![
        (".git".to_string(), "hidden"),
        ("a.flac".into(), "ignored"),
        ("albums-link".into(), "link_to_folder"),
        ("b.flac".into(), "ignored"),
        ("broken".into(), "link_broken"),
        ("draft.tmp".into(), "ignored"),
        ("itself".into(), "link_loop"),
        ("loop-a".into(), "link_loop"),
        ("loop-b".into(), "link_loop"),
        ("outside".into(), "link_outside"),
        ("pipe".into(), "special"),
        ("token".into(), "link_into_data_folder"),
    ];
    want.sort();
    assert_eq!(got, want, "{:#?}", report.skipped);
    assert_eq!(report.skipped_count, want.len() as u64);
    assert_eq!(
        report.files_hashed, 1,
        "only Blue Train: {:?}",
        report.added
    );
    let text = report
        .skipped
        .iter()
        .map(|s| s.reason.to_string())
        .collect::<Vec<_>>();
    assert!(
        text.iter().any(|t| t.contains(".weftignore: *.flac")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("FIFO")), "{text:?}");
}

fn nix_mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    #[expect(unsafe_code, reason = "mkfifo has no safe std wrapper")]
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0);
}

#[test]
fn special_files_loops_and_broken_links_given_directly_are_refused() {
    let h = home();
    let index = Index::new(&h.conn);
    let fifo = h.home.join("pipe");
    nix_mkfifo(&fifo);
    let lp = h.home.join("loop");
    std::os::unix::fs::symlink(&lp, &lp).unwrap();
    let broken = h.home.join("broken");
    std::os::unix::fs::symlink(h.home.join("nothing"), &broken).unwrap();
    let e = index.share(&[&fifo], &mut |_| {}).unwrap_err();
    assert!(matches!(e, IndexError::NotRegular(..)), "{e}");
    assert!(e.to_string().contains("FIFO"), "{e}");
    let e = index
        .share(&[Path::new("/dev/null")], &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("character device"), "{e}");
    let e = index.share(&[&lp], &mut |_| {}).unwrap_err();
    assert!(matches!(e, IndexError::LinkLoop(_)), "{e}");
    let e = index.share(&[&broken], &mut |_| {}).unwrap_err();
    assert!(matches!(e, IndexError::BrokenLink(..)), "{e}");
    let e = index
        .share(&[h.home.join("absent")], &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, IndexError::Missing(_)), "{e}");
    let e = index
        .share(&[h.data.join("downloads")], &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, IndexError::Missing(_)), "{e}");
    fs::create_dir_all(h.data.join("downloads")).unwrap();
    let e = index
        .share(&[h.data.join("downloads")], &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, IndexError::DataFolder { .. }), "{e}");
    assert!(index.shared().unwrap().is_empty());
}

#[test]
fn the_own_data_folder_is_known_without_its_files() {
    // A data folder whose secrets are not written yet is still the node's own (the folder of
    // the database), so sharing around it leaves it out.
    let tmp = tempfile::tempdir().unwrap();
    let top = fs::canonicalize(tmp.path()).unwrap();
    let data = top.join("node");
    fs::create_dir_all(&data).unwrap();
    let conn = migrated(&data.join("db"));
    write(&data.join("notes.txt"), b"inside the data folder");
    write(&top.join("song.flac"), b"song");
    let index = Index::new(&conn);
    let report = index.share(&[&top], &mut |_| {}).unwrap();
    assert_eq!(indexed_names(&index), vec!["song.flac"]);
    assert_eq!(reasons(&report), vec![("node".to_string(), "data_folder")]);
}

#[test]
fn recheck_never_serves_a_path_that_now_leads_into_a_data_folder() {
    let h = home();
    let music = h.home.join("Music");
    let index = h.music_shared();
    let song = Key256::hash(b"blue train");
    assert!(index.recheck(&song).unwrap().is_some());
    // The folder is swapped for a link into the data folder, holding a file of that name.
    write(&h.data.join("Blue Train.flac"), b"blue train");
    fs::rename(&music, h.home.join("Music.old")).unwrap();
    std::os::unix::fs::symlink(&h.data, &music).unwrap();
    assert_eq!(index.recheck(&song).unwrap(), None);
    assert!(index.outboard(&song).unwrap().is_none(), "forgotten");
}

#[test]
fn rows_from_before_the_stamp_migration_are_hashed_again_once() {
    let h = home();
    let index = h.music_shared();
    h.conn
        .execute(
            "UPDATE share_files SET ctime_ns = NULL, ino = NULL, dev = NULL",
            [],
        )
        .unwrap();
    assert_eq!(index.rescan(&mut |_| {}).unwrap().files_hashed, 1);
    assert_eq!(index.rescan(&mut |_| {}).unwrap().files_hashed, 0);
}

#[test]
fn a_mismatch_found_while_serving_forgets_the_file_until_it_is_hashed_again() {
    let h = home();
    let music = h.home.join("Music");
    let index = h.music_shared();
    let path = index
        .recheck(&Key256::hash(b"blue train"))
        .unwrap()
        .unwrap();
    assert_eq!(index.forget_mismatched(&path).unwrap(), Some(music.clone()));
    assert!(index.contents(None, 10).unwrap().is_empty());
    assert_eq!(index.forget_mismatched(&path).unwrap(), None);
    let again = index.rescan_roots(&[music], &mut |_| {}).unwrap();
    assert_eq!(again.files_hashed, 1);
}

#[test]
fn a_deleted_root_is_missing_and_comes_back() {
    let h = home();
    let music = h.home.join("Music");
    let index = h.music_shared();
    fs::rename(&music, h.home.join("away")).unwrap();
    let report = index.rescan(&mut |_| {}).unwrap();
    assert_eq!(report.missing_roots, vec![music.clone()]);
    let root = &index.shared().unwrap()[0];
    assert!(root.missing && root.files == 0, "{root:?}");
    fs::rename(h.home.join("away"), &music).unwrap();
    assert_eq!(index.rescan(&mut |_| {}).unwrap().files_hashed, 1);
    assert!(!index.shared().unwrap()[0].missing);
    // A missing root can still be unshared.
    fs::remove_dir_all(&music).unwrap();
    index.rescan(&mut |_| {}).unwrap();
    assert_eq!(index.unshare(&music).unwrap().root.path, music);
    assert!(index.shared().unwrap().is_empty());
}

#[test]
fn files_list_hashes_paths_and_pages() {
    let h = home();
    let music = h.home.join("Music");
    for i in 0..5 {
        write(
            &music.join(format!("t{i}.flac")),
            format!("track {i}").as_bytes(),
        );
    }
    let index = Index::new(&h.conn);
    let report = index.share(&[&music], &mut |_| {}).unwrap();
    assert_eq!(report.added_count, 6);
    assert!(
        report
            .added
            .iter()
            .any(|a| a.hash == Key256::hash(b"track 3")
                && a.path == music.join("t3.flac")
                && a.size == 7)
    );
    let first = index.files(0, 4).unwrap();
    assert_eq!(first.len(), 4);
    let rest = index.files(first[3].id, 4).unwrap();
    assert_eq!(rest.len(), 2);
    let all: Vec<_> = first.iter().chain(&rest).collect();
    assert!(
        all.iter()
            .any(|f| f.path == music.join("t0.flac") && f.hash == Key256::hash(b"track 0"))
    );
}

#[test]
fn a_file_that_changes_while_read_says_so() {
    let h = home();
    let song = h.home.join("Music/Blue Train.flac");
    let meta = fs::metadata(&song).unwrap();
    let mut found = walk::Found {
        root_id: 1,
        abs: song.clone(),
        rel: String::new(),
        name: "Blue Train.flac".into(),
        stamp: walk::Stamp::of(&meta),
    };
    found.stamp.size += 100; // as if it shrank while read
    let e = scan::hash_file(&found, None).unwrap_err();
    assert_eq!(e, scan::CHANGED_WHILE_READ);
}

#[test]
fn a_root_an_earlier_version_shared_inside_a_data_folder_is_dropped_at_the_rescan() {
    let h = home();
    let index = h.music_shared();
    // As an earlier version could: the data folder itself, and a folder holding it, indexed
    // with the secrets in it.
    h.conn
        .execute(
            "INSERT INTO share_roots(path) VALUES (?1)",
            [h.data.to_str().unwrap()],
        )
        .unwrap();
    let report = index.rescan(&mut |_| {}).unwrap();
    assert_eq!(report.refused_roots, vec![h.data.clone()]);
    assert_eq!(shared_paths(&index), vec![h.home.join("Music")]);
    assert_eq!(indexed_names(&index), vec!["Blue Train.flac"]);
}

#[test]
fn a_hard_link_to_the_nodes_key_is_not_shared() {
    let h = home();
    let music = h.home.join("Music");
    fs::hard_link(h.data.join("identity.key"), music.join("cover.jpg")).unwrap();
    let index = Index::new(&h.conn);
    let report = index.share(&[&music], &mut |_| {}).unwrap();
    assert_eq!(indexed_names(&index), vec!["Blue Train.flac"]);
    assert_eq!(reasons(&report), vec![("cover.jpg".to_string(), "secret")]);
}
