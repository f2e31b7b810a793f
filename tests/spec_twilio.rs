//! Each Twilio request checked against Twilio's own API description (the extracted OpenAPI
//! files in `tests/fixtures/specs/`): every form field the Messages sender and the Verify
//! client send is one the spec defines for that endpoint, with the spec's required ones
//! present; the fake's field lists are the spec's; the fake refuses a request missing a
//! required field or carrying one the spec does not define, and accepts every one it does;
//! and the fake's answers only use the spec's response properties and enum values.

mod common;

use bridgekeeper::domain::{Code, PhoneNumber};
use bridgekeeper::fake_verify::{CHECK_FIELDS, MESSAGE_FIELDS, VERIFICATION_FIELDS};
use bridgekeeper::verify::sender::twilio::{TwilioMessages, TwilioMessagesConfig};
use bridgekeeper::verify::{
    Channel, Courier, Delivery, MessageTemplate, TwilioVerify, TwilioVerifyConfig, Verifier,
};
use common::fake_verify::{FakeVerify, FakeVerifyConfig, Recorded};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const ACCOUNT: &str = "AC00000000000000000000000000000a11";
const TOKEN: &str = "tok-spec-conformance";
const SERVICE: &str = "VA00000000000000000000000000000b22";
const FROM: &str = "+15550009999";
const MESSAGING_SERVICE: &str = "MG00000000000000000000000000000c33";
const ADA: &str = "+15551230001";

const MESSAGES: &str = "/2010-04-01/Accounts/{AccountSid}/Messages.json";
const VERIFICATIONS: &str = "/v2/Services/{ServiceSid}/Verifications";
const VERIFICATION_CHECK: &str = "/v2/Services/{ServiceSid}/VerificationCheck";

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/specs")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Follows a local `$ref` (`#/components/schemas/x`), or the value itself.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            resolve(spec, spec.pointer(pointer).expect("the reference resolves"))
        }
        None => value,
    }
}

/// The form-encoded request body of `POST path`: its properties and required fields.
struct Form {
    properties: BTreeSet<String>,
    required: BTreeSet<String>,
}

fn form(spec: &Value, path: &str) -> Form {
    let post = &spec["paths"][path]["post"];
    assert!(post.is_object(), "no POST {path} in the spec");
    let schema = resolve(
        spec,
        &post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"],
    );
    let names = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Form {
        properties: schema["properties"]
            .as_object()
            .expect("the form has properties")
            .keys()
            .cloned()
            .collect(),
        required: names(&schema["required"]),
    }
}

/// The property of a form field (resolved).
fn property<'a>(spec: &'a Value, path: &str, field: &str) -> &'a Value {
    let schema = resolve(
        spec,
        &spec["paths"][path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"],
    );
    resolve(spec, &schema["properties"][field])
}

/// The properties of the success answer of `POST path` with this status.
fn answer_properties(spec: &Value, path: &str, status: &str) -> BTreeSet<String> {
    let schema = resolve(
        spec,
        &spec["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"],
    );
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no {status} answer for {path}"))
        .keys()
        .cloned()
        .collect()
}

fn enum_values(spec: &Value, schema: &str) -> BTreeSet<String> {
    spec["components"]["schemas"][schema]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum {schema}"))
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Whether a request path is an instance of a spec path template.
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// The request is a `POST` to the template, with Basic auth, form-encoded, every field
/// defined by the spec and given once, and every required one present.
fn assert_conforms(spec: &Value, template: &str, r: &Recorded) {
    let f = form(spec, template);
    assert_eq!(r.method, "POST");
    assert!(
        matches_template(template, &r.path),
        "{} is not {template}",
        r.path
    );
    assert!(r.auth_ok, "Basic auth: {r:?}");
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let names = r.field_names();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a repeated field: {names:?}");
    for name in &names {
        assert!(
            f.properties.contains(*name),
            "{name} is not a field of POST {template}"
        );
    }
    for name in &f.required {
        assert!(
            unique.contains(name.as_str()),
            "the required {name} is missing from {names:?}"
        );
    }
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164).unwrap()
}

#[test]
fn the_specs_say_basic_auth() {
    for name in ["twilio_messages.json", "twilio_verify_v2.json"] {
        let spec = load(name);
        let schemes = spec["components"]["securitySchemes"]
            .as_object()
            .expect("security schemes");
        assert!(
            schemes
                .values()
                .all(|s| s["type"] == "http" && s["scheme"] == "basic"),
            "{name}: {schemes:?}"
        );
    }
}

