//! Moderator actions checked against the carriers' own specs (`tests/fixtures/specs/
//! twilio_conference.json`, `telnyx_texml_rest.json`, copied from `shared/specs`): every
//! request the client sends is an operation the spec defines (SignalWire's against Twilio's,
//! whose API it copies under `/api/laml`), with the spec's media type, security scheme and
//! only form fields the spec defines for that operation, each of its type. The fake knows
//! exactly those fields, accepts each one, answers in the spec's statuses and shapes, and
//! refuses a body that is empty (the spec requires one), repeats a field, carries one the
//! spec does not define or a value not of the spec's type.

use bridgekeeper::conference::control::{ConferenceControl, ControlConfig, ControlFlavor};
use bridgekeeper::fakes::conference::{
    FakeConferenceApi, FakeConferenceApiConfig, Flavor, SIGNALWIRE_API_TOKEN,
    SIGNALWIRE_PARTICIPANT_FIELDS, SIGNALWIRE_PROJECT_ID, TELNYX_ACCOUNT_SID, TELNYX_API_KEY,
    TELNYX_CONFERENCE_FIELDS, TELNYX_PARTICIPANT_FIELDS, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
    TWILIO_CONFERENCE_FIELDS, TWILIO_PARTICIPANT_FIELDS,
};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const FLAVORS: [Flavor; 3] = [Flavor::Twilio, Flavor::SignalWire, Flavor::Telnyx];
const ROOM: &str = "CF0123456789abcdef0123456789abcdef";
const ADA: &str = "CA0123456789abcdef0123456789abc001";
const GRACE: &str = "CA0123456789abcdef0123456789abc002";
const FORM: &str = "application/x-www-form-urlencoded";

const TWILIO_PARTICIPANT: &str =
    "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants/{CallSid}.json";
const TWILIO_CONFERENCE: &str = "/2010-04-01/Accounts/{AccountSid}/Conferences/{Sid}.json";
const TELNYX_PARTICIPANT: &str = "/texml/Accounts/{account_sid}/Conferences/{conference_sid}/Participants/{call_sid_or_participant_label}";
const TELNYX_CONFERENCE: &str = "/texml/Accounts/{account_sid}/Conferences/{conference_sid}";

fn spec(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/specs/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The spec a dialect follows: SignalWire copies Twilio's API.
fn spec_of(flavor: Flavor) -> Value {
    match flavor {
        Flavor::Twilio | Flavor::SignalWire => spec("twilio_conference.json"),
        Flavor::Telnyx => spec("telnyx_texml_rest.json"),
    }
}

/// A wire path as the spec writes it: Telnyx's server is `…/v2`, SignalWire's API sits
/// under `/api/laml`.
fn spec_path(flavor: Flavor, wire: &str) -> String {
    let stripped = match flavor {
        Flavor::Twilio => Some(wire),
        Flavor::SignalWire => wire.strip_prefix("/api/laml"),
        Flavor::Telnyx => wire.strip_prefix("/v2"),
    };
    stripped.expect("the dialect's prefix").to_owned()
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

/// Whether a wire segment fits a template segment (`{CallSid}.json` fits `CA1.json`).
fn segment_fits(template: &str, wire: &str) -> bool {
    match template.strip_prefix('{').and_then(|t| t.split_once('}')) {
        Some((_, suffix)) => wire.len() > suffix.len() && wire.ends_with(suffix),
        None => template == wire,
    }
}

/// The spec's path template for a path (the spec's form), literal segments winning.
fn template_of(spec: &Value, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut fits: Vec<(usize, &String)> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let fit = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, w)| segment_fits(t, w));
            fit.then(|| {
                (
                    parts.iter().filter(|p| p.starts_with('{')).count(),
                    template,
                )
            })
        })
        .collect();
    fits.sort();
    fits.first()
        .unwrap_or_else(|| panic!("no path in the spec for {path}"))
        .1
        .clone()
}

