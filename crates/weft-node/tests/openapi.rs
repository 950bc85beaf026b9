//! The OpenAPI document describes exactly the routes the router serves, and its component
//! schemas are the `weft-api` types': each type's schema, as `schemars` generates it for
//! OpenAPI 3.0, must be in `components.schemas` under its name with the same structure
//! (property names, types, required set, enum values, nullability; descriptions may be worded
//! differently), and every component must be one of those types. (That each documented route
//! answers on a live node is checked by `weft-cli`'s `api` test.)
//!
//! When a type changes, the failure names the component; the generated schemas are written
//! to `openapi-components.json` in Cargo's test temp folder to copy from.

use std::collections::BTreeSet;

use schemars::generate::SchemaSettings;
use serde_json::Value;
use weft_node::api::routes;

fn document() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON")
}

fn documented_routes() -> BTreeSet<(String, String)> {
    let doc = document();
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
    let routed: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let documented = documented_routes();
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

/// The schemas of every request, response, query and event type of the API, as OpenAPI 3.0
/// components: what the node sends as it serializes it (an `Option` it always writes is
/// required, and nullable), what it takes as it deserializes it (an `Option` may be left out).
fn generated() -> serde_json::Map<String, Value> {
    use weft_api::{collab, compute, dht, error, events, node, share};
    let mut sent = SchemaSettings::openapi3().for_serialize().into_generator();
    let mut taken = SchemaSettings::openapi3()
        .for_deserialize()
        .into_generator();
    macro_rules! types {
        ($g:ident: $($t:ty),* $(,)?) => { $( $g.subschema_for::<$t>(); )* };
    }
    types!(sent:
        error::ErrorBody,
        node::Id,
        node::Peers,
        node::Health,
        dht::DhtPut,
        share::ShareStarted,
        share::ShareJob,
        share::Unshared,
        share::SharedRoot,
        share::SharedFiles,
        share::SearchLine,
        share::DownloadStatus,
        collab::Contact,
        collab::Contacts,
        collab::Sent,
        collab::Inbox,
        collab::CollabStatus,
        compute::Submitted,
        compute::JobProgress,
        compute::Jobs,
        compute::Cancelled,
        compute::JobResults,
        compute::Workers,
        compute::Credit,
        events::ApiEvent,
    );
    types!(taken:
        dht::DhtPutQuery,
        share::ShareRequest,
        share::ShareStatusQuery,
        share::UnshareRequest,
        share::SharedFilesQuery,
        share::SearchQuery,
        share::DownloadRequest,
        share::StatusQuery,
        collab::AddContact,
        collab::SendMessage,
        collab::InboxQuery,
        compute::SubmitRequest,
    );
    let mut defs = sent.take_definitions(true);
    for (name, schema) in taken.take_definitions(true) {
        if let Some(other) = defs.get(&name) {
            assert_eq!(other, &schema, "{name} is both sent and taken, differently");
        }
        defs.insert(name, schema);
    }
    let dump = serde_json::to_string_pretty(&defs).expect("schemas serialize");
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-components.json"),
        dump,
    );
    defs
}

/// `schema` without its words (descriptions, titles), for comparing structure.
fn structure(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "description" | "title" | "example"))
                .map(|(k, v)| (k.clone(), structure(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(structure).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_component_is_an_api_type_with_the_types_structure() {
    let doc = document();
    let documented = doc["components"]["schemas"]
        .as_object()
        .expect("openapi.json has component schemas");
    let generated = generated();
    let mut wrong = Vec::new();
    for (name, schema) in &generated {
        match documented.get(name) {
            None => wrong.push(format!("{name}: not in openapi.json")),
            Some(d) if structure(d) != structure(schema) => wrong.push(format!(
                "{name}: openapi.json has {}, the type is {}",
                structure(d),
                structure(schema)
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys() {
        if !generated.contains_key(name) {
            wrong.push(format!(
                "{name}: in openapi.json, but no API type has that name"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "openapi.json's schemas differ from weft-api's types (the generated schemas are in {}/openapi-components.json):\n{}",
        env!("CARGO_TARGET_TMPDIR"),
        wrong.join("\n")
    );
}

/// Every `$ref` in the document names a component.
#[test]
fn every_reference_resolves() {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty(), "the document references no schema");
    let broken: Vec<&String> = all
        .iter()
        .filter(|r| {
            let Some(path) = r.strip_prefix("#/") else {
                return true;
            };
            let mut at = &doc;
            for part in path.split('/') {
                match at.get(part) {
                    Some(next) => at = next,
                    None => return true,
                }
            }
            false
        })
        .collect();
    assert!(broken.is_empty(), "references to nothing: {broken:?}");
}

/// Each route with a query type documents exactly that type's fields as its query
/// parameters.
#[test]
fn query_parameters_are_the_query_types_fields() {
    let doc = document();
    let generated = generated();
    let queries = [
        ("put", "/v0/dht/{key}", "DhtPutQuery"),
        ("get", "/v0/share", "ShareStatusQuery"),
        ("get", "/v0/shared/files", "SharedFilesQuery"),
        ("get", "/v0/search", "SearchQuery"),
        ("get", "/v0/downloads/{hash}", "StatusQuery"),
        ("get", "/v0/collab/inbox", "InboxQuery"),
    ];
    for (method, path, ty) in queries {
        let fields: BTreeSet<String> = generated[ty]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{ty} has properties"))
            .keys()
            .cloned()
            .collect();
        let params: BTreeSet<String> = doc["paths"][path][method]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(params, fields, "{method} {path}: query parameters vs {ty}");
    }
}
