//! Typed settings, read once from flags and environment variables and passed down. No other
//! module reads the environment.

use clap::Args;
use std::path::PathBuf;
use url::Url;

/// `bridgekeeper serve`: every flag also reads an environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind (host:port).
    #[arg(long, env = "BRIDGEKEEPER_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: String,

    /// The allowlist of conferences and participants.
    #[arg(
        long,
        env = "BRIDGEKEEPER_PARTICIPANTS",
        default_value = "participants.toml"
    )]
    pub participants: PathBuf,

    /// Base URL the carrier uses to reach this server (an ngrok https URL, say); defaults to
    /// http://<listen>.
    #[arg(long, env = "BRIDGEKEEPER_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<Url>,
}

/// Accepts only absolute http(s) URLs with a host, without query or fragment.
fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    Ok(url)
}

/// How codes are sent and webhooks trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Local verifier, unauthenticated webhooks, `/dev/outbox` on.
    Development,
}

/// The server's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub listen: String,
    /// The participants file.
    pub participants: PathBuf,
    /// The carrier-facing base URL; `None` means `http://<bound address>`.
    pub public_url: Option<Url>,
    /// Development or production.
    pub mode: Mode,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Twilio variables are set, but this build only has development mode.
    #[error(
        "{0} is set, but this build of bridgekeeper has only development mode (local verifier); \
         unset the TWILIO_* variables to run it"
    )]
    TwilioNotSupported(&'static str),
}

impl Settings {
    /// Checks the parsed flags.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let twilio = [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_VERIFY_SERVICE_SID",
        ];
        if let Some(name) = twilio
            .into_iter()
            .find(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        {
            return Err(ConfigError::TwilioNotSupported(name));
        }
        Ok(Self {
            listen: args.listen,
            participants: args.participants,
            public_url: args.public_url,
            mode: Mode::Development,
        })
    }

    /// Development settings for a participants file, on a random loopback port.
    pub fn development(participants: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            participants,
            public_url: None,
            mode: Mode::Development,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_must_be_absolute_http() {
        assert!(parse_public_url("https://abc.ngrok.app").is_ok());
        assert!(parse_public_url("http://127.0.0.1:5000/").is_ok());
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("abc.ngrok.app").is_err());
        assert!(parse_public_url("https://x/?a=1").is_err());
    }
}
