//! A real browser for the console's tests: Debian's `chromium`, driven through WebDriver by
//! `chromedriver` (package `chromium-driver`) on a free loopback port, headless. Screenshots
//! go under `target/browser-screenshots/`.
//!
//! Without them, a test says exactly what to install; with `BRIDGEKEEPER_REQUIRE_BROWSER=1`
//! (set by `.ci/run`, which installs them) it fails instead of skipping.

use fantoccini::{Client, ClientBuilder};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The packages to install.
pub const INSTALL: &str = "apt-get install chromium chromium-driver";

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A headless chromium under chromedriver; both stop when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    name: String,
}

impl Browser {
    /// Starts one, or `None` (after saying what to install) when chromium or chromedriver is
    /// missing and the browser is not required.
    pub async fn start(test: &str) -> Option<Self> {
        let (Some(driver), Some(chromium)) = (
            find(&["chromedriver"]),
            find(&["chromium", "chromium-browser"]),
        ) else {
            let message = format!(
                "browser test {test}: chromium and chromedriver are needed; install them with: {INSTALL}"
            );
            if std::env::var_os("BRIDGEKEEPER_REQUIRE_BROWSER").is_some() {
                panic!("{message}");
            }
            eprintln!("\n*** SKIPPED {message} ***\n");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1200,900",
                    "--no-proxy-server",
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::rustls()
                .expect("a TLS config")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("chromedriver at {url}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Some(Self {
            client,
            driver: child,
            name: test.to_owned(),
        })
    }

    /// Saves a screenshot of the page as `target/browser-screenshots/<test>-<page>.png`.
    pub async fn screenshot(&self, page: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("browser-screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(dir.join(format!("{}-{page}.png", self.name)), png).expect("saved");
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