/// The operation (`post`, `delete`) at a template.
fn operation<'a>(spec: &'a Value, template: &str, method: &str) -> &'a Value {
    let op = &spec["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "the spec has {method} {template}");
    op
}

/// The form schema of an operation's request body.
fn form_schema<'a>(spec: &'a Value, op: &'a Value) -> &'a Value {
    let content = &op["requestBody"]["content"];
    assert!(
        content.get(FORM).is_some(),
        "the spec's body is a form: {content}"
    );
    resolve(spec, &content[FORM]["schema"])
}

fn property_names(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

/// Whether a form value is of the property's type (and in its enum).
fn form_value_fits(spec: &Value, property: &Value, value: &str) -> bool {
    let schema = resolve(spec, property);
    let typed = match schema["type"].as_str() {
        Some("boolean") => value == "true" || value == "false",
        Some("integer") => value.parse::<i64>().is_ok(),
        Some("string") | None => true,
        Some(_) => false,
    };
    let listed = schema["enum"]
        .as_array()
        .is_none_or(|values| values.iter().any(|v| v == value));
    typed && listed
}

/// Whether a JSON answer's value is of the property's type; `null` where the spec allows it
/// (`nullable`, or a description that says so).
fn json_value_fits(spec: &Value, property: &Value, value: &Value) -> bool {
    let schema = resolve(spec, property);
    if value.is_null() {
        return property["nullable"] == true
            || schema["nullable"] == true
            || schema["description"]
                .as_str()
                .is_some_and(|d| d.contains("`null`"));
    }
    let typed = match schema["type"].as_str() {
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("integer") => value.is_i64() || value.is_u64(),
        _ => true,
    };
    let listed = schema["enum"]
        .as_array()
        .is_none_or(|values| values.contains(value));
    typed && listed
}

/// A JSON answer against the schema of the operation's answer with this status.
fn assert_answer_conforms(spec: &Value, op: &Value, http: u16, body: &Value) {
    let response = &op["responses"][http.to_string()];
    assert!(response.is_object(), "the spec declares {http}: {op}");
    let response = resolve(spec, response);
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        assert!(body.is_null(), "no body declared for {http}, got {body}");
        return;
    };
    let schema = resolve(spec, schema);
    let properties = schema["properties"].as_object().expect("properties");
    for (name, value) in body.as_object().expect("a JSON object") {
        let property = properties
            .get(name)
            .unwrap_or_else(|| panic!("`{name}` is not in the spec's answer"));
        assert!(
            json_value_fits(spec, property, value),
            "`{name}` = {value} is not of the spec's type"
        );
    }
}

fn credentials(flavor: Flavor) -> ControlFlavor {
    match flavor {
        Flavor::Twilio => ControlFlavor::Twilio {
            account_sid: TWILIO_ACCOUNT_SID.to_owned(),
            auth_token: SecretString::from(TWILIO_AUTH_TOKEN),
        },
        Flavor::SignalWire => ControlFlavor::SignalWire {
            project_id: SIGNALWIRE_PROJECT_ID.to_owned(),
            api_token: SecretString::from(SIGNALWIRE_API_TOKEN),
        },
        Flavor::Telnyx => ControlFlavor::Telnyx {
            api_key: SecretString::from(TELNYX_API_KEY),
            account_sid: TELNYX_ACCOUNT_SID.to_owned(),
        },
    }
}

async fn fake() -> FakeConferenceApi {
    let fake = FakeConferenceApi::start(FakeConferenceApiConfig::default())
        .await
        .expect("the fake starts");
    fake.add_participant(ROOM, ADA);
    fake.add_participant(ROOM, GRACE);
    fake
}

/// The wire path of a participant (`Some(call)`) or the conference.
fn wire(flavor: Flavor, call: Option<&str>) -> String {
    let (prefix, suffix) = match flavor {
        Flavor::Twilio => (
            format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}"),
            ".json",
        ),
        Flavor::SignalWire => (
            format!("/api/laml/2010-04-01/Accounts/{SIGNALWIRE_PROJECT_ID}"),
            ".json",
        ),
        Flavor::Telnyx => (format!("/v2/texml/Accounts/{TELNYX_ACCOUNT_SID}"), ""),
    };
    match call {
        Some(call) => format!("{prefix}/Conferences/{ROOM}/Participants/{call}{suffix}"),
        None => format!("{prefix}/Conferences/{ROOM}{suffix}"),
    }
}