#[test]
fn the_fakes_field_lists_are_the_specs() {
    let set =
        |fields: &[&str]| -> BTreeSet<String> { fields.iter().map(|f| (*f).to_owned()).collect() };
    let messages = load("twilio_messages.json");
    assert_eq!(set(MESSAGE_FIELDS), form(&messages, MESSAGES).properties);
    let verify = load("twilio_verify_v2.json");
    assert_eq!(
        set(VERIFICATION_FIELDS),
        form(&verify, VERIFICATIONS).properties
    );
    assert_eq!(
        set(CHECK_FIELDS),
        form(&verify, VERIFICATION_CHECK).properties
    );
}

#[tokio::test]
async fn the_messages_sender_sends_only_spec_fields() {
    let spec = load("twilio_messages.json");
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    let code = Code::parse("482913").unwrap();
    let body = MessageTemplate::default().render(&code, &"n".repeat(500));
    let service_pattern = property(&spec, MESSAGES, "MessagingServiceSid")["pattern"]
        .as_str()
        .expect("a pattern for MessagingServiceSid");
    let service_pattern = regex::Regex::new(service_pattern).unwrap();
    for from in [FROM, MESSAGING_SERVICE] {
        let sender = TwilioMessages::new(TwilioMessagesConfig {
            base_url: fake.base.clone(),
            account_sid: ACCOUNT.to_owned(),
            auth_token: SecretString::from(TOKEN),
            from: from.to_owned(),
            timeout: Duration::from_secs(2),
        })
        .unwrap();
        sender
            .deliver(&number(ADA), &body, &code, Channel::Sms)
            .await
            .unwrap();
    }
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_conforms(&spec, MESSAGES, r);
        // x-notes: one of From or MessagingServiceSid chooses the sender; Body is the
        // content, up to 1,600 characters.
        let senders = ["From", "MessagingServiceSid"].map(|f| r.field(f).is_some());
        assert_eq!(senders.iter().filter(|s| **s).count(), 1, "{r:?}");
        if let Some(sid) = r.field("MessagingServiceSid") {
            assert!(service_pattern.is_match(sid), "{sid}");
        }
        let body = r.field("Body").expect("a Body");
        assert!(body.chars().count() <= 1600);
        assert!(body.contains("482913"));
        // The path's AccountSid is the authenticated account (x-notes).
        assert!(
            r.path.contains(&format!("/Accounts/{ACCOUNT}/")),
            "{}",
            r.path
        );
    }
}

