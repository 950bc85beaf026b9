//! `weft dht put` and `weft dht get`.

use std::path::Path;

use anyhow::bail;
use weft_api::dht::DhtPutQuery;
use weft_net::overlay::dht::user_key;

use super::client;
use crate::cli::DhtCommand;
use crate::output::{self, outln};

/// Largest value `weft dht put` sends (the DHT's limit).
const MAX_VALUE: usize = 64 * 1024;

/// Runs a `weft dht` subcommand.
pub async fn run(home: &Path, cmd: DhtCommand) -> anyhow::Result<()> {
    match cmd {
        DhtCommand::Put { key, value, json } => put(home, &key, value, json).await,
        DhtCommand::Get { key, json } => get(home, &key, json).await,
    }
}

async fn put(home: &Path, key: &str, value: String, json: bool) -> anyhow::Result<()> {
    if value.len() > MAX_VALUE {
        bail!(
            "the value is {} bytes; a DHT record holds at most {MAX_VALUE}",
            value.len()
        );
    }
    let key = user_key(key);
    let answer = client(home)?
        .dht_put(&key.to_string(), value.into_bytes(), DhtPutQuery::default())
        .await?;
    if json {
        outln!("{}", serde_json::to_string(&answer)?)?;
    } else {
        outln!("stored {key} on {} peers", answer.stored)?;
    }
    Ok(())
}

async fn get(home: &Path, key: &str, json: bool) -> anyhow::Result<()> {
    let key = user_key(key);
    let Some(value) = client(home)?.dht_get(&key.to_string()).await? else {
        bail!("no record under {key} in the DHT");
    };
    if json {
        let out = serde_json::json!({
            "key": key.to_string(),
            "value": String::from_utf8_lossy(&value),
        });
        outln!("{out}")?;
    } else {
        output::bytes(&value)?;
        if !value.ends_with(b"\n") {
            output::bytes(b"\n")?;
        }
    }
    Ok(())
}
