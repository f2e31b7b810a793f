//! Each Telnyx request checked against Telnyx's own spec (`tests/fixtures/specs/
//! telnyx_verify.json`, `telnyx_messaging.json`, copied from `shared/specs`): every field the
//! Verify client and the messaging sender send is a property the spec defines for that
//! request body, with the spec's required ones present and of the spec's type; the fake
//! refuses a body missing a required field or carrying one the spec does not define, accepts
//! every property the spec defines (but `custom_code`), and answers in the spec's shapes.

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fakes::telnyx::{FakeTelnyx, FakeTelnyxConfig};
use bridgekeeper::verify::sender::telnyx::{TelnyxMessages, TelnyxMessagesConfig};
use bridgekeeper::verify::telnyx::{TelnyxVerify, TelnyxVerifyConfig};
use bridgekeeper::verify::{Channel, Courier, Delivery, Verifier};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "KEY01H8-spec-test-key";
const PROFILE: &str = "4b1d2c3e-5f60-4718-9a2b-3c4d5e6f7a8b";
const FROM: &str = "+15551239999";
const ADA: &str = "+15551230001";

const SMS: &str = "/verifications/sms";
const CALL: &str = "/verifications/call";
const CHECK: &str = "/verifications/by_phone_number/{phone_number}/actions/verify";
const MESSAGES: &str = "/messages";

fn spec(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/specs/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn verify_spec() -> Value {
    spec("telnyx_verify.json")
}

fn messaging_spec() -> Value {
    spec("telnyx_messaging.json")
}

/// Follows a local `$ref` (`#/components/schemas/X`), repeatedly.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} resolves")),
            )
        }
        None => value,
    }
}

/// The JSON schema of a `POST` request body.
fn request_schema<'a>(spec: &'a Value, template: &str) -> &'a Value {
    let op = &spec["paths"][template]["post"];
    assert!(op.is_object(), "the spec has POST {template}");
    resolve(
        spec,
        &op["requestBody"]["content"]["application/json"]["schema"],
    )
}

/// The JSON schema of a `POST`'s answer with this status (`200`, `400`, `4XX`).
fn response_schema<'a>(spec: &'a Value, template: &str, status: &str) -> &'a Value {
    let response = resolve(spec, &spec["paths"][template]["post"]["responses"][status]);
    resolve(spec, &response["content"]["application/json"]["schema"])
}

/// The spec's `POST` path for a path on the wire: `/v2` is the spec's server prefix; literal
/// segments win over `{parameters}`.
fn template_of(spec: &Value, wire: &str) -> String {
    let path = wire.strip_prefix("/v2").expect("under /v2");
    let segments: Vec<&str> = path.split('/').collect();
    let mut matches: Vec<(usize, &String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("post").is_some())
        .filter_map(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.starts_with('{') || p == s);
            fits.then(|| {
                (
                    parts.iter().filter(|p| p.starts_with('{')).count(),
                    template,
                )
            })
        })
        .collect();
    matches.sort();
    matches
        .first()
        .unwrap_or_else(|| panic!("no POST in the spec for {wire}"))
        .1
        .clone()
}

