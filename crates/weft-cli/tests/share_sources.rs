//! Which peers a download asks, with real processes on loopback: a provider that went away
//! (still named by the DHT and by the search that found it) is never given pieces; only the
//! sources that can be reached join the download.

mod common;

use std::time::Duration;

use common::share::*;
use common::start;
use common::{poll, weft};

/// The live source's upload rate (bytes/s), so that the download lasts a few seconds.
const SLOW: &str = "[share]\nupload_rate = 2000000\n";

#[test]
fn a_provider_that_went_away_never_joins_the_download() {
    let tmp = tempfile::tempdir().unwrap();
    let data = sample(8 << 20, 11);
    let hash = hash_of(&data);
    let live = start(
        &tmp.path().join("live"),
        &["--role", "ultrapeer"],
        &[],
        Some(SLOW),
    );
    let boot = live.tcp_addr();
    let gone = start(&tmp.path().join("gone"), &["--bootstrap", &boot], &[], None);
    for n in [&live, &gone] {
        let folder = files_of(n);
        write_file(&folder, "sample.bin", &data);
        share(n, &folder);
    }
    let dl = start(&tmp.path().join("dl"), &["--bootstrap", &boot], &[], None);
    // The downloader learns both sources, then one of them stops: its provider record, its
    // postings and the search's memory of it stay.
    search_until(&dl, "sample", "dht", &hash, 2);
    kill9(gone);

    let out = dl.home.join("out.bin");
    let home = dl.home.clone();
    let (hash2, out2) = (hash.clone(), out.clone());
    let getter = std::thread::spawn(move || {
        weft(
            &home,
            &["get", &hash2, "-o", out2.to_str().unwrap(), "--json"],
        )
    });
    // The download's sources, polled until it ends: never more than the live one.
    let mut most = 0;
    poll(Duration::from_secs(120), "the download to end", || {
        let s = download_status(&dl, &hash)?;
        most = most.max(s.sources);
        s.state.is_finished().then_some(())
    });
    let o = getter.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&out).unwrap() == data, "the file differs");
    assert_eq!(
        most, 1,
        "the stopped provider was made a source of the download"
    );
}
