//! What a mailbox peer keeps for others: the rules. A mailbox peer is one of the nodes closest
//! to a recipient's id in the DHT; senders deposit sealed envelopes there while the recipient
//! is offline, the recipient collects them and acks, and the ack removes the copies.
//!
//! What one sender can make a mailbox keep is bounded by count and bytes, and so is the whole
//! mailbox; copies older than the retention are dropped. The sender is the authenticated peer
//! that deposits (never a field it chose), and it must be the envelope's signer.

use serde::Serialize;

/// The mailbox's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// How long a copy is kept, µs.
    pub retention_us: u64,
    /// Copies one sender may have here, for all recipients.
    pub per_sender_messages: u64,
    /// Bytes one sender may have here.
    pub per_sender_bytes: u64,
    /// Copies in all.
    pub total_messages: u64,
    /// Bytes in all.
    pub total_bytes: u64,
}

impl Default for Rules {
    /// 7 days; 2,000 copies or 8 MiB per sender; 50,000 copies or 256 MiB in all.
    fn default() -> Self {
        Rules {
            retention_us: 7 * 24 * 3600 * 1_000_000,
            per_sender_messages: 2_000,
            per_sender_bytes: 8 << 20,
            total_messages: 50_000,
            total_bytes: 256 << 20,
        }
    }
}

/// What a mailbox holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// This sender's copies.
    pub sender_messages: u64,
    /// This sender's bytes.
    pub sender_bytes: u64,
    /// All copies.
    pub total_messages: u64,
    /// All bytes.
    pub total_bytes: u64,
}

/// Why a deposit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The sender's quota is used up.
    #[error("this sender's mailbox quota is full")]
    SenderQuota,
    /// The mailbox is full.
    #[error("the mailbox is full")]
    Full,
    /// The envelope is malformed, forged, or not signed by the depositor.
    #[error("the envelope is malformed, forged or not the depositor's")]
    Invalid,
}

/// Whether a copy of `size` bytes may be added to `usage`.
///
/// # Errors
/// The [`Refusal`].
pub fn admit(rules: &Rules, usage: &Usage, size: u64) -> Result<(), Refusal> {
    if usage.sender_messages >= rules.per_sender_messages
        || usage.sender_bytes.saturating_add(size) > rules.per_sender_bytes
    {
        return Err(Refusal::SenderQuota);
    }
    if usage.total_messages >= rules.total_messages
        || usage.total_bytes.saturating_add(size) > rules.total_bytes
    {
        return Err(Refusal::Full);
    }
    Ok(())
}

/// The deposit time before which copies are dropped at `now_us`.
pub fn expiry_cutoff(rules: &Rules, now_us: u64) -> u64 {
    now_us.saturating_sub(rules.retention_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas() {
        let rules = Rules {
            retention_us: 10,
            per_sender_messages: 2,
            per_sender_bytes: 100,
            total_messages: 3,
            total_bytes: 1000,
        };
        let mut u = Usage::default();
        assert_eq!(admit(&rules, &u, 50), Ok(()));
        u.sender_bytes = 60;
        assert_eq!(admit(&rules, &u, 50), Err(Refusal::SenderQuota));
        u = Usage {
            sender_messages: 2,
            ..Usage::default()
        };
        assert_eq!(admit(&rules, &u, 1), Err(Refusal::SenderQuota));
        u = Usage {
            total_messages: 3,
            ..Usage::default()
        };
        assert_eq!(admit(&rules, &u, 1), Err(Refusal::Full));
        assert_eq!(expiry_cutoff(&rules, 25), 15);
        assert_eq!(expiry_cutoff(&rules, 5), 0);
    }
}