/// Whether a value is of the schema's `type` (a name or a list of names) and in its `enum`.
fn of_type(schema: &Value, value: &Value) -> bool {
    let fits = |name: &str| match name {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => false,
    };
    let typed = match &schema["type"] {
        Value::String(name) => fits(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(fits),
        _ => true,
    };
    let listed = schema["enum"]
        .as_array()
        .is_none_or(|values| values.contains(value));
    typed && listed
}

/// Checks a JSON object against an object schema: only its properties, its required ones,
/// each of its type. The errors, if any.
fn conforms(spec: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(object) = body.as_object() else {
        return vec![format!("{body} is not an object")];
    };
    let properties = schema["properties"].as_object().expect("properties");
    for (name, value) in object {
        match properties.get(name) {
            None => errors.push(format!("`{name}` is not a property the spec defines")),
            Some(property) => {
                if !of_type(resolve(spec, property), value) {
                    errors.push(format!("`{name}` = {value} is not of the spec's type"));
                }
            }
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            errors.push(format!("required `{name}` is missing"));
        }
    }
    errors
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

async fn fake(limits: bool) -> FakeTelnyx {
    FakeTelnyx::start(FakeTelnyxConfig {
        api_key: KEY.to_owned(),
        profile_id: PROFILE.to_owned(),
        limits,
        fixed_code: Some("482913".to_owned()),
        ..FakeTelnyxConfig::default()
    })
    .await
    .expect("the fake starts")
}

async fn post(fake: &FakeTelnyx, wire: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(fake.base().join(wire).unwrap())
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn bearer_is_the_specs_scheme(spec: &Value) {
    assert!(spec["security"][0].get("bearerAuth").is_some());
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_verify_client_sends_only_what_the_spec_defines() {
    let spec = verify_spec();
    bearer_is_the_specs_scheme(&spec);
    let fake = fake(true).await;
    let client = TelnyxVerify::new(TelnyxVerifyConfig {
        base_url: fake.base().clone(),
        api_key: SecretString::from(KEY),
        profile_id: PROFILE.to_owned(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let to = number(ADA);
    for channel in [Channel::Sms, Channel::Voice] {
        let delivery = Delivery {
            to: &to,
            channel,
            conference: "Board",
        };
        client.send(&delivery, None).await.unwrap();
    }
    client
        .check(&to, &Code::parse("482913").unwrap(), None)
        .await
        .unwrap();

    let requests = fake.control().requests();
    let templates: Vec<String> = requests
        .iter()
        .map(|r| template_of(&spec, &r.path))
        .collect();
    assert_eq!(templates, [SMS, CALL, CHECK]);
    for (request, template) in requests.iter().zip(&templates) {
        assert_eq!(request.method, "POST");
        assert!(request.auth_ok, "Bearer on {template}");
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let errors = conforms(&spec, request_schema(&spec, template), &body);
        assert!(errors.is_empty(), "{template}: {errors:?} in {body}");
    }
    // The path parameter is the spec's +E.164 number.
    let check_path = &requests[2].path;
    let phone = check_path.split('/').nth(4).unwrap();
    assert_eq!(
        percent_encoding::percent_decode_str(phone).decode_utf8_lossy(),
        ADA
    );
}

#[tokio::test]
async fn the_messages_sender_sends_only_what_the_spec_defines() {
    let spec = messaging_spec();
    bearer_is_the_specs_scheme(&spec);
    let fake = fake(true).await;
    let sender = TelnyxMessages::new(TelnyxMessagesConfig {
        base_url: fake.base().clone(),
        api_key: SecretString::from(KEY),
        from: FROM.to_owned(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    sender
        .deliver(
            &number(ADA),
            "482913 is your code",
            &Code::parse("482913").unwrap(),
            Channel::Sms,
        )
        .await
        .unwrap();

    let requests = fake.control().requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(template_of(&spec, &requests[0].path), MESSAGES);
    assert!(requests[0].auth_ok);
    let body: Value = serde_json::from_str(&requests[0].body).unwrap();
    let errors = conforms(&spec, request_schema(&spec, MESSAGES), &body);
    assert!(errors.is_empty(), "{errors:?} in {body}");
    // SMS needs `from` and `text` besides the required `to` (the spec's descriptions).
    for name in ["from", "text", "to"] {
        assert!(body.get(name).is_some(), "{name}");
    }
}

/// Each endpoint the fake serves: the spec and path, the wire path, and the smallest body
/// the fake takes (the spec's required fields and what Telnyx needs to send an SMS).
fn endpoints() -> Vec<(Value, &'static str, &'static str, Value)> {
    let (verify, messaging) = (verify_spec(), messaging_spec());
    vec![
        (
            verify.clone(),
            SMS,
            "/v2/verifications/sms",
            json!({"phone_number": ADA, "verify_profile_id": PROFILE}),
        ),
        (
            verify.clone(),
            CALL,
            "/v2/verifications/call",
            json!({"phone_number": ADA, "verify_profile_id": PROFILE}),
        ),
        (
            verify,
            CHECK,
            "/v2/verifications/by_phone_number/+15551230001/actions/verify",
            json!({"code": "000000", "verify_profile_id": PROFILE}),
        ),
        (
            messaging,
            MESSAGES,
            "/v2/messages",
            json!({"to": ADA, "from": FROM, "text": "482913 is your code"}),
        ),
    ]
}

#[tokio::test]
async fn the_fake_refuses_a_missing_required_field_or_an_undefined_one() {
    let fake = fake(false).await;
    let error_schema = |spec: &Value, template: &str| {
        let status = if template == MESSAGES { "4XX" } else { "400" };
        let errors = response_schema(spec, template, status);
        resolve(spec, &errors["properties"]["errors"]["items"]).clone()
    };
    let refused = |status: u16, body: &Value, spec: &Value, template: &str| {
        assert!((400..500).contains(&status), "{template}: {status} {body}");
        let errors = conforms(
            spec,
            response_schema(
                spec,
                template,
                if template == MESSAGES { "4XX" } else { "400" },
            ),
            body,
        );
        assert!(errors.is_empty(), "{template}: {errors:?} in {body}");
        let item = error_schema(spec, template);
        let errors = conforms(spec, &item, &body["errors"][0]);
        assert!(errors.is_empty(), "{template}: {errors:?} in {body}");
    };
    for (spec, template, wire, minimal) in endpoints() {
        // A check needs a pending verification to be more than "not found".
        post(
            &fake,
            "/v2/verifications/sms",
            &json!({"phone_number": ADA, "verify_profile_id": PROFILE}),
        )
        .await;
        let (status, body) = post(&fake, wire, &minimal).await;
        assert_eq!(status, 200, "{template}: the minimal body is taken: {body}");

        let schema = request_schema(&spec, template);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!required.is_empty(), "{template}");
        for name in required {
            let mut body = minimal.clone();
            body.as_object_mut().unwrap().remove(name);
            let (status, answer) = post(&fake, wire, &body).await;
            refused(status, &answer, &spec, template);
            assert_eq!(
                answer["errors"][0]["code"], "10004",
                "{template} without {name}"
            );
            assert_eq!(answer["errors"][0]["source"]["pointer"], format!("/{name}"));
        }
        let mut body = minimal.clone();
        body["not_in_the_spec"] = json!("x");
        let (status, answer) = post(&fake, wire, &body).await;
        refused(status, &answer, &spec, template);
        assert_eq!(answer["errors"][0]["code"], "10015", "{template}");
        assert_eq!(answer["errors"][0]["source"]["pointer"], "/not_in_the_spec");
        // The names are the spec's, case and all.
        let mut body = minimal.clone();
        let object = body.as_object_mut().unwrap();
        let (first, value) = object
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        object.remove(&first);
        object.insert(first.to_uppercase(), value);
        let (status, answer) = post(&fake, wire, &body).await;
        refused(status, &answer, &spec, template);
    }
}

/// A value of a property for a request: the spec's example (the property's or the
/// schema's), its default, its first enum value, or one of its type.
fn sample(spec: &Value, schema: &Value, name: &str) -> Value {
    let property = resolve(spec, &schema["properties"][name]);
    if let Some(example) = property.get("example") {
        return example.clone();
    }
    if let Some(example) = schema["example"].get(name) {
        return example.clone();
    }
    if let Some(default) = property.get("default").filter(|d| !d.is_null()) {
        return default.clone();
    }
    if let Some(first) = property["enum"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    let kind = match &property["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds[0].as_str().unwrap().to_owned(),
        _ => "string".to_owned(),
    };
    match (kind.as_str(), property["format"].as_str()) {
        ("string", Some("date-time")) => json!("2030-01-01T00:00:00Z"),
        ("string", _) => json!("x"),
        ("integer", _) => json!(300),
        ("boolean", _) => json!(true),
        ("array", _) => json!([]),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn the_fake_accepts_every_property_the_spec_defines_but_custom_code() {
    let fake = fake(false).await;
    for (spec, template, wire, minimal) in endpoints() {
        let schema = request_schema(&spec, template);
        for name in schema["properties"].as_object().unwrap().keys() {
            if minimal.get(name).is_some() {
                continue;
            }
            post(
                &fake,
                "/v2/verifications/sms",
                &json!({"phone_number": ADA, "verify_profile_id": PROFILE}),
            )
            .await;
            let mut body = minimal.clone();
            body[name] = sample(&spec, schema, name);
            let (status, answer) = post(&fake, wire, &body).await;
            if name == "custom_code" {
                // The fake makes its own codes: a documented refusal, not a silent one.
                assert_eq!(status, 400, "{answer}");
                assert_eq!(answer["errors"][0]["source"]["pointer"], "/custom_code");
                continue;
            }
            assert_eq!(
                status, 200,
                "{template} with {name} = {}: {answer}",
                body[name]
            );
        }
    }
}

#[tokio::test]
async fn the_fakes_answers_have_the_specs_shapes() {
    let fake = fake(true).await;
    for (spec, template, wire, minimal) in endpoints() {
        let body = if template == CHECK {
            json!({"code": "482913", "verify_profile_id": PROFILE})
        } else {
            minimal
        };
        let (status, answer) = post(&fake, wire, &body).await;
        assert_eq!(status, 200, "{template}: {answer}");
        let schema = response_schema(&spec, template, "200");
        let errors = conforms(&spec, schema, &answer);
        assert!(errors.is_empty(), "{template}: {errors:?}");
        let data = resolve(&spec, &schema["properties"]["data"]);
        let errors = conforms(&spec, data, &answer["data"]);
        assert!(errors.is_empty(), "{template}: {errors:?} in {answer}");
    }
    // A check's answer is exactly the spec's two required fields.
    let (_, answer) = post(
        &fake,
        "/v2/verifications/by_phone_number/+15551230001/actions/verify",
        &json!({"code": "482913", "verify_profile_id": PROFILE}),
    )
    .await;
    assert_eq!(answer["errors"][0]["code"], "10005", "used up: {answer}");
}