/// Sends a raw request with the dialect's credentials: the status and the JSON answer
/// (`null` when there is none).
async fn send(
    fake: &FakeConferenceApi,
    flavor: Flavor,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, fake.base().join(path).unwrap())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body.to_owned());
    request = match flavor {
        Flavor::Twilio => request.basic_auth(TWILIO_ACCOUNT_SID, Some(TWILIO_AUTH_TOKEN)),
        Flavor::SignalWire => request.basic_auth(SIGNALWIRE_PROJECT_ID, Some(SIGNALWIRE_API_TOKEN)),
        Flavor::Telnyx => request.bearer_auth(TELNYX_API_KEY),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON answer")
    };
    (status, json)
}

async fn post(fake: &FakeConferenceApi, flavor: Flavor, path: &str, form: &str) -> (u16, Value) {
    send(fake, flavor, reqwest::Method::POST, path, FORM, form).await
}

/// A value of the property's type, for the fake to accept.
fn sample(spec: &Value, name: &str, property: &Value) -> String {
    let schema = resolve(spec, property);
    match name {
        "CallSidToCoach" => format!("CA{}", "b".repeat(32)),
        "Status" => "completed".to_owned(),
        _ if name.ends_with("Url") => "https://example.com/audio.xml".to_owned(),
        _ => match (schema["type"].as_str(), schema["enum"].get(0)) {
            (_, Some(first)) => first.as_str().unwrap().to_owned(),
            (Some("boolean"), None) => "false".to_owned(),
            other => panic!("no sample for {name}: {other:?}"),
        },
    }
}

#[test]
fn the_specs_say_form_bodies_and_their_auth_schemes() {
    let twilio = spec("twilio_conference.json");
    assert_eq!(
        twilio["components"]["securitySchemes"]["accountSid_authToken"]["scheme"],
        "basic"
    );
    let telnyx = spec("telnyx_texml_rest.json");
    assert!(telnyx["security"][0].get("bearerAuth").is_some());
    assert_eq!(
        telnyx["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    for (spec, template) in [
        (&twilio, TWILIO_PARTICIPANT),
        (&twilio, TWILIO_CONFERENCE),
        (&telnyx, TELNYX_PARTICIPANT),
        (&telnyx, TELNYX_CONFERENCE),
    ] {
        form_schema(spec, operation(spec, template, "post"));
    }
    assert!(operation(&twilio, TWILIO_PARTICIPANT, "delete")["responses"]["204"].is_object());
    assert!(operation(&telnyx, TELNYX_PARTICIPANT, "delete")["responses"]["204"].is_object());
}

#[tokio::test]
async fn the_client_sends_only_operations_and_fields_the_spec_defines() {
    for flavor in FLAVORS {
        let spec = spec_of(flavor);
        let fake = fake().await;
        let control = ConferenceControl::new(ControlConfig {
            flavor: credentials(flavor),
            base_url: fake.base().clone(),
            timeout: Duration::from_secs(2),
        })
        .unwrap();

        control.mute(ROOM, ADA, true).await.unwrap();
        control.mute(ROOM, ADA, false).await.unwrap();
        control.remove(ROOM, ADA).await.unwrap();
        control.end(ROOM).await.unwrap();

        let requests = fake.control().requests();
        assert_eq!(requests.len(), 4);
        for request in requests {
            let template = template_of(&spec, &spec_path(flavor, &request.path));
            let op = operation(&spec, &template, &request.method);
            assert!(
                request.auth_ok,
                "{flavor:?}: the spec's scheme with the credentials"
            );
            if request.method == "DELETE" {
                assert!(op.get("requestBody").is_none());
                assert_eq!(request.body, "");
                continue;
            }
            let schema = form_schema(&spec, op);
            assert_eq!(request.content_type.as_deref(), Some(FORM));
            let properties = schema["properties"].as_object().unwrap();
            let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body.as_bytes())
                .into_owned()
                .collect();
            assert!(!form.is_empty(), "the spec requires a body");
            for (name, value) in &form {
                let property = properties.get(name).unwrap_or_else(|| {
                    panic!("{flavor:?}: `{name}` is not defined for {template}")
                });
                assert!(
                    form_value_fits(&spec, property, value),
                    "{flavor:?}: `{name}={value}` is not of the spec's type"
                );
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap();
                assert!(form.iter().any(|(name, _)| name == required));
            }
        }
    }
}

