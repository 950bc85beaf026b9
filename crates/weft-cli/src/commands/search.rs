//! `weft search`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use weft_api::share::{ResultGroup, SearchLine, SearchQuery};

use super::client;
use crate::cli::{SearchArgs, Via};
use crate::output::{OutputError, outln};

/// The largest `--limit` (the node's bound).
const MAX_LIMIT: u32 = 1000;

/// What `weft search --json` prints.
#[derive(Serialize)]
struct Answer {
    /// One entry per content, most sources first.
    results: Vec<ResultGroup>,
    /// The `--limit` asked for.
    limit: u16,
    /// More results exist than were shown.
    cut: bool,
    /// Who held results back (`flood`, `directory`, `dht`, or `limit`: the node's cut).
    cut_by: BTreeSet<String>,
}

/// `weft search WORDS...`.
pub async fn run(home: &Path, args: SearchArgs) -> anyhow::Result<()> {
    let query = SearchQuery {
        q: args.words.join(" "),
        via: args.via.map(|via| {
            match via {
                Via::Flood => "flood",
                Via::Directory => "directory",
                Via::Dht => "dht",
            }
            .to_string()
        }),
        ttl: args.ttl,
        timeout_secs: Some(args.timeout),
        limit: Some(usize::from(args.limit)),
    };
    let mut lines = client(home)?.search(&query).await?;
    let mut groups: BTreeMap<String, ResultGroup> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut cut_by: BTreeSet<String> = BTreeSet::new();
    if !args.json {
        outln!(
            "{:<64}  {:>10}  {:>7}  {:<14}  NAME",
            "HASH",
            "SIZE",
            "SOURCES",
            "VIA"
        )?;
    }
    while let Some(line) = lines.next().await {
        let group = match line {
            SearchLine::Cut(c) => {
                cut_by.insert(c.cut.as_str().to_string());
                continue;
            }
            SearchLine::Group(g) => g,
        };
        if !groups.contains_key(&group.hash) {
            order.push(group.hash.clone());
            if !args.json {
                print_row(&group)?;
            }
        }
        groups.insert(group.hash.clone(), group);
    }
    if args.json {
        let mut results: Vec<ResultGroup> = order.iter().filter_map(|h| groups.remove(h)).collect();
        results.sort_by_key(|g| std::cmp::Reverse(g.sources));
        let answer = Answer {
            results,
            limit: args.limit,
            cut: !cut_by.is_empty(),
            cut_by,
        };
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

fn print_row(g: &ResultGroup) -> Result<(), OutputError> {
    let via: Vec<&str> = g.via.iter().map(|v| v.as_str()).collect();
    let via = via.join(",");
    let name = match g.names.len() {
        0 => String::new(),
        1 => g.names[0].clone(),
        n => format!("{} (+{} names)", g.names[0], n - 1),
    };
    outln!(
        "{:<64}  {:>10}  {:>7}  {via:<14}  {name}",
        g.hash,
        indicatif::HumanBytes(g.size).to_string(),
        g.sources
    )
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
}
