//! The admin API's OpenAPI document says what the handlers answer (issue 14, found by `scripts/schemathesis.sh`):
//! every operation lists 401, 403 and 404, and 400 where it parses a query or a body or refuses a rule (deleting
//! yourself); the paging bounds are in the document; a body must be a JSON object. Each documented error is also
//! provoked here, so the document and the server cannot drift apart.

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use serde_json::{Value, json};

/// Every operation of the document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

/// The path with `realm` and a placeholder for every other parameter.
fn concrete(path: &str, realm: &str) -> String {
    path.replace("{realm}", realm)
        .replace("{id}", "nobody")
        .replace("{token_id}", "no-token")
        .replace("{client_id}", "no-client")
}

fn parses_input(op: &Value) -> bool {
    op.get("requestBody").is_some()
        || op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"))
}

async fn send(
    s: &keyport_testkit::TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = http().request(method, format!("{}{path}", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "text/plain").body(b.to_owned());
    }
    Reply::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn every_operation_documents_the_errors_it_answers() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let doc = get(&format!("{}/openapi.json", s.url)).await.json;
    let ops = operations(&doc);
    assert_eq!(ops.len(), 17, "{ops:?}");
    for (path, method, op) in &ops {
        let documented = |status: &str| op["responses"].get(status).is_some();
        let what = format!("{method} {path}");
        for status in ["401", "403", "404"] {
            assert!(documented(status), "{what} does not document {status}");
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/AdminError",
                "{what} {status}"
            );
        }

        // 401: no token.
        let r = send(&s, method, &concrete(path, "aiod"), None, None).await;
        r.assert_error(401, "invalid_token");
        // 404: a realm that does not exist, even for an administrator.
        let r = send(
            &s,
            method,
            &concrete(path, "no-such-realm"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(r.status, 404, "{what}: {r:?}");

        // 400: a query parameter the operation does not know, or a body that is not JSON.
        if parses_input(op) {
            assert!(documented("400"), "{what} does not document 400");
            let path = concrete(path, "aiod");
            let r = if op.get("requestBody").is_some() {
                send(&s, method, &path, Some(&admin), Some("not json")).await
            } else {
                send(&s, method, &format!("{path}?unknown=1"), Some(&admin), None).await
            };
            r.assert_error(400, "invalid_request");
        }
    }
}

#[tokio::test]
async fn paging_bounds_are_documented_and_enforced() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let doc = get(&format!("{}/openapi.json", s.url)).await.json;
    for list in ["users", "tokens", "clients", "audit"] {
        let params = doc["paths"][format!("/admin/realms/{{realm}}/{list}")]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        let schema = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{list}: no `{name}`"))["schema"]
                .clone()
        };
        assert_eq!(schema("first")["minimum"], 0, "{list}");
        assert_eq!(schema("max")["minimum"], 1, "{list}");
        assert_eq!(schema("max")["maximum"], 1000, "{list}");

        for bad in ["first=-1", "max=0", "max=1001"] {
            aget(&s, &format!("{list}?{bad}"), &admin)
                .await
                .assert_error(400, "invalid_request");
        }
        let r = aget(&s, &format!("{list}?first=0&max=1000"), &admin).await;
        assert_eq!(r.status, 200, "{list}: {r:?}");
    }
}

/// serde reads a struct from a JSON array as well: `[null, null]` made a personal token (schemathesis's ST201).
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let s = server().await;
    let admin = admin_token(&s).await;
    for path in ["tokens", "users", "clients", "tokens/info"] {
        for body in [
            json!([null, null]),
            json!([]),
            json!("x"),
            json!(1),
            json!(null),
        ] {
            let r = apost(&s, path, &admin, body.clone()).await;
            r.assert_error(400, "invalid_request");
            assert!(
                r.json["error_description"]
                    .as_str()
                    .is_some_and(|d| d.contains("JSON object")),
                "{path} {body}: {r:?}"
            );
        }
    }
    let r = call(
        reqwest::Method::PUT,
        &admin_url(&s, "aiod", "users/alice/roles"),
        &admin,
        Some(json!([["admin"]])),
    )
    .await;
    r.assert_error(400, "invalid_request");
    // Nothing was made by the refused requests: alice's one token is the only one.
    let tokens = aget(&s, "tokens", &admin).await;
    assert_eq!(tokens.json.as_array().unwrap().len(), 1, "{tokens:?}");
}

/// Deleting yourself is refused with 400, which the document lists.
#[tokio::test]
async fn deleting_yourself_is_a_documented_400() {
    let s = server().await;
    let admin = admin_token(&s).await;
    adelete(&s, "users/alice", &admin)
        .await
        .assert_error(400, "invalid_request");
    let doc = get(&format!("{}/openapi.json", s.url)).await.json;
    assert!(
        doc["paths"]["/admin/realms/{realm}/users/{id}"]["delete"]["responses"]["400"].is_object()
    );
}
