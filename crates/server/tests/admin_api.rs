//! The admin API, API tokens and the audit log over HTTP (issue 4): the seed-002 walk-through from the admin's
//! side, lifespan and scope limits, checksum typos, scoped tokens, paging, the OpenAPI document and the base path.
//! Non-admins, realms kept apart and user deletion are in admin_access.rs; roles, bot clients, audit retention and
//! the master realm in admin_roles_clients.rs.

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use keyport_server::clock::Clock;
use serde_json::json;

#[tokio::test]
async fn seed_walkthrough_from_the_admin_side() {
    capture_logs();
    let s = server().await;
    let admin = admin_token(&s).await;
    assert!(admin.starts_with("kp_") && admin.len() == 52, "{admin}");

    // create_user: a machine user with a generated id and email, activated.
    let user = machine_user(&s, &admin, "demo-user").await;
    assert_eq!(user["username"], "demo-user");
    assert_eq!(user["user_type"], "machine");
    let email = user["email"].as_str().unwrap();
    assert!(email.ends_with("@aiod.keyport"), "{email}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    assert!(captured_log().contains(&format!(
        "Machine user demo-user({email}) created by alice@example.org"
    )));

    // create_token(user_id=user_name, scopes=[...]): the token once, with its id, user id, email and scopes.
    let created = scoped_token(
        &s,
        &admin,
        "demo-user",
        &["create_session", "read_user_session"],
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let token_id = created["token_id"].as_str().unwrap().to_owned();
    assert_eq!(created["user_id"], user_id.as_str());
    assert_eq!(created["email"], email);
    assert_eq!(
        created["scopes"],
        json!(["create_session", "read_user_session"])
    );
    let lifespan =
        created["expires_at"].as_i64().unwrap() - created["created_at"].as_i64().unwrap();
    assert_eq!(lifespan, 30 * 86400, "default lifespan is 30 days");

    // token_info.
    let info = apost(&s, "tokens/info", &admin, json!({"token": token})).await;
    assert_eq!(info.status, 200, "{info:?}");
    let i = &info.json;
    for key in [
        "customer",
        "email",
        "realm",
        "role",
        "env",
        "token_id",
        "iss",
        "iat",
        "renewable",
        "scope",
        "user_id",
        "user_type",
        "active",
        "exp",
    ] {
        assert!(i.get(key).is_some(), "token_info lacks `{key}`: {i}");
    }
    assert_eq!(i["active"], true);
    assert_eq!(i["token_id"], token_id.as_str());
    assert_eq!(i["user_id"], "demo-user");
    assert_eq!(i["sub"], user_id.as_str());
    assert_eq!(i["user_type"], "generated");
    assert_eq!(i["role"], "user");
    assert_eq!(i["realm"], "aiod");
    assert_eq!(i["env"], "prod");
    assert_eq!(i["scope"], "create_session read_user_session");
    assert_eq!(i["iss"], s.issuer("aiod"));

    // The token works as a bearer token at userinfo and RFC 7662 introspection answers for it.
    let me = get_bearer(&s.endpoint("aiod", "userinfo"), &token).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json["sub"], user_id.as_str());
    assert_eq!(me.json["preferred_username"], "demo-user");
    let intro = introspect(&s, "aiod", RS, &token).await;
    assert_eq!(
        intro.json,
        json!({
            "active": true, "scope": "create_session read_user_session", "username": "demo-user",
            "token_type": "api_token", "exp": created["expires_at"], "iat": created["created_at"],
            "sub": user_id, "iss": s.issuer("aiod"), "jti": token_id, "typ": "API-Token",
            "preferred_username": "demo-user", "email": email, "realm_access": {"roles": user["roles"]},
        }),
        "the whole answer, every field"
    );
    // A token of realm aiod is nothing in realm other.
    let other = introspect(
        &s,
        "other",
        ("resource-server", "other-resource-secret-0123456789-abcdef"),
        &token,
    )
    .await;
    assert_eq!(other.json, json!({"active": false}));

    // The list shows it without the secret, with its last use.
    let list = aget(&s, "tokens", &admin).await;
    assert_eq!(list.status, 200);
    let row = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_id"] == token_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["username"], "demo-user");
    assert_eq!(row["unscoped"], false);
    assert!(row["last_used_at"].is_i64(), "{row}");
    assert!(!list.json.to_string().contains(&token));
    assert!(!list.json.to_string().contains(&admin));

    // revoke_token(token_id): refused at once everywhere (the uses above put the token in the server's cache,
    // which the revocation empties before it answers).
    assert_eq!(
        adelete(&s, &format!("tokens/{token_id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        introspect(&s, "aiod", RS, &token).await.json,
        json!({"active": false})
    );
    get_bearer(&s.endpoint("aiod", "userinfo"), &token)
        .await
        .assert_error(401, "invalid_token");
    aget(&s, "tokens", &token)
        .await
        .assert_error(401, "invalid_token");
    let after = apost(&s, "tokens/info", &admin, json!({"token": token})).await;
    assert_eq!(after.json, json!({"active": false}));
    // Revoking twice is fine.
    assert_eq!(
        adelete(&s, &format!("tokens/{token_id}"), &admin)
            .await
            .status,
        204
    );

    // delete_user: the user and every token of theirs are gone.
    let second = scoped_token(&s, &admin, &user_id, &["cli"]).await;
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_eq!(adelete(&s, "users/demo-user", &admin).await.status, 204);
    assert_eq!(
        introspect(&s, "aiod", RS, &second_token).await.json["active"],
        false
    );
    aget(&s, "users/demo-user", &admin)
        .await
        .assert_error(404, "not_found");
    adelete(&s, "users/demo-user", &admin)
        .await
        .assert_error(404, "not_found");

    // Every step is in the audit log, newest first, with ids and never a secret.
    let entries = audit(&s, &admin, "").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "token.create",
        "user.create",
        "token.info",
        "token.use",
        "token.introspect",
        "token.revoke",
        "user.delete",
    ] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    let times: Vec<i64> = entries
        .iter()
        .map(|e| e["time"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(actions[0], "user.delete", "{actions:?}");
    let revoke = entries
        .iter()
        .find(|e| e["action"] == "token.revoke")
        .unwrap();
    assert_eq!(revoke["target"], token_id.as_str());
    assert_eq!(revoke["outcome"], "success");
    assert_eq!(revoke["realm"], "aiod");
    // A use is written from the token and its user: the user acts, the token is both the token and the target.
    for (action, detail) in [("token.introspect", None), ("token.use", Some("userinfo"))] {
        let used = entries
            .iter()
            .find(|e| e["action"] == action && e["token_id"] == token_id.as_str())
            .unwrap_or_else(|| panic!("no {action} of the token in {entries:?}"));
        assert_eq!(used["actor_user_id"], user_id.as_str(), "{action}");
        assert_eq!(used["target"], token_id.as_str(), "{action}");
        assert_eq!(used["realm"], "aiod", "{action}");
        assert_eq!(used["outcome"], "success", "{action}");
        assert_eq!(used["detail"].as_str(), detail, "{action}");
    }
    let by_token = audit(&s, &admin, &format!("token_id={token_id}")).await;
    assert!(!by_token.is_empty());
    assert!(by_token.iter().all(|e| e["token_id"] == token_id.as_str()));
    let deletes = audit(&s, &admin, "action=user.delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["target"], user_id.as_str());

    // Nothing secret in the audit log, nor in anything the server logged.
    let all = audit(&s, &admin, "max=1000").await;
    let text = serde_json::to_string(&all).unwrap();
    let log = captured_log();
    assert!(
        log.contains("token.create") || log.contains("API token created"),
        "the log was captured"
    );
    // The JSON form (`KEYPORT_LOG_FORMAT=json`) of the same events: one object per line, and the lines written
    // while a request ran carry its id.
    let json_log = captured_json_log();
    let lines: Vec<serde_json::Value> = json_log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "finished" && l["spans"][0]["request_id"].is_string()),
        "request lines carry the request id"
    );
    for secret in [&token, &second_token, &admin] {
        assert!(
            !text.contains(secret.as_str()),
            "a token leaked into the audit log"
        );
        for (form, log) in [("text", &log), ("JSON", &json_log)] {
            assert!(
                !log.contains(secret.as_str()),
                "a token leaked into the server's {form} log"
            );
            // Not even a recognisable piece of it.
            assert!(
                !log.contains(&secret[3..20]),
                "part of a token leaked into the server's {form} log"
            );
        }
    }
}

#[tokio::test]
async fn lifespans_scopes_and_names_are_checked() {
    let s = server().await;
    let admin = admin_token(&s).await;
    machine_user(&s, &admin, "bot-1").await;
    let create = |body| apost(&s, "tokens", &admin, body);

    let r = create(json!({"user_id": "bot-1", "scopes": ["cli"], "lifespan_days": 31})).await;
    r.assert_error(400, "invalid_request");
    assert!(
        r.str("error_description").contains("maximum of 30 days"),
        "{r:?}"
    );
    create(json!({"user_id": "bot-1", "scopes": ["cli"], "lifespan_days": 0}))
        .await
        .assert_error(400, "invalid_request");
    let ok = create(json!({"user_id": "bot-1", "scopes": ["cli"], "lifespan_days": 7})).await;
    assert_eq!(ok.status, 201);
    assert_eq!(
        ok.json["expires_at"].as_i64().unwrap() - ok.json["created_at"].as_i64().unwrap(),
        7 * 86400
    );

    let r = create(json!({"user_id": "bot-1", "scopes": ["cli", "delete_everything"]})).await;
    r.assert_error(400, "invalid_scope");
    assert!(
        r.str("error_description").contains("delete_everything"),
        "{r:?}"
    );
    create(json!({"user_id": "bot-1", "scopes": []}))
        .await
        .assert_error(400, "invalid_scope");
    create(json!({"user_id": "nobody", "scopes": ["cli"]}))
        .await
        .assert_error(404, "not_found");
    create(json!({"name": ""}))
        .await
        .assert_error(400, "invalid_request");
    create(json!({"name": "x".repeat(101)}))
        .await
        .assert_error(400, "invalid_request");
    // Personal tokens are bounded too.
    create(json!({"name": "long", "lifespan_days": 365}))
        .await
        .assert_error(400, "invalid_request");

    // The catalogue is listed.
    let scopes = aget(&s, "scopes", &admin).await;
    let names: Vec<&str> = scopes
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&"read_all_session") && names.contains(&"revoke_user_token"));

    // Usernames are validated; a taken one is a conflict.
    for bad in ["", "has space", "slash/es", &"x".repeat(65)] {
        apost(
            &s,
            "users",
            &admin,
            json!({"username": bad, "machine": true}),
        )
        .await
        .assert_error(400, "invalid_request");
    }
    apost(
        &s,
        "users",
        &admin,
        json!({"username": "bot-1", "machine": true}),
    )
    .await
    .assert_error(409, "invalid_request");
    // Malformed bodies are JSON errors.
    let raw = http()
        .post(admin_url(&s, "aiod", "users"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    Reply::from(raw).await.assert_error(400, "invalid_request");
    let form = http()
        .post(admin_url(&s, "aiod", "users"))
        .bearer_auth(&admin)
        .form(&[("username", "x")])
        .send()
        .await
        .unwrap();
    Reply::from(form).await.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_checksum_typo_is_rejected_before_any_lookup() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let mut typo = admin.clone().into_bytes();
    typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let r = aget(&s, "tokens", &typo).await;
    r.assert_error(401, "invalid_token");
    assert!(r.str("error_description").contains("checksum"), "{r:?}");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let truncated = &admin[..40];
    aget(&s, "tokens", truncated)
        .await
        .assert_error(401, "invalid_token");
    get_bearer(&s.endpoint("aiod", "userinfo"), &typo)
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(
        introspect(&s, "aiod", RS, &typo).await.json,
        json!({"active": false})
    );
    // A malformed token never reached the store: no audit entry about it.
    let failures = audit(&s, &admin, "action=token.use").await;
    assert!(
        failures.iter().all(|e| e["outcome"] != "failure"),
        "{failures:?}"
    );
    // A well-formed but unknown token is looked up and refused. Like every failed presentation it is counted in
    // memory, not written one row per try (issue 11, item 3: tests/anonymous_cost.rs): once the minute is over,
    // the minute's five failures are one summary row.
    let unknown = admin_token(&server().await).await;
    let r = aget(&s, "tokens", &unknown).await;
    r.assert_error(401, "invalid_token");
    assert!(!r.str("error_description").contains("checksum"), "{r:?}");
    let failures = audit(&s, &admin, "action=token.use").await;
    assert!(
        failures.iter().all(|e| e["outcome"] != "failure"),
        "{failures:?}"
    );
    s.clock.advance(60);
    let failures: Vec<_> = audit(&s, &admin, "action=token.use")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0]["detail"],
        "5 failed API-token presentations in one minute, from 1 client address"
    );
}

