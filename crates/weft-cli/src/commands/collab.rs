//! `weft contact add`, `weft contacts`, `weft msg send`, `weft msg inbox`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use weft_api::client::{ClientError, Method};
use weft_net::PeerId;

use super::client;
use crate::cli::{ContactCommand, MsgCommand};
use crate::output::outln;

/// Longest `--wait` for `weft msg send` (the node's own limit).
const MAX_WAIT_SECS: u64 = 10;
/// How long one `--follow` poll waits at the node.
const FOLLOW_POLL_MS: u64 = 25_000;

/// `weft contact …`.
pub async fn contact(home: &Path, cmd: ContactCommand) -> anyhow::Result<()> {
    let ContactCommand::Add {
        peer_id,
        name,
        json,
    } = cmd;
    if peer_id.parse::<PeerId>().is_err() {
        bail!(
            "'{peer_id}' is not a peer id; it looks like 12D3KooW… (run `weft id` on the other node)"
        );
    }
    weft_collab::contacts::check_petname(&name)?;
    let body = json!({ "peer_id": peer_id, "name": name });
    let added: Value = client(home)?
        .send_json(Method::POST, "/v0/collab/contacts", &body)
        .await?;
    if json {
        outln!("{added}")?;
    } else {
        outln!(
            "added {} ({}): {}",
            s(&added, "name"),
            s(&added, "peer_id"),
            presence(&added)
        )?;
    }
    Ok(())
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("-").to_string()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// "online", "offline, last seen 5 min ago", "offline, never seen".
fn presence(c: &Value) -> String {
    let status = s(c, "status");
    if status == "online" {
        return status;
    }
    match c.get("last_seen_us").and_then(Value::as_u64) {
        None => format!("{status}, never seen"),
        Some(t) => format!("{status}, last seen {}", ago(now_us().saturating_sub(t))),
    }
}

fn ago(us: u64) -> String {
    let secs = us / 1_000_000;
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// `weft contacts`.
pub async fn contacts(home: &Path, json: bool) -> anyhow::Result<()> {
    let answer: Value = client(home)?.get("/v0/collab/contacts").await?;
    if json {
        outln!("{answer}")?;
        return Ok(());
    }
    let list = answer["contacts"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        outln!("no contacts; add one with `weft contact add PEERID NAME`")?;
    }
    for c in list {
        outln!(
            "{:<20} {:<32} {}",
            s(&c, "name"),
            presence(&c),
            s(&c, "peer_id")
        )?;
    }
    Ok(())
}

/// `weft msg …`.
pub async fn msg(home: &Path, cmd: MsgCommand) -> anyhow::Result<()> {
    match cmd {
        MsgCommand::Send {
            name,
            text,
            wait,
            json,
        } => send(home, &name, text, wait, json).await,
        MsgCommand::Inbox {
            follow,
            after,
            json,
        } => inbox(home, after, follow, json).await,
    }
}

async fn send(home: &Path, name: &str, text: String, wait: u64, json: bool) -> anyhow::Result<()> {
    if text.is_empty() {
        bail!("the message is empty; give the text to send as the second argument");
    }
    let max = weft_collab::envelope::MAX_TEXT_BYTES;
    if text.len() > max {
        bail!("the message is {} bytes; the most is {max}", text.len());
    }
    let wait_ms = wait.min(MAX_WAIT_SECS) * 1000;
    let body = json!({ "to": name, "text": text, "wait_ms": wait_ms });
    let sent: Value = match client(home)?
        .send_json(Method::POST, "/v0/collab/messages", &body)
        .await
    {
        Ok(v) => v,
        Err(ClientError::Api {
            status: 404,
            message,
        }) => bail!("{message}"),
        Err(e) => return Err(e.into()),
    };
    if json {
        outln!("{sent}")?;
    } else if sent["delivered"].as_bool() == Some(true) {
        outln!("delivered to {name} (#{})", sent["seq"])?;
    } else {
        outln!(
            "queued for {name} (#{}): not acked yet; it is delivered when {name} is online, and mailbox peers hold a copy meanwhile",
            sent["seq"]
        )?;
    }
    Ok(())
}

fn print_message(m: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{m}")?;
    } else {
        outln!(
            "[{}] {} #{}: {}",
            m["id"],
            s(m, "from"),
            m["seq"],
            s(m, "text")
        )?;
    }
    Ok(())
}

async fn inbox(home: &Path, mut after: i64, follow: bool, json: bool) -> anyhow::Result<()> {
    let client = client(home)?;
    if !follow {
        let page: Value = client
            .get(&format!("/v0/collab/inbox?after={after}"))
            .await?;
        if json {
            outln!("{page}")?;
            return Ok(());
        }
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            outln!("no messages")?;
        }
        for m in &messages {
            print_message(m, false)?;
        }
        return Ok(());
    }
    loop {
        let path = format!("/v0/collab/inbox?after={after}&wait_ms={FOLLOW_POLL_MS}");
        let resp = client
            .get_stream(&path, Duration::from_millis(FOLLOW_POLL_MS + 10_000))
            .await?;
        let page: Value = resp
            .json()
            .await
            .context("the node's inbox answer was not JSON")?;
        for m in page["messages"].as_array().into_iter().flatten() {
            print_message(m, json)?;
        }
        after = page["last_id"].as_i64().unwrap_or(after);
    }
}
