//! The web console in a real browser (Debian's chromium through chromedriver): see
//! `tests/common/browser.rs` for what it needs and where screenshots go.

mod common;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_harness_loads_a_page_of_the_server() {
    let Some(browser) = Browser::start("harness").await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser
        .client
        .goto(app.url("/healthz").as_str())
        .await
        .unwrap();
    let body = browser
        .client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("ok") || body.contains("status"), "{body}");
    browser.screenshot("healthz").await;
    browser.close().await;
}
