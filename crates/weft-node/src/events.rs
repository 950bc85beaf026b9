//! Events the node publishes on `GET /v0/events` (server-sent events) for the dashboard and
//! scripts. Each SSE message has `event: <kind>` and a JSON `data` line; the type lives in
//! `weft-api` ([`weft_api::events`]), so clients read what the node sends.

pub use weft_api::events::ApiEvent;
