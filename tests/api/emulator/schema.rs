//! Every body shape the emulator answers with, checked against Twilio's OpenAPI spec by a
//! JSON-schema validator (not by eye), and against the key order of Twilio's own examples.
//!
//! The spec is OpenAPI 3.0, whose `nullable: true` is not JSON Schema: [`json_schema`]
//! rewrites it (`type: X` → `type: [X, "null"]`, a `$ref` → `anyOf [$ref, null]`). The spec
//! has no schema for errors; [`error_schema`] writes down Twilio's documented error body.

use flexroute::twilio::types::{ErrorBody, FlexFlow, FlexFlowPage};
use jsonschema::Validator;
use serde_json::{Value, json};

use super::shape::Shape;
use super::{Upstream, every_parameter};

const SPEC: &str = reference!("twilio_flex_v1.json");

/// OpenAPI 3.0 → JSON Schema 2020-12: `nullable` as types, `#/components/schemas/` as `$defs`.
fn json_schema(openapi: &Value) -> Value {
    match openapi {
        Value::Object(map) => {
            let nullable = map.get("nullable") == Some(&Value::Bool(true));
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, v)| !(k.as_str() == "nullable" && v.is_boolean()))
                .map(|(k, v)| (k.clone(), json_schema(v)))
                .collect();
            if let Some(Value::String(reference)) = out.get_mut("$ref") {
                *reference = reference.replace("#/components/schemas/", "#/$defs/");
            }
            if nullable {
                if let Some(Value::String(kind)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([kind, "null"]));
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
                if let Some(reference) = out.remove("$ref") {
                    out.insert(
                        "anyOf".into(),
                        json!([{ "$ref": reference }, { "type": "null" }]),
                    );
                }
                // `nullable` without `type` or `$ref` (e.g. `integration`) already admits null.
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

/// A validator for `schema` (an OpenAPI schema of the spec) with the spec's components.
fn validator(schema: &Value) -> Validator {
    validator_in(SPEC, schema)
}

/// A validator for `schema`, an OpenAPI schema of the spec `spec` (its text), with that spec's
/// components.
pub(super) fn validator_in(spec: &str, schema: &Value) -> Validator {
    let spec: Value = serde_json::from_str(spec).unwrap();
    let mut root = json_schema(schema);
    root["$defs"] = json_schema(&spec["components"]["schemas"]);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap()
}

fn flow_validator() -> Validator {
    validator(&json!({ "$ref": "#/components/schemas/flex.v1.flex_flow" }))
}

/// `ListFlexFlowResponse`: the schema of `GET /v1/FlexFlows`' 200 answer.
fn list_validator() -> Validator {
    let spec: Value = serde_json::from_str(SPEC).unwrap();
    let ok = &spec["paths"]["/v1/FlexFlows"]["get"]["responses"]["200"];
    let schema = &ok["content"]["application/json"]["schema"];
    assert_eq!(schema["title"], "ListFlexFlowResponse");
    validator(schema)
}

/// Twilio's error body (the spec defines none): exactly these four fields.
pub(super) fn error_schema() -> Validator {
    let schema = json!({
        "type": "object",
        "required": ["code", "message", "more_info", "status"],
        "additionalProperties": false,
        "properties": {
            "code": { "type": "integer", "minimum": 10000 },
            "message": { "type": "string", "minLength": 1 },
            "more_info": {
                "type": "string",
                "format": "uri",
                "pattern": "^https://www\\.twilio\\.com/docs/errors/[0-9]+$"
            },
            "status": { "type": "integer", "minimum": 400, "maximum": 599 }
        }
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

pub(super) fn assert_valid(validator: &Validator, body: &Value, what: &str) {
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{what} breaks the spec: {errors:?}\n{body:#}"
    );
}

#[test]
fn the_converted_spec_accepts_twilios_examples_and_catches_broken_bodies() {
    let (flows, lists, errors) = (flow_validator(), list_validator(), error_schema());
    let example = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let flow = example(reference!("examples/flex_flow_create_201.json"));
    assert_valid(&flows, &flow, "flex_flow_create_201.json");
    assert_valid(
        &flows,
        &example(reference!("examples/flex_flow_fetch.json")),
        "fetch",
    );
    let page = example(reference!("examples/flex_flow_list_page.json"));
    assert_valid(&lists, &page, "flex_flow_list_page.json");
    assert_valid(
        &lists,
        &example(reference!("examples/flex_flow_list_empty.json")),
        "empty",
    );
    let error = example(reference!("examples/error_400_twilio_go_test.json"));
    assert_valid(&errors, &error, "error_400_twilio_go_test.json");
    // Nullable fields as the emulator may send them.
    let nulls = json!({
        "sid": flow["sid"], "contact_identity": null, "integration": null, "enabled": null
    });
    assert_valid(&flows, &nulls, "a flow with nulls");

    // The validator can fail: each of these breaks one rule of the spec.
    let broken = |mut body: Value, pointer: &str, value: Value| {
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    for (body, why) in [
        (broken(flow.clone(), "/sid", json!("XX123")), "sid pattern"),
        (
            broken(flow.clone(), "/account_sid", json!("ACxyz")),
            "account_sid pattern",
        ),
        (
            broken(flow.clone(), "/channel_type", json!("email")),
            "channel_type enum",
        ),
        (
            broken(flow.clone(), "/channel_type", Value::Null),
            "channel_type is not nullable",
        ),
        (
            broken(flow.clone(), "/enabled", json!("true")),
            "enabled is a boolean",
        ),
        (
            broken(flow.clone(), "/date_created", json!("yesterday")),
            "date-time format",
        ),
        (
            broken(flow.clone(), "/url", json!("/v1/FlexFlows/FO1")),
            "url is absolute",
        ),
    ] {
        assert!(!flows.is_valid(&body), "accepted a broken flow ({why})");
    }
    assert!(!lists.is_valid(&broken(page.clone(), "/meta/page", json!("0"))));
    assert!(!lists.is_valid(&broken(page.clone(), "/flex_flows/0/sid", json!("XX123"))));
    assert!(!lists.is_valid(&broken(page, "/meta/next_page_url", json!(5))));
    assert!(!errors.is_valid(&json!({ "code": 20001, "message": "Bad request", "status": 400 })));
}

#[tokio::test]
async fn every_body_the_emulator_sends_validates_against_the_spec() {
    let upstream = Upstream::start().await;
    let (flows, lists, errors) = (flow_validator(), list_validator(), error_schema());
    let flow_keys = Shape::of(reference!("examples/flex_flow_create_201.json"))
        .keys()
        .join(",");
    let example_page = Shape::of(reference!("examples/flex_flow_list_page.json"));
    let error_keys = Shape::of(reference!("examples/error_400_twilio_go_test.json"))
        .keys()
        .join(",");

    let form = every_parameter().to_form();
    let full = upstream
        .request(reqwest::Method::POST, "/v1/FlexFlows")
        .form(&form);
    let created = full.send().await.unwrap().text().await.unwrap();
    let sid = serde_json::from_str::<FlexFlow>(&created).unwrap().sid;
    let path = format!("/v1/FlexFlows/{sid}");
    for n in 0..3 {
        upstream.create(&format!("minimal {n}")).await;
    }
    let update = [("Enabled", "false"), ("IntegrationType", "external")];
    let bodies = [
        created,
        upstream
            .get(&path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        upstream
            .post(&path, &update)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    ];
    for body in &bodies {
        assert_valid(&flows, &serde_json::from_str(body).unwrap(), "a flow");
        assert_eq!(Shape::of(body).keys().join(","), flow_keys, "{body}");
        serde_json::from_str::<FlexFlow>(body).unwrap();
    }

    let mut pages = Vec::new();
    let mut next = Some(upstream.url("/v1/FlexFlows?PageSize=2"));
    while let Some(url) = next {
        let request = upstream
            .client
            .get(&url)
            .basic_auth(super::ACCOUNT_SID, Some(super::AUTH_TOKEN));
        let body = request.send().await.unwrap().text().await.unwrap();
        next = serde_json::from_str::<FlexFlowPage>(&body)
            .unwrap()
            .meta
            .next_page_url;
        pages.push(body);
    }
    assert_eq!(pages.len(), 2);
    for query in ["?FriendlyName=minimal%201", "?FriendlyName=nobody", ""] {
        let body = upstream
            .get(&format!("/v1/FlexFlows{query}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        pages.push(body);
    }
    for body in &pages {
        assert_valid(&lists, &serde_json::from_str(body).unwrap(), "a list page");
        let shape = Shape::of(body);
        assert_eq!(shape.keys(), example_page.keys(), "{body}");
        assert_eq!(
            shape.field("meta").keys(),
            example_page.field("meta").keys(),
            "{body}"
        );
        if let Shape::Array(items) = shape.field("flex_flows") {
            assert!(
                items.iter().all(|item| item.keys().join(",") == flow_keys),
                "{body}"
            );
        }
        serde_json::from_str::<FlexFlowPage>(body).unwrap();
    }

    upstream.emulator.switches().fail_next(1, 429);
    let mut failures = vec![upstream.get("/v1/FlexFlows").send().await.unwrap()];
    upstream.emulator.switches().fail_next(1, 500);
    failures.push(upstream.get(&path).send().await.unwrap());
    failures.push(
        upstream
            .client
            .get(upstream.url("/v1/FlexFlows"))
            .send()
            .await
            .unwrap(),
    );
    failures.push(
        upstream
            .post("/v1/FlexFlows", &[("FriendlyName", "x")])
            .send()
            .await
            .unwrap(),
    );
    failures.push(
        upstream
            .get("/v1/FlexFlows?PageSize=1001")
            .send()
            .await
            .unwrap(),
    );
    failures.push(
        upstream
            .get("/v1/FlexFlows/FO00000000000000000000000000000000")
            .send()
            .await
            .unwrap(),
    );
    failures.push(upstream.get("/v1/Nothing").send().await.unwrap());
    failures.push(
        upstream
            .request(reqwest::Method::PATCH, &path)
            .send()
            .await
            .unwrap(),
    );
    let mut statuses = Vec::new();
    for response in failures {
        statuses.push(response.status().as_u16());
        let body = response.text().await.unwrap();
        assert_valid(&errors, &serde_json::from_str(&body).unwrap(), "an error");
        assert_eq!(Shape::of(&body).keys().join(","), error_keys, "{body}");
        serde_json::from_str::<ErrorBody>(&body).unwrap();
    }
    assert_eq!(statuses, [429, 500, 401, 400, 400, 404, 404, 405]);
    upstream.stop().await;
}
