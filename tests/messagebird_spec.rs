//! Every MessageBird request checked against the spec (`tests/fixtures/specs/messagebird.json`,
//! a copy of the shared spec): the fields the Verify client and the SMS sender put on the
//! wire are the spec's, with its required ones, types and enums; the fake accepts exactly the
//! spec's fields and refuses a request missing a required one or carrying one the spec does
//! not define; its answers have the spec's shapes.

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::messagebird::{
    CHECK_QUERY, FakeMessageBird, FakeMessageBirdConfig, MESSAGE_FIELDS, MESSAGE_REQUIRED,
    VERIFY_FIELDS, VERIFY_REQUIRED,
};
use bridgekeeper::verify::messagebird::{MessageBirdVerify, MessageBirdVerifyConfig};
use bridgekeeper::verify::sender::messagebird::{MessageBirdMessages, MessageBirdMessagesConfig};
use bridgekeeper::verify::{Channel, Courier, Delivery, Verifier};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const KEY: &str = "spec-test-access-key";
const ADA: &str = "+15551230001";

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/specs/messagebird.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the spec file"))
        .expect("the spec is JSON")
}

fn schema<'a>(spec: &'a Value, name: &str) -> &'a Value {
    let schema = &spec["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    schema
}

fn names(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().expect("a name").to_owned())
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// The query parameters the spec defines for an operation.
fn query_parameters(spec: &Value, path: &str, method: &str) -> BTreeSet<String> {
    spec["paths"][path][method]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether a value has one of the JSON types a spec property allows.
fn has_type(property: &Value, value: &Value) -> bool {
    if let Some(variants) = property["oneOf"].as_array() {
        return variants.iter().any(|v| has_type(v, value));
    }
    let types: Vec<&str> = match &property["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types.iter().any(|t| match *t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        "array" => value
            .as_array()
            .is_some_and(|items| items.iter().all(|i| has_type(&property["items"], i))),
        _ => false,
    })
}

/// Checks a request body against a request schema: only its properties, of their types and
/// enums, with its required ones.
fn conforms(schema: &Value, body: &Value) -> Result<(), String> {
    let object = body.as_object().ok_or("the body is not an object")?;
    for (name, value) in object {
        let property = schema["properties"]
            .get(name)
            .ok_or_else(|| format!("{name} is not in the spec"))?;
        if !has_type(property, value) {
            return Err(format!("{name} = {value} is not of the spec's type"));
        }
        if let Some(allowed) = property["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{name} = {value} is not one of {allowed:?}"));
        }
    }
    for name in names(&schema["required"]) {
        if !object.contains_key(&name) {
            return Err(format!("the required {name} is missing"));
        }
    }
    Ok(())
}

/// Checks an answer against a response schema's properties (or, without them, its example's
/// keys).
fn answer_conforms(schema: &Value, answer: &Value) -> Result<(), String> {
    let object = answer.as_object().ok_or("the answer is not an object")?;
    let known = if schema["properties"].is_object() {
        names(&schema["properties"])
    } else {
        names(&schema["example"])
    };
    for (name, value) in object {
        if !known.contains(name) {
            return Err(format!("{name} is not in the spec's answer"));
        }
        if let Some(property) = schema["properties"].get(name) {
            if !has_type(property, value) {
                return Err(format!("{name} = {value} is not of the spec's type"));
            }
            if let Some(allowed) = property["enum"].as_array()
                && !allowed.contains(value)
            {
                return Err(format!("{name} = {value} is not one of {allowed:?}"));
            }
        }
    }
    Ok(())
}

async fn start_fake() -> FakeMessageBird {
    FakeMessageBird::start(FakeMessageBirdConfig {
        access_key: KEY.to_owned(),
        // Many sends to one number here: the limits would hide the answers checked.
        limits: false,
        ..FakeMessageBirdConfig::default()
    })
    .await
    .expect("the fake starts")
}