#[test]
fn the_fake_knows_exactly_the_fields_each_spec_defines() {
    let names = |fields: &[&str]| fields.iter().map(|f| (*f).to_owned()).collect();
    let twilio = spec("twilio_conference.json");
    let telnyx = spec("telnyx_texml_rest.json");
    for (spec, template, fields) in [
        (&twilio, TWILIO_PARTICIPANT, TWILIO_PARTICIPANT_FIELDS),
        (&twilio, TWILIO_CONFERENCE, TWILIO_CONFERENCE_FIELDS),
        (&telnyx, TELNYX_PARTICIPANT, TELNYX_PARTICIPANT_FIELDS),
        (&telnyx, TELNYX_CONFERENCE, TELNYX_CONFERENCE_FIELDS),
    ] {
        let schema = form_schema(spec, operation(spec, template, "post"));
        assert_eq!(property_names(schema), names(fields), "{template}");
    }
    // SignalWire documents a subset of Twilio's participant fields.
    let twilio_fields: BTreeSet<String> = names(TWILIO_PARTICIPANT_FIELDS);
    assert!(names(SIGNALWIRE_PARTICIPANT_FIELDS).is_subset(&twilio_fields));
}

#[tokio::test]
async fn the_fake_accepts_every_field_the_spec_defines_and_answers_in_its_shapes() {
    for flavor in [Flavor::Twilio, Flavor::Telnyx] {
        let spec = spec_of(flavor);
        let fake = fake().await;
        let participant = wire(flavor, Some(ADA));
        let template = template_of(&spec, &spec_path(flavor, &participant));
        let op = operation(&spec, &template, "post");
        for (name, property) in form_schema(&spec, op)["properties"].as_object().unwrap() {
            let form = format!("{name}={}", sample(&spec, name, property));
            let (http, body) = post(&fake, flavor, &participant, &form).await;
            assert_eq!(http, 200, "{flavor:?} {form}: {body}");
            assert_answer_conforms(&spec, op, http, &body);
        }

        let conference = wire(flavor, None);
        let template = template_of(&spec, &spec_path(flavor, &conference));
        let op = operation(&spec, &template, "post");
        let mut properties: Vec<(&String, &Value)> = form_schema(&spec, op)["properties"]
            .as_object()
            .unwrap()
            .iter()
            .collect();
        // Ending the conference last.
        properties.sort_by_key(|(name, _)| name.as_str() == "Status");
        for (name, property) in properties {
            let form = format!("{name}={}", sample(&spec, name, property));
            let (http, body) = post(&fake, flavor, &conference, &form).await;
            assert_eq!(http, 200, "{flavor:?} {form}: {body}");
            assert_answer_conforms(&spec, op, http, &body);
        }
        assert!(fake.is_ended(ROOM));
    }
}