#[tokio::test]
async fn scoped_tokens_and_revoke_user_token() {
    let s = server().await;
    let admin = admin_token(&s).await;
    machine_user(&s, &admin, "runner").await;
    machine_user(&s, &admin, "other-runner").await;
    let with_revoke = scoped_token(&s, &admin, "runner", &["revoke_user_token", "cli"]).await;
    let without = scoped_token(&s, &admin, "runner", &["cli"]).await;
    let someone_elses = scoped_token(&s, &admin, "other-runner", &["cli"]).await;
    let revoker = with_revoke["token"].as_str().unwrap();
    let plain = without["token"].as_str().unwrap();

    // A scoped token is not an admin, whatever its scopes.
    apost(
        &s,
        "users",
        revoker,
        json!({"username": "x", "machine": true}),
    )
    .await
    .assert_error(403, "access_denied");
    apost(&s, "tokens", revoker, json!({"name": "mine"}))
        .await
        .assert_error(403, "access_denied");
    // Without revoke_user_token it cannot revoke, not even its own user's tokens.
    let id = with_revoke["token_id"].as_str().unwrap();
    adelete(&s, &format!("tokens/{id}"), plain)
        .await
        .assert_error(403, "access_denied");
    // With it: only tokens of its own user, not other users'.
    let other_id = someone_elses["token_id"].as_str().unwrap();
    adelete(&s, &format!("tokens/{other_id}"), revoker)
        .await
        .assert_error(403, "access_denied");
    let own_id = without["token_id"].as_str().unwrap();
    assert_eq!(
        adelete(&s, &format!("tokens/{own_id}"), revoker)
            .await
            .status,
        204
    );
    assert_eq!(
        introspect(&s, "aiod", RS, plain).await.json["active"],
        false
    );
    // Inspecting a token is not using it.
    let other_token = someone_elses["token"].as_str().unwrap();
    assert_eq!(
        apost(&s, "tokens/info", &admin, json!({"token": other_token}))
            .await
            .json["active"],
        true
    );
    let list = aget(&s, "tokens", &admin).await;
    let row = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_id"] == other_id)
        .unwrap()
        .clone();
    assert!(row["last_used_at"].is_null(), "{row}");
    // The machine user may inspect its own token.
    let info = apost(&s, "tokens/info", revoker, json!({"token": revoker})).await;
    assert_eq!(info.json["scope"], "cli revoke_user_token");
}

