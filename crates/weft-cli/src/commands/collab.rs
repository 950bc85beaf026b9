//! `weft contact add`, `weft contacts`, `weft msg send`, `weft msg inbox`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use weft_api::client::ClientError;
use weft_api::collab::{AddContact, Contact, InboxQuery, Message, Presence, SendMessage};
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
    let added = client(home)?
        .add_contact(&AddContact { peer_id, name })
        .await?;
    if json {
        outln!("{}", serde_json::to_string(&added)?)?;
    } else {
        outln!(
            "added {} ({}): {}",
            added.name,
            added.peer_id,
            presence(&added)
        )?;
    }
    Ok(())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// "online", "offline, last seen 5 min ago", "offline, never seen".
fn presence(c: &Contact) -> String {
    let status = c.status.as_str();
    if c.status == Presence::Online {
        return status.to_string();
    }
    match c.last_seen_us {
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
    let answer = client(home)?.contacts().await?;
    if json {
        outln!("{}", serde_json::to_string(&answer)?)?;
        return Ok(());
    }
    if answer.contacts.is_empty() {
        outln!("no contacts; add one with `weft contact add PEERID NAME`")?;
    }
    for c in &answer.contacts {
        outln!("{:<20} {:<32} {}", c.name, presence(c), c.peer_id)?;
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
    let body = SendMessage {
        to: name.to_string(),
        text,
        wait_ms,
    };
    let sent = match client(home)?.send_message(&body).await {
        Ok(v) => v,
        Err(ClientError::Api {
            status: 404,
            message,
        }) => bail!("{message}"),
        Err(e) => return Err(e.into()),
    };
    if json {
        outln!("{}", serde_json::to_string(&sent)?)?;
    } else if sent.delivered {
        outln!("delivered to {name} (#{})", sent.seq)?;
    } else {
        outln!(
            "queued for {name} (#{}): not acked yet; it is delivered when {name} is online, and mailbox peers hold a copy meanwhile",
            sent.seq
        )?;
    }
    Ok(())
}

fn print_message(m: &Message, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string(m)?)?;
    } else {
        outln!("[{}] {} #{}: {}", m.id, m.from, m.seq, m.text)?;
    }
    Ok(())
}

async fn inbox(home: &Path, mut after: i64, follow: bool, json: bool) -> anyhow::Result<()> {
    let client = client(home)?;
    if !follow {
        let page = client
            .inbox(InboxQuery {
                after,
                ..InboxQuery::default()
            })
            .await?;
        if json {
            outln!("{}", serde_json::to_string(&page)?)?;
            return Ok(());
        }
        if page.messages.is_empty() {
            outln!("no messages")?;
        }
        for m in &page.messages {
            print_message(m, false)?;
        }
        return Ok(());
    }
    loop {
        let page = client
            .inbox(InboxQuery {
                after,
                limit: None,
                wait_ms: FOLLOW_POLL_MS,
            })
            .await?;
        for m in &page.messages {
            print_message(m, json)?;
        }
        after = page.last_id;
    }
}