#[tokio::test]
async fn a_removal_answers_the_specs_204_and_a_stranger_its_404() {
    for flavor in [Flavor::Twilio, Flavor::Telnyx] {
        let spec = spec_of(flavor);
        let fake = fake().await;
        let participant = wire(flavor, Some(ADA));
        let template = template_of(&spec, &spec_path(flavor, &participant));
        let op = operation(&spec, &template, "delete");

        let delete = || {
            send(
                &fake,
                flavor,
                reqwest::Method::DELETE,
                &participant,
                FORM,
                "",
            )
        };
        let (http, body) = delete().await;
        assert_eq!(http, 204);
        assert_answer_conforms(&spec, op, http, &body);

        let (http, body) = delete().await;
        assert_eq!(http, 404);
        if flavor == Flavor::Telnyx {
            assert_answer_conforms(&spec, op, http, &body);
        } else {
            // Twilio's spec lists no errors; its notes give the shape.
            let keys: BTreeSet<&str> = body
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from(["code", "message", "more_info", "status"])
            );
            assert_eq!(body["code"], 20404);
        }
    }
}

#[tokio::test]
async fn the_fake_refuses_what_the_spec_does_not_define_or_require() {
    let refused_bodies = [
        ("", "an empty body (the spec requires one)"),
        ("Foo=bar", "a field no spec defines"),
        ("Muted=true&Muted=false", "a field given twice"),
        ("Muted=yes", "a boolean that is not true or false"),
        ("Muted=True", "a boolean in the wrong case"),
        ("Status=completed", "a conference's field on a participant"),
        ("Coaching=true", "coaching without CallSidToCoach"),
        ("HoldMethod=PUT", "a method outside the enum"),
        ("AnnounceUrl=/relative", "a URL that is not absolute"),
    ];
    for flavor in FLAVORS {
        let fake = fake().await;
        let participant = wire(flavor, Some(ADA));
        let conference = wire(flavor, None);
        let mut cases: Vec<(&str, &str, &str)> = refused_bodies
            .iter()
            .map(|(body, why)| (participant.as_str(), *body, *why))
            .collect();
        cases.extend([
            (
                conference.as_str(),
                "Status=ended",
                "a status outside the enum",
            ),
            (
                conference.as_str(),
                "Muted=true",
                "a participant's field on a conference",
            ),
            (conference.as_str(), "", "an empty body"),
        ]);
        for (path, body, why) in cases {
            let (http, answer) = post(&fake, flavor, path, body).await;
            assert!(
                (400..500).contains(&http),
                "{flavor:?}: {why} was taken ({http})"
            );
            assert_refusal_shape(flavor, &answer);
        }
        let (http, answer) = send(
            &fake,
            flavor,
            reqwest::Method::POST,
            &participant,
            "application/json",
            r#"{"Muted": true}"#,
        )
        .await;
        assert!(
            (400..500).contains(&http),
            "{flavor:?}: a JSON body was taken"
        );
        assert_refusal_shape(flavor, &answer);
        let (http, _) = send(
            &fake,
            flavor,
            reqwest::Method::DELETE,
            &participant,
            FORM,
            "Muted=true",
        )
        .await;
        assert!(
            (400..500).contains(&http),
            "{flavor:?}: a DELETE with a body was taken"
        );

        assert_eq!(
            fake.is_muted(ROOM, ADA),
            Some(false),
            "{flavor:?}: nothing changed"
        );
        assert!(!fake.is_ended(ROOM));
        assert_eq!(fake.control().requests().len(), 14);
    }
}

/// Twilio's error JSON, or Telnyx's `ErrorResponse` with a code and (for Telnyx's 422s) a
/// status the spec's `UnprocessableEntityResponse` uses.
fn assert_refusal_shape(flavor: Flavor, answer: &Value) {
    if flavor == Flavor::Telnyx {
        let spec = spec("telnyx_texml_rest.json");
        let schema = resolve(&spec, &spec["components"]["schemas"]["ErrorResponse"]);
        let error = &answer["errors"][0];
        assert!(error["code"].is_string(), "{answer}");
        let item = &schema["properties"]["errors"]["items"]["properties"];
        for (name, _) in error.as_object().unwrap() {
            assert!(item.get(name).is_some(), "`{name}` is not in ErrorResponse");
        }
    } else {
        assert!(
            answer["code"].is_u64() && answer["message"].is_string(),
            "{answer}"
        );
    }
}
