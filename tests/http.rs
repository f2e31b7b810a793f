//! The HTTP surface around the call: health, the dev outbox, and malformed requests, which
//! get a 4xx with a plain reason and never a 5xx.

mod common;

use common::*;

#[tokio::test]
async fn healthz_answers_200() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn the_dev_outbox_lists_what_was_sent_as_json() {
    let app = TestApp::spawn().await;
    let empty: serde_json::Value = app
        .client
        .get(app.url("/dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty, serde_json::json!([]));

    app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    let response = app.client.get(app.url("/dev/outbox")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let messages = body.as_array().unwrap();
    assert_eq!(messages.len(), 1);
    let m = messages[0].as_object().unwrap();
    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["body", "code", "sent_at", "to"]);
    assert_eq!(m["to"], ADA);
    // sent_at is RFC 3339.
    let sent_at = m["sent_at"].as_str().unwrap();
    assert!(sent_at.len() >= 20 && sent_at.contains('T'), "{sent_at}");
}

#[tokio::test]
async fn a_webhook_without_call_sid_is_a_400_with_a_reason() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post("/voice", &[("From", ADA), ("To", WEEKLY_LINE)])
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("CallSid"), "{body}");
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn an_incoming_webhook_without_from_is_a_400() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post(
            "/voice",
            &[
                ("CallSid", "CA0123456789abcdef0123456789abcdef"),
                ("To", WEEKLY_LINE),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("From"), "{body}");
}

#[tokio::test]
async fn a_malformed_call_sid_is_a_400() {
    let app = TestApp::spawn().await;
    let long = "C".repeat(200);
    for bad in ["CA 1", "CA<x>", long.as_str()] {
        let (status, _) = app
            .post(
                "/voice",
                &[("CallSid", bad), ("From", ADA), ("To", WEEKLY_LINE)],
            )
            .await;
        assert_eq!(status, 400, "{bad:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/voice"))
        .header("content-type", "application/json")
        .body(r#"{"CallSid":"CA1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);

    let response = app
        .client
        .post(app.url("/voice"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("CallSid=CA1&From=%FF%FE")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(65 * 1024);
    let (status, _) = app
        .post(
            "/voice",
            &[("CallSid", "CA1"), ("From", ADA), ("Pad", &padding)],
        )
        .await;
    assert_eq!(status, 413);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn unknown_paths_and_methods_are_4xx() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/voice")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn the_dev_outbox_can_be_filtered_by_number() {
    let app = TestApp::spawn().await;
    app.incoming(&sid(), ADA, WEEKLY_LINE).await;
    app.incoming(&sid(), GRACE, WEEKLY_LINE).await;
    let only: Vec<serde_json::Value> = app
        .client
        .get(app.url("/dev/outbox?to=%2B1%20(202)%20555-0102"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["to"], GRACE);
    let bad = app
        .client
        .get(app.url("/dev/outbox?to=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}
