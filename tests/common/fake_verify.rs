//! The fake Twilio Verify server for tests: the library's [`bridgekeeper::fake_verify`]
//! started on a random loopback port with the test's credentials, panicking if it cannot
//! start. Everything else (`fix_code`, `fail_next`, `requests`, `sent_codes`, `base`, …)
//! is the library handle's, reached through `Deref`.

use std::ops::Deref;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use bridgekeeper::fake_verify::{Failure, FakeVerifyConfig, Recorded};

/// A running fake Twilio Verify server; it stops when dropped.
pub struct FakeVerify(bridgekeeper::fake_verify::FakeVerify);

impl FakeVerify {
    /// Starts a fake on a random loopback port in the current tokio runtime, accepting these
    /// credentials and this service SID, with Verify's limits and no latency.
    pub async fn start(account_sid: &str, auth_token: &str, service_sid: &str) -> Self {
        Self::start_with(FakeVerifyConfig {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            service_sid: service_sid.to_owned(),
            ..FakeVerifyConfig::default()
        })
        .await
    }

    /// Starts a fake with this configuration.
    pub async fn start_with(config: FakeVerifyConfig) -> Self {
        Self(
            bridgekeeper::fake_verify::FakeVerify::start(config)
                .await
                .expect("start the fake Verify server"),
        )
    }
}

impl Deref for FakeVerify {
    type Target = bridgekeeper::fake_verify::FakeVerify;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
