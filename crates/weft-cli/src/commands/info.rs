//! `weft id` and `weft peers`.

use std::path::Path;

use super::client;
use crate::output::outln;

/// `weft id`.
pub async fn id(home: &Path, json: bool) -> anyhow::Result<()> {
    let id = client(home)?.id().await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&id)?)?;
        return Ok(());
    }
    outln!("peer id    {}", id.peer_id)?;
    outln!("version    {}", id.version)?;
    outln!("api        http://{}", id.api)?;
    outln!("nat        {}", id.nat.as_str())?;
    let role = id.node.role.as_str();
    match id.flood_role.map(|f| f.as_str()) {
        Some(flood) if flood != role => outln!("role       {role} (flooding as {flood})")?,
        _ => outln!("role       {role}")?,
    }
    for (i, a) in id.listen.iter().enumerate() {
        outln!("{}{a}", if i == 0 { "listening  " } else { "           " })?;
    }
    Ok(())
}

/// `weft peers`.
pub async fn peers(home: &Path, json: bool) -> anyhow::Result<()> {
    let peers = client(home)?.peers().await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&peers)?)?;
        return Ok(());
    }
    if !peers.connected.is_empty() {
        outln!(
            "{:<54} {:<9} {:<10} {:>8}  ADDRESS",
            "PEER",
            "DIR",
            "FOUND BY",
            "RTT"
        )?;
    }
    for p in &peers.connected {
        let rtt = p
            .rtt_ms
            .map_or_else(|| "-".to_string(), |r| format!("{r:.1}ms"));
        outln!(
            "{:<54} {:<9} {:<10} {:>8}  {}",
            p.peer_id,
            p.direction.as_str(),
            p.source.as_str(),
            rtt,
            p.addr
        )?;
    }
    outln!(
        "{} connected, {} in the peer book",
        peers.connected.len(),
        peers.known.len()
    )?;
    Ok(())
}
