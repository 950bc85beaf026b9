//! `weft search`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::client;
use crate::cli::{SearchArgs, Via};
use crate::output::{OutputError, outln};

/// Extra time the command waits beyond the search's own timeout.
const SLACK: Duration = Duration::from_secs(10);
/// The largest `--limit` (the node's bound).
const MAX_LIMIT: u32 = 1000;

/// `weft search WORDS...`.
pub async fn run(home: &Path, args: SearchArgs) -> anyhow::Result<()> {
    let text = args.words.join(" ");
    let mut query = vec![
        format!("q={}", encode(&text)),
        format!("timeout_secs={}", args.timeout),
        format!("limit={}", args.limit),
    ];
    if let Some(via) = args.via {
        query.push(format!(
            "via={}",
            match via {
                Via::Flood => "flood",
                Via::Directory => "directory",
                Via::Dht => "dht",
            }
        ));
    }
    if let Some(ttl) = args.ttl {
        query.push(format!("ttl={ttl}"));
    }
    let path = format!("/v0/search?{}", query.join("&"));
    let limit = Duration::from_secs(args.timeout) + SLACK;
    let mut resp = client(home)?.get_stream(&path, limit).await?;
    let mut groups: BTreeMap<String, Value> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // Who held results back (`flood`, `directory`, `dht`, or `limit`: the node's cut).
    let mut cut_by: BTreeSet<String> = BTreeSet::new();
    let mut buf: Vec<u8> = Vec::new();
    if !args.json {
        outln!(
            "{:<64}  {:>10}  {:>7}  {:<14}  NAME",
            "HASH",
            "SIZE",
            "SOURCES",
            "VIA"
        )?;
    }
    while let Some(chunk) = resp.chunk().await.unwrap_or(None) {
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let Ok(group) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if let Some(by) = group.get("cut").and_then(Value::as_str) {
                cut_by.insert(by.to_string());
                continue;
            }
            let Some(hash) = group
                .get("hash")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            if !groups.contains_key(&hash) {
                order.push(hash.clone());
                if !args.json {
                    print_row(&group)?;
                }
            }
            groups.insert(hash, group);
        }
    }
    if args.json {
        let mut all: Vec<Value> = order.iter().filter_map(|h| groups.remove(h)).collect();
        all.sort_by_key(|g| std::cmp::Reverse(g.get("sources").and_then(Value::as_u64)));
        let answer = serde_json::json!({
            "results": all,
            "limit": args.limit,
            "cut": !cut_by.is_empty(),
            "cut_by": cut_by,
        });
        outln!("{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        outln!("{} results", order.len())?;
        if let Some(line) = cut_note(order.len(), args.limit, &cut_by) {
            outln!("{line}")?;
        }
    }
    Ok(())
}

/// The line that says results were cut, and how to ask for more; `None` if nothing was.
fn cut_note(shown: usize, limit: u16, cut_by: &BTreeSet<String>) -> Option<String> {
    if cut_by.is_empty() {
        return None;
    }
    let by: Vec<&str> = cut_by.iter().map(String::as_str).collect();
    let more = (u32::from(limit) * 4).min(MAX_LIMIT);
    Some(if u32::from(limit) < MAX_LIMIT {
        format!(
            "cut at {shown} results: more exist (held back by {}); ask for more with --limit {more}",
            by.join(", ")
        )
    } else {
        format!(
            "cut at {shown} results: more exist (held back by {}); {MAX_LIMIT} is the most a \
             search shows: narrow it with more words",
            by.join(", ")
        )
    })
}

fn print_row(g: &Value) -> Result<(), OutputError> {
    let hash = g.get("hash").and_then(Value::as_str).unwrap_or("");
    let size = g.get("size").and_then(Value::as_u64).unwrap_or(0);
    let sources = g.get("sources").and_then(Value::as_u64).unwrap_or(0);
    let strings = |k: &str| -> Vec<String> {
        g.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let names = strings("names");
    let via = strings("via").join(",");
    let name = match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => format!("{} (+{} names)", names[0], n - 1),
    };
    outln!(
        "{hash:<64}  {:>10}  {sources:>7}  {via:<14}  {name}",
        indicatif::HumanBytes(size).to_string()
    )
}

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cut_search_says_so_and_how_to_ask_for_more() {
        let by = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        assert_eq!(super::cut_note(3, 50, &by(&[])), None);
        assert_eq!(
            super::cut_note(50, 50, &by(&["flood", "limit"])).as_deref(),
            Some(
                "cut at 50 results: more exist (held back by flood, limit); ask for more with --limit 200"
            )
        );
        let at_most = super::cut_note(1000, 1000, &by(&["limit"])).unwrap();
        assert!(at_most.contains("1000 is the most"), "{at_most}");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(super::encode("blue train"), "blue%20train");
        assert_eq!(super::encode("a&b=ü"), "a%26b%3D%C3%BC");
    }
}
