//! The OpenAPI document describes exactly the routes the router serves. (That each documented
//! route answers on a live node is checked by `weft-cli`'s `api` test.)

use std::collections::BTreeSet;

use weft_node::api::ROUTES;

fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("openapi.json has paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item is an object").keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

#[test]
fn document_and_router_list_the_same_routes() {
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let documented = documented();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes not in openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json paths the router lacks: {extra:?}"
    );
}

/// The property names and the `state` enum of schema `name`.
fn schema(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON");
    let s = &doc["components"]["schemas"][name];
    let props = s["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has properties"));
    let states = props
        .get("state")
        .and_then(|p| p["enum"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (props.keys().cloned().collect(), states)
}

#[test]
fn the_download_schema_is_the_api_types_download_status() {
    use weft_api::share::{DownloadState, DownloadStatus};
    let status = serde_json::to_value(DownloadStatus::new("h".into(), "/o".into()))
        .expect("a status serializes");
    let fields: BTreeSet<String> = status
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    let states: BTreeSet<String> = [
        DownloadState::Searching,
        DownloadState::Downloading,
        DownloadState::Verifying,
        DownloadState::Done,
        DownloadState::Failed,
    ]
    .iter()
    .map(|s| s.as_str().to_string())
    .collect();
    assert_eq!(schema("Download"), (fields, states));
}
