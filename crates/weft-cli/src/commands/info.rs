//! `weft id` and `weft peers`.

use std::path::Path;

use serde_json::Value;

use super::client;
use crate::output::outln;

/// `weft id`.
pub async fn id(home: &Path, json: bool) -> anyhow::Result<()> {
    let id: Value = client(home)?.get("/v0/id").await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&id)?)?;
        return Ok(());
    }
    let s = |k: &str| id.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    outln!("peer id    {}", s("peer_id"))?;
    outln!("version    {}", s("version"))?;
    outln!("api        http://{}", s("api"))?;
    outln!("nat        {}", s("nat"))?;
    let role = id["node"]["role"].as_str().unwrap_or("-");
    match id.get("flood_role").and_then(Value::as_str) {
        Some(flood) if flood != role => outln!("role       {role} (flooding as {flood})")?,
        _ => outln!("role       {role}")?,
    }
    for (i, a) in strings(&id, "listen").iter().enumerate() {
        outln!("{}{a}", if i == 0 { "listening  " } else { "           " })?;
    }
    Ok(())
}

/// `weft peers`.
pub async fn peers(home: &Path, json: bool) -> anyhow::Result<()> {
    let peers: Value = client(home)?.get("/v0/peers").await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&peers)?)?;
        return Ok(());
    }
    let connected = peers
        .get("connected")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let known = peers
        .get("known")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if !connected.is_empty() {
        outln!(
            "{:<54} {:<9} {:<10} {:>8}  ADDRESS",
            "PEER",
            "DIR",
            "FOUND BY",
            "RTT"
        )?;
    }
    for p in &connected {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let rtt = p
            .get("rtt_ms")
            .and_then(Value::as_f64)
            .map_or_else(|| "-".to_string(), |r| format!("{r:.1}ms"));
        outln!(
            "{:<54} {:<9} {:<10} {:>8}  {}",
            s("peer_id"),
            s("direction"),
            s("source"),
            rtt,
            s("addr")
        )?;
    }
    outln!("{} connected, {} in the peer book", connected.len(), known)?;
    Ok(())
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