#[tokio::test]
async fn expiry_and_lists_are_paged() {
    let s = server().await;
    let admin = admin_token(&s).await;
    for i in 0..5 {
        machine_user(&s, &admin, &format!("m{i}")).await;
    }
    let all = aget(&s, "users", &admin).await;
    // alice, bob, m0..m4
    assert_eq!(all.json.as_array().unwrap().len(), 7, "{all:?}");
    let page = aget(&s, "users?first=2&max=3", &admin).await;
    let names: Vec<&str> = page
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["m0", "m1", "m2"]);
    aget(&s, "users?max=0", &admin)
        .await
        .assert_error(400, "invalid_request");
    aget(&s, "users?max=1001", &admin)
        .await
        .assert_error(400, "invalid_request");
    aget(&s, "users?first=-1", &admin)
        .await
        .assert_error(400, "invalid_request");
    aget(&s, "users?bogus=1", &admin)
        .await
        .assert_error(400, "invalid_request");
    assert_eq!(
        aget(&s, "audit?max=2", &admin)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let t0 = s.clock.now();
    let since = audit(&s, &admin, &format!("since={}", t0 + 1)).await;
    assert!(since.is_empty(), "{since:?}");

    // A token expires with the clock.
    let short = apost(
        &s,
        "tokens",
        &admin,
        json!({"user_id": "m0", "scopes": ["cli"], "lifespan_days": 1}),
    )
    .await;
    let token = short.str("token");
    assert_eq!(
        introspect(&s, "aiod", RS, &token).await.json["active"],
        true
    );
    s.clock.advance(86400);
    assert_eq!(
        introspect(&s, "aiod", RS, &token).await.json["active"],
        false
    );
    let until = audit(&s, &admin, &format!("until={t0}&action=user.create")).await;
    assert_eq!(until.len(), 5);
}