#[tokio::test]
async fn the_verify_client_sends_only_spec_fields() {
    let spec = load("twilio_verify_v2.json");
    let fake = FakeVerify::start(ACCOUNT, TOKEN, SERVICE).await;
    fake.fix_code("482913");
    let client = TwilioVerify::new(TwilioVerifyConfig {
        base_url: fake.base.clone(),
        account_sid: ACCOUNT.to_owned(),
        auth_token: SecretString::from(TOKEN),
        service_sid: SERVICE.to_owned(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let to = number(ADA);
    for channel in Channel::ALL {
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

    let channels = enum_values(&spec, "verification_enum_channel");
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests[..2] {
        assert_conforms(&spec, VERIFICATIONS, r);
        let channel = r.field("Channel").unwrap();
        assert!(channels.contains(channel), "{channel} not in {channels:?}");
    }
    assert_eq!(requests[0].field("Channel"), Some("sms"));
    assert_eq!(requests[1].field("Channel"), Some("call"));
    assert_conforms(&spec, VERIFICATION_CHECK, &requests[2]);
}

async fn post(fake: &FakeVerify, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(fake.base.join(path).unwrap())
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A good form less the named field.
fn without<'a>(good: &[(&'a str, &'a str)], field: &str) -> Vec<(&'a str, &'a str)> {
    good.iter().copied().filter(|(k, _)| *k != field).collect()
}

/// A fake without Verify's per-number limits, so that many sends pass.
async fn unlimited() -> FakeVerify {
    FakeVerify::start_with(FakeVerifyConfig {
        account_sid: ACCOUNT.to_owned(),
        auth_token: TOKEN.to_owned(),
        service_sid: SERVICE.to_owned(),
        limits: false,
        ..FakeVerifyConfig::default()
    })
    .await
}

#[tokio::test]
async fn the_fake_messages_api_holds_to_the_spec() {
    let spec = load("twilio_messages.json");
    let f = form(&spec, MESSAGES);
    let fake = unlimited().await;
    let path = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    let good = [("To", ADA), ("From", FROM), ("Body", "Code 482913")];

    for field in &f.required {
        let (status, body) = post(&fake, &path, &without(&good, field)).await;
        assert_eq!(status, 400, "without {field}: {body}");
    }
    // x-notes: a sender (From or MessagingServiceSid) and content are needed too.
    for field in ["From", "Body"] {
        let (status, body) = post(&fake, &path, &without(&good, field)).await;
        assert_eq!(status, 400, "without {field}: {body}");
    }
    let mut undefined = good.to_vec();
    undefined.push(("NotInTheSpec", "1"));
    let (status, body) = post(&fake, &path, &undefined).await;
    assert_eq!(status, 400, "{body}");

    // Every field the spec defines is taken (the fake checks names, not these values).
    let (status, answer) = post(&fake, &path, &good).await;
    assert_eq!(status, 201, "{answer}");
    for field in &f.properties {
        if ["To", "From", "MessagingServiceSid", "Body"].contains(&field.as_str()) {
            continue;
        }
        let mut with = good.to_vec();
        with.push((field.as_str(), "x"));
        let (status, body) = post(&fake, &path, &with).await;
        assert_eq!(status, 201, "with {field}: {body}");
    }
    let (status, body) = post(
        &fake,
        &path,
        &[
            ("To", ADA),
            ("MessagingServiceSid", MESSAGING_SERVICE),
            ("Body", "Code 482913"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Its answers use only the Message resource's properties and statuses.
    let properties = answer_properties(&spec, MESSAGES, "201");
    let statuses = enum_values(&spec, "message_enum_status");
    let directions = enum_values(&spec, "message_enum_direction");
    let sid =
        spec["components"]["schemas"]["api.v2010.account.message"]["properties"]["sid"]["pattern"]
            .as_str()
            .expect("a pattern for a Message sid");
    let sid = regex::Regex::new(sid).unwrap();
    for answer in [&answer, &body] {
        for key in answer.as_object().unwrap().keys() {
            assert!(properties.contains(key), "{key} is not a Message property");
        }
        assert!(
            statuses.contains(answer["status"].as_str().unwrap()),
            "{answer}"
        );
        assert!(directions.contains(answer["direction"].as_str().unwrap()));
        assert!(sid.is_match(answer["sid"].as_str().unwrap()), "{answer}");
    }
}

#[tokio::test]
async fn the_fake_verify_api_holds_to_the_spec() {
    let spec = load("twilio_verify_v2.json");
    let fake = unlimited().await;
    fake.fix_code("482913");
    let send_path = format!("/v2/Services/{SERVICE}/Verifications");
    let check_path = format!("/v2/Services/{SERVICE}/VerificationCheck");

    let sends = form(&spec, VERIFICATIONS);
    let good = [("To", ADA), ("Channel", "sms")];
    for field in &sends.required {
        let (status, body) = post(&fake, &send_path, &without(&good, field)).await;
        assert_eq!(status, 400, "without {field}: {body}");
    }
    let mut undefined = good.to_vec();
    undefined.push(("NotInTheSpec", "1"));
    assert_eq!(post(&fake, &send_path, &undefined).await.0, 400);
    for field in &sends.properties {
        if sends.required.contains(field) {
            continue;
        }
        let mut with = good.to_vec();
        with.push((field.as_str(), "x"));
        let (status, body) = post(&fake, &send_path, &with).await;
        assert_eq!(status, 201, "with {field}: {body}");
    }
    let channels = enum_values(&spec, "verification_enum_channel");
    let properties = answer_properties(&spec, VERIFICATIONS, "201");
    for channel in ["sms", "call"] {
        let (status, answer) = post(&fake, &send_path, &[("To", ADA), ("Channel", channel)]).await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["channel"], channel);
        assert!(channels.contains(channel));
        for key in answer.as_object().unwrap().keys() {
            assert!(
                properties.contains(key),
                "{key} is not a Verification property"
            );
        }
    }

    // The spec names no required check field (To or VerificationSid finds the
    // verification); the fake wants To and Code, and refuses what the spec does not define.
    let checks = form(&spec, VERIFICATION_CHECK);
    assert!(checks.required.is_empty() || checks.required.contains("Code"));
    let good = [("To", ADA), ("Code", "000000")];
    for field in ["To", "Code"] {
        let (status, body) = post(&fake, &check_path, &without(&good, field)).await;
        assert_eq!(status, 400, "without {field}: {body}");
    }
    let mut undefined = good.to_vec();
    undefined.push(("Channel", "sms"));
    assert_eq!(post(&fake, &check_path, &undefined).await.0, 400);
    for field in &checks.properties {
        if ["To", "Code"].contains(&field.as_str()) {
            continue;
        }
        let mut with = good.to_vec();
        with.push((field.as_str(), "x"));
        let (status, body) = post(&fake, &check_path, &with).await;
        assert_eq!(status, 200, "with {field}: {body}");
    }
    let (_, answer) = post(&fake, &check_path, &[("To", ADA), ("Code", "482913")]).await;
    assert_eq!(answer["status"], "approved");
    let properties = answer_properties(&spec, VERIFICATION_CHECK, "201");
    for key in answer.as_object().unwrap().keys() {
        assert!(
            properties.contains(key),
            "{key} is not a VerificationCheck property"
        );
    }
    let check_channels = enum_values(&spec, "verification_check_enum_channel");
    assert!(check_channels.contains(answer["channel"].as_str().unwrap()));
}