/// Posts raw JSON to the fake with the right access key.
async fn post(fake: &FakeMessageBird, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(fake.base().join(path).unwrap())
        .header("Authorization", format!("AccessKey {KEY}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(fake: &FakeMessageBird, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(fake.base().join(path_and_query).unwrap())
        .header("Authorization", format!("AccessKey {KEY}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[test]
fn the_fake_knows_exactly_the_spec_fields() {
    let spec = spec();
    let verify = schema(&spec, "VerifyCreate");
    let message = schema(&spec, "MessageCreate");
    assert_eq!(set(VERIFY_FIELDS), names(&verify["properties"]));
    assert_eq!(set(VERIFY_REQUIRED), names(&verify["required"]));
    assert_eq!(set(MESSAGE_FIELDS), names(&message["properties"]));
    assert_eq!(set(MESSAGE_REQUIRED), names(&message["required"]));
    assert_eq!(
        set(CHECK_QUERY),
        query_parameters(&spec, "/verify/{id}", "get")
    );
    // The authentication the fake checks is the spec's.
    let scheme = &spec["components"]["securitySchemes"]["AccessKey"];
    assert_eq!(
        (&scheme["in"], &scheme["name"]),
        (&json!("header"), &json!("Authorization"))
    );
}

#[tokio::test]
async fn every_request_the_clients_send_is_the_specs() {
    let spec = spec();
    let fake = start_fake().await;
    let client = MessageBirdVerify::new(MessageBirdVerifyConfig {
        base_url: fake.base().clone(),
        access_key: SecretString::from(KEY),
        originator: Some("Bridge".to_owned()),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let bare = MessageBirdVerify::new(MessageBirdVerifyConfig {
        originator: None,
        ..MessageBirdVerifyConfig::new(SecretString::from(KEY))
    })
    .unwrap();
    let sender = MessageBirdMessages::new(MessageBirdMessagesConfig {
        base_url: fake.base().clone(),
        access_key: SecretString::from(KEY),
        originator: "Bridge".to_owned(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let to = PhoneNumber::parse(ADA).unwrap();
    for channel in Channel::ALL {
        let delivery = Delivery {
            to: &to,
            channel,
            conference: "Board",
        };
        let receipt = client.send(&delivery, None).await.unwrap();
        let code = Code::parse(fake.sent_codes(ADA).last().unwrap()).unwrap();
        client.check(&to, &code, Some(&receipt)).await.unwrap();
        // Without an originator, the body is the spec's too.
        conforms(
            schema(&spec, "VerifyCreate"),
            &bare.create_body(&to, channel),
        )
        .unwrap();
    }
    let text = "482913 is your code for Board.";
    sender
        .deliver(&to, text, &Code::parse("482913").unwrap(), Channel::Sms)
        .await
        .unwrap();

    let requests = fake.control().requests();
    assert_eq!(requests.len(), 5);
    for r in &requests {
        assert!(r.auth_ok, "{r:?}");
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            ("POST", ["verify"]) => {
                assert!(spec["paths"]["/verify"]["post"].is_object());
                let body: Value = serde_json::from_str(&r.body).unwrap();
                conforms(schema(&spec, "VerifyCreate"), &body)
                    .unwrap_or_else(|e| panic!("POST /verify: {e}: {body}"));
            }
            ("GET", ["verify", id]) => {
                assert!(spec["paths"]["/verify/{id}"]["get"].is_object());
                assert!(!id.is_empty());
                let allowed = query_parameters(&spec, "/verify/{id}", "get");
                for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                    assert!(allowed.contains(name.as_ref()), "query {name}");
                    assert!(!value.is_empty());
                }
                assert!(r.body.is_empty());
            }
            ("POST", ["messages"]) => {
                assert!(spec["paths"]["/messages"]["post"].is_object());
                let body: Value = serde_json::from_str(&r.body).unwrap();
                conforms(schema(&spec, "MessageCreate"), &body)
                    .unwrap_or_else(|e| panic!("POST /messages: {e}: {body}"));
            }
            other => panic!("a request the spec does not define: {other:?}"),
        }
    }
}

/// A valid body for each endpoint, as the clients send it.
fn valid_verify() -> Value {
    json!({"recipient": "15551230001", "type": "sms", "template": "Code %token",
           "tokenLength": 6, "timeout": 600, "originator": "Bridge"})
}

fn valid_message() -> Value {
    json!({"originator": "Bridge", "recipients": ["15551230001"], "body": "482913 is your code"})
}

/// A value of a property's type (its first enum value when it has an enum).
fn sample(property: &Value) -> Value {
    if let Some(first) = property["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match property["type"].as_str() {
        Some("integer") => json!(6),
        Some("boolean") => json!(true),
        Some("object") => json!({}),
        Some("array") => json!(["15551230001"]),
        _ => json!("x"),
    }
}

#[tokio::test]
async fn the_fake_refuses_a_missing_required_field_or_one_the_spec_does_not_define() {
    let spec = spec();
    let fake = start_fake().await;
    for (path, schema_name, valid) in [
        ("/verify", "VerifyCreate", valid_verify()),
        ("/messages", "MessageCreate", valid_message()),
    ] {
        let schema = schema(&spec, schema_name);
        conforms(schema, &valid).unwrap();
        let (status, answer) = post(&fake, path, &valid).await;
        assert_eq!(status, 201, "{path}: {answer}");

        for name in names(&schema["required"]) {
            let mut body = valid.clone();
            body.as_object_mut().unwrap().remove(&name);
            let (status, answer) = post(&fake, path, &body).await;
            assert_eq!(status, 422, "{path} without {name}");
            assert_eq!(answer["errors"][0]["code"], 9, "{path} without {name}");
            assert_eq!(answer["errors"][0]["parameter"], json!(name));
        }

        let mut body = valid.clone();
        body["notInTheSpec"] = json!("x");
        let (status, answer) = post(&fake, path, &body).await;
        assert_eq!(status, 422, "{path}");
        assert_eq!(answer["errors"][0]["code"], 10);
        assert_eq!(answer["errors"][0]["parameter"], "notInTheSpec");

        // Every field the spec defines is a parameter the fake knows (it may still refuse a
        // value it does not support, but never as an unknown field).
        for (name, property) in schema["properties"].as_object().unwrap() {
            let mut body = valid.clone();
            body[name] = sample(property);
            let (status, answer) = post(&fake, path, &body).await;
            assert!(
                status == 201
                    || answer["errors"][0]["description"] != "not a parameter of this resource",
                "{path} {name}: {status} {answer}"
            );
        }
    }

    let (_, created) = post(&fake, "/verify", &valid_verify()).await;
    let id = created["id"].as_str().unwrap();
    let (status, answer) = get(&fake, &format!("/verify/{id}?token=000000&notInTheSpec=1")).await;
    assert_eq!((status, &answer["errors"][0]["code"]), (422, &json!(10)));
    assert_eq!(answer["errors"][0]["parameter"], "notInTheSpec");
}

#[tokio::test]
async fn the_fakes_answers_have_the_specs_shapes() {
    let spec = spec();
    let fake = start_fake().await;
    fake.fix_code(Some("482913"));
    let verify = schema(&spec, "Verify");
    let errors = schema(&spec, "Errors");

    let (status, created) = post(&fake, "/verify", &valid_verify()).await;
    assert_eq!(status, 201);
    answer_conforms(verify, &created).unwrap();
    let mut tts = valid_verify();
    tts["type"] = json!("tts");
    let (_, spoken) = post(&fake, "/verify", &tts).await;
    answer_conforms(verify, &spoken).unwrap();
    let id = spoken["id"].as_str().unwrap();

    let (status, wrong) = get(&fake, &format!("/verify/{id}?token=000000")).await;
    assert_eq!(status, 422);
    answer_conforms(errors, &wrong).unwrap();
    for error in wrong["errors"].as_array().unwrap() {
        answer_conforms(&errors["properties"]["errors"]["items"], error).unwrap();
    }
    let (status, verified) = get(&fake, &format!("/verify/{id}?token=482913")).await;
    assert_eq!((status, &verified["status"]), (200, &json!("verified")));
    answer_conforms(verify, &verified).unwrap();
    let (_, read) = get(
        &fake,
        &format!("/verify/{}", created["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read["status"], "failed");
    answer_conforms(verify, &read).unwrap();

    let (status, message) = post(&fake, "/messages", &valid_message()).await;
    assert_eq!(status, 201);
    answer_conforms(schema(&spec, "Message"), &message).unwrap();
    let example = &spec["components"]["schemas"]["Message"]["example"];
    assert_eq!(names(&message["recipients"]), names(&example["recipients"]));
    assert_eq!(
        names(&message["recipients"]["items"][0]),
        names(&example["recipients"]["items"][0])
    );

    let response = reqwest::Client::new()
        .post(fake.base().join("/verify").unwrap())
        .json(&valid_verify())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let unauthorized: Value = response.json().await.unwrap();
    answer_conforms(errors, &unauthorized).unwrap();
    assert_eq!(unauthorized["errors"][0]["code"], 2);
}