#[tokio::test]
async fn the_openapi_document_describes_the_admin_api() {
    let s = server().await;
    let doc = get(&format!("{}/openapi.json", s.url)).await;
    assert_eq!(doc.status, 200, "{doc:?}");
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.json["paths"].as_object().unwrap();
    for p in [
        "/admin/realms/{realm}/users",
        "/admin/realms/{realm}/users/{id}",
        "/admin/realms/{realm}/tokens",
        "/admin/realms/{realm}/tokens/info",
        "/admin/realms/{realm}/tokens/{token_id}",
        "/admin/realms/{realm}/audit",
        "/admin/realms/{realm}/scopes",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(paths["/admin/realms/{realm}/tokens"]["post"].is_object());
    let schemas = doc.json["components"]["schemas"].as_object().unwrap();
    for name in [
        "CreatedToken",
        "TokenInfo",
        "AuditEntry",
        "UserRepresentation",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    assert_eq!(doc.json["servers"][0]["url"], s.url.as_str());
    assert_eq!(
        doc.json["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_admin_api_lives_under_the_base_path() {
    let s =
        keyport_testkit::TestServer::start(&format!("[server]\nbase_path = \"/auth\"\n{CONFIG}"))
            .await;
    assert!(s.url.ends_with("/auth"));
    let admin = admin_token(&s).await;
    assert_eq!(aget(&s, "users", &admin).await.status, 200);
    assert_eq!(get(&format!("{}/openapi.json", s.url)).await.status, 200);
}
