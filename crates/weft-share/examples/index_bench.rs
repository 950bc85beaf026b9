//! Indexing speed: `share()` over a folder of random files, printed as files/s and GB/s, then
//! a rescan of the unchanged folder and the recheck a provider runs before every piece.
//!
//! ```text
//! cargo run --release -p weft-share --example index_bench -- [FOLDER] [--make-gib N] [--files N] [--workers N]
//! ```
//!
//! With `--make-gib`, it first fills FOLDER (default: a temp folder) with `--files` random
//! files totalling N GiB. Compare with `b3sum` over the same folder (run it right after, so
//! both read from the page cache, or drop caches before each).

#![expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a benchmark reads the clock"
)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use weft_share::index::{Index, MIGRATIONS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut folder, mut make_gib, mut files, mut workers) = (None, 0.0f64, 64u64, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--make-gib" => make_gib = args.next().ok_or("--make-gib N")?.parse()?,
            "--files" => files = args.next().ok_or("--files N")?.parse()?,
            "--workers" => workers = Some(args.next().ok_or("--workers N")?.parse()?),
            _ => folder = Some(PathBuf::from(a)),
        }
    }
    let tmp = tempfile::tempdir()?;
    let folder = folder.unwrap_or_else(|| tmp.path().join("data"));
    if make_gib > 0.0 {
        make_files(&folder, make_gib, files)?;
    }
    let db = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(db.path().join("weft.sqlite"))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    for (_, sql) in MIGRATIONS {
        conn.execute_batch(sql)?;
    }
    let mut index = Index::new(&conn);
    if let Some(w) = workers {
        index = index.with_workers(w);
    }
    let start = Instant::now();
    let report = index.share(&[&folder], &mut |_| {})?;
    let secs = start.elapsed().as_secs_f64();
    let rescan_start = Instant::now();
    let rescan = index.rescan(&mut |_| {})?;
    let rescan_secs = rescan_start.elapsed().as_secs_f64();
    println!("folder            {}", folder.display());
    println!("files hashed      {}", report.files_hashed);
    println!("bytes hashed      {}", report.bytes_hashed);
    println!("seconds           {secs:.3}");
    println!("files/s           {:.1}", report.files_hashed as f64 / secs);
    println!(
        "GB/s              {:.3}",
        report.bytes_hashed as f64 / secs / 1e9
    );
    println!(
        "rescan (unchanged {} files) {rescan_secs:.3} s",
        rescan.files_unchanged
    );
    if let Some(first) = report.added.first() {
        let n = 10_000u32;
        let t = Instant::now();
        for _ in 0..n {
            index.recheck(&first.hash)?;
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("recheck (unchanged) {us:.1} us");
    }
    Ok(())
}

/// Writes `count` files of random bytes (a seeded xorshift) totalling `gib` GiB.
fn make_files(folder: &std::path::Path, gib: f64, count: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let per_file = ((gib * (1u64 << 30) as f64) as u64 / count.max(1)).max(1);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..count {
        let mut f = std::io::BufWriter::new(std::fs::File::create(
            folder.join(format!("file-{i:05}.bin")),
        )?);
        let mut left = per_file;
        while left > 0 {
            for chunk in buf.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
        f.flush()?;
    }
    Ok(())
}
