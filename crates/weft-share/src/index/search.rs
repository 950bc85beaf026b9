//! Keyword search over the index, and the keyword normalization shared with remote postings.

use rusqlite::{Connection, params};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use weft_core::id::Key256;

use super::{IndexError, MediaTags, hash_from_blob};

/// Most keywords taken from one text by [`keywords`].
pub const MAX_KEYWORDS: usize = 32;

/// Most name variants kept per search hit.
pub const MAX_NAMES: usize = 16;

/// One content found by [`super::Index::search`]: every local file with that hash, grouped.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The content hash.
    pub hash: Key256,
    /// The content size.
    pub size: u64,
    /// Distinct file names with this content, best match first (at most [`MAX_NAMES`]).
    pub names: Vec<String>,
    /// Local files with this content among the matches.
    pub copies: usize,
    /// MIME type guessed from the best match's name.
    pub mime: String,
    /// Tags of the best match.
    pub tags: MediaTags,
    /// FTS5 bm25 score of the best match (lower is better).
    pub score: f64,
}

/// The search keywords in `text`: case- and accent-folded, split on anything that is not a
/// letter or digit, deduplicated in order of appearance, at most [`MAX_KEYWORDS`], each at most
/// 64 bytes. The same folding as the index's FTS5 tokenizer, so remote postings (directory,
/// DHT) and local search agree on what a word is.
pub fn keywords(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut out: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.len() > 64 || out.iter().any(|w| w == word) {
            continue;
        }
        out.push(word.to_string());
        if out.len() == MAX_KEYWORDS {
            break;
        }
    }
    out
}

/// The FTS5 query for a user's words: every keyword as a quoted prefix, all required.
/// `None` if there is no keyword.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let words = keywords(&text.nfc().collect::<String>());
    if words.is_empty() {
        return None;
    }
    Some(
        words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

pub(crate) fn search(
    conn: &Connection,
    query: &str,
    limit: usize,
) -> Result<Vec<SearchHit>, IndexError> {
    let Some(fts) = fts_query(query) else {
        return Ok(Vec::new());
    };
    let limit = limit.min(1000);
    let row_limit = i64::try_from(limit.saturating_mul(8)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT f.hash, f.size, f.name, f.mime, f.artist, f.title, f.album, f.year,
                bm25(share_fts, 10.0, 2.0, 5.0) AS score
         FROM share_fts JOIN share_files f ON f.id = share_fts.rowid
         WHERE share_fts MATCH ?1 ORDER BY score, f.id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![fts, row_limit], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            MediaTags {
                artist: r.get(4)?,
                title: r.get(5)?,
                album: r.get(6)?,
                year: r.get(7)?,
            },
            r.get::<_, f64>(8)?,
        ))
    })?;
    let mut hits: Vec<SearchHit> = Vec::new();
    for row in rows {
        let (hash, size, name, mime, tags, score) = row?;
        let hash = hash_from_blob(&hash)?;
        if let Some(hit) = hits.iter_mut().find(|h| h.hash == hash) {
            hit.copies += 1;
            if hit.names.len() < MAX_NAMES && !hit.names.contains(&name) {
                hit.names.push(name);
            }
            continue;
        }
        if hits.len() == limit {
            continue;
        }
        let size = u64::try_from(size).unwrap_or(0);
        hits.push(SearchHit {
            hash,
            size,
            names: vec![name],
            copies: 1,
            mime,
            tags,
            score,
        });
    }
    Ok(hits)
}
