//! The body of every error answer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the node answers with a 4xx or 5xx status: one line saying what is wrong and, where
/// it can, what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// The line.
    pub error: String,
}
