//! Metrics in the Prometheus text format, derived from the structured log events the server
//! already emits: a [`tracing_subscriber::Layer`] reads each event's `event` field (and the
//! few fields it needs) and moves counters and histograms through the `metrics` facade, into
//! one process-wide Prometheus recorder ([`render`] writes it out for `GET /metrics`). The
//! call sites only log; the metric names live here.
//!
//! The layer has its own filter, so that the counters move whatever `RUST_LOG` says (the
//! debug event `verify.request` reaches it without being logged). Webhook latencies and
//! refused (forged) webhooks are measured around the handlers instead ([`WebhookMeter`]):
//! the `webhook.forbidden` line is rate-limited and would undercount.

use crate::carrier::{CarrierKind, Hook};
use axum::http::StatusCode;
use axum::response::Response;
use metrics::{Counter, Histogram, SharedString, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Calls by how they ended: `joined`, `refused`, or the ending's reason (`code_expired`...).
pub const CALLS: &str = "bridgekeeper_calls_total";
/// Calls refused before any code was sent, by reason.
pub const REFUSALS: &str = "bridgekeeper_refusals_total";
/// Codes sent (first sends and resends), by verifier and channel.
pub const CODES_SENT: &str = "bridgekeeper_codes_sent_total";
/// Wrong codes typed.
pub const WRONG_CODES: &str = "bridgekeeper_wrong_codes_total";
/// Wrong guest PINs typed.
pub const WRONG_PINS: &str = "bridgekeeper_wrong_pins_total";
/// Callers joined to their conference, by role.
pub const JOINS: &str = "bridgekeeper_joins_total";
/// Failed requests to a verification provider or SMS sender, by provider and kind.
pub const UPSTREAM_ERRORS: &str = "bridgekeeper_upstream_errors_total";
/// Webhooks refused for a missing or wrong signature, by carrier.
pub const WEBHOOKS_FORBIDDEN: &str = "bridgekeeper_webhooks_forbidden_total";
/// Time to answer a webhook, by carrier and hook.
pub const WEBHOOK_DURATION: &str = "bridgekeeper_webhook_duration_seconds";
/// Time of one request to a verification provider or SMS sender, by provider and operation.
pub const UPSTREAM_DURATION: &str = "bridgekeeper_upstream_duration_seconds";
/// Whether the shared store answered its health check at the last scrape (1 or 0).
pub const STORE_UP: &str = "bridgekeeper_store_up";
/// Store operations that failed on the call path.
pub const STORE_ERRORS: &str = "bridgekeeper_store_errors_total";
/// Limits that stopped a call, by limit (`codes_per_number`, `code_budget`...).
pub const LIMITS: &str = "bridgekeeper_limits_total";
/// Participants on the line, per conference (set by the roster).
pub const PARTICIPANTS: &str = "bridgekeeper_participants";

/// Histogram buckets, in seconds: a webhook answers in milliseconds, a provider in tens to
/// hundreds of them, and nothing may take longer than the carrier's 15 seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed as the global `metrics` recorder on first use
/// (any number of apps in one process share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Only fails when another recorder was installed first (an embedding program's):
        // then /metrics shows what this recorder holds, which is nothing.
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

/// Every metric in the Prometheus text format.
pub fn render() -> String {
    handle().render()
}

/// Folds histogram samples into their buckets every [`UPKEEP_EVERY`], so that samples do not
/// pile up when nobody scrapes; runs until dropped or aborted.
pub async fn upkeep() {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tick.tick().await;
        handle().run_upkeep();
    }
}

/// Sets how many participants are on the line in `conference` (the name as the participants
/// file spells it; the exporter escapes it).
pub fn set_participants(conference: &str, n: usize) {
    handle();
    gauge!(PARTICIPANTS, "conference" => conference.to_owned()).set(n as f64);
}

/// Records whether the store `kind` (`memory`, `redis`) answered its health check.
pub fn set_store_up(kind: &'static str, up: bool) {
    handle();
    gauge!(STORE_UP, "store" => kind).set(if up { 1.0 } else { 0.0 });
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CALLS,
        "Calls by outcome: joined, refused, or the reason the call ended"
    );
    describe_counter!(
        REFUSALS,
        "Calls refused before any code was sent, by reason"
    );
    describe_counter!(CODES_SENT, "Codes sent, by verifier and channel");
    describe_counter!(WRONG_CODES, "Wrong codes typed");
    describe_counter!(WRONG_PINS, "Wrong guest PINs typed");
    describe_counter!(JOINS, "Callers joined to their conference, by role");
    describe_counter!(
        UPSTREAM_ERRORS,
        "Failed requests to a verification provider or SMS sender, by provider and kind"
    );
    describe_counter!(
        WEBHOOKS_FORBIDDEN,
        "Webhooks refused for a missing or wrong signature, by carrier"
    );
    describe_histogram!(
        WEBHOOK_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a webhook, by carrier and hook"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time of one request to a verification provider or SMS sender"
    );
    describe_gauge!(
        STORE_UP,
        "Whether the store answered its health check at the last scrape"
    );
    describe_counter!(
        STORE_ERRORS,
        "Store operations that failed on the call path"
    );
    describe_counter!(LIMITS, "Limits that stopped a call, by limit");
    describe_gauge!(PARTICIPANTS, "Participants on the line, per conference");
}

/// Times the webhooks of one carrier at one hook and counts those refused as forged (403).
/// The handles are looked up once, when the router is built.
#[derive(Clone)]
pub struct WebhookMeter {
    duration: Histogram,
    forbidden: Counter,
}

impl WebhookMeter {
    /// The meter for `carrier`'s webhooks at `hook`.
    pub fn new(carrier: CarrierKind, hook: Hook) -> Self {
        handle();
        let hook = match hook {
            Hook::Entry => "incoming",
            Hook::Code => "code",
        };
        Self {
            duration: histogram!(WEBHOOK_DURATION, "carrier" => carrier.as_str(), "hook" => hook),
            forbidden: counter!(WEBHOOKS_FORBIDDEN, "carrier" => carrier.as_str()),
        }
    }

    /// Runs the webhook, recording how long it took and whether it was refused as forged.
    pub async fn measure(&self, webhook: impl Future<Output = Response>) -> Response {
        let started = Instant::now();
        let response = webhook.await;
        self.duration.record(started.elapsed().as_secs_f64());
        if response.status() == StatusCode::FORBIDDEN {
            self.forbidden.increment(1);
        }
        response
    }
}

/// The layer that turns log events into metrics, with its own filter: only this crate's
/// events that carry an `event` field reach it, at any level `RUST_LOG` sets.
pub fn layer<S>() -> Filtered<EventMetrics, NamedEvents, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    EventMetrics.with_filter(NamedEvents)
}

/// Moves the metrics for each event it sees (see the module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventMetrics;

impl<S: Subscriber> Layer<S> for EventMetrics {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if !fields.skip {
            record(&fields);
        }
    }
}

/// The filter of [`layer`]: events of this crate with an `event` field; never spans.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamedEvents;

impl NamedEvents {
    fn wants(meta: &Metadata<'_>) -> bool {
        meta.is_event()
            && meta.target().starts_with("bridgekeeper")
            && meta.fields().field("event").is_some()
    }
}

impl<S> Filter<S> for NamedEvents {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        Self::wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::DEBUG)
    }
}

/// Whether an event name moves a metric (checked on the first field, so that other events
/// are skipped without copying anything).
fn mapped(event: &str) -> bool {
    matches!(
        event,
        "call.code_sent"
            | "call.joined"
            | "call.rejected"
            | "call.ended"
            | "call.wrong_code"
            | "call.wrong_pin"
            | "verify.request"
            | "verify.upstream_error"
            | "store.failed"
    ) || event.starts_with("limit.")
}

/// Moves the metrics one event stands for.
fn record(f: &Fields) {
    match f.event.as_str() {
        "call.code_sent" => {
            counter!(CODES_SENT, "verifier" => f.verifier.label(), "channel" => f.channel.label())
                .increment(1);
        }
        "call.joined" => {
            counter!(CALLS, "outcome" => "joined").increment(1);
            counter!(JOINS, "role" => f.role.label()).increment(1);
        }
        "call.rejected" => {
            counter!(CALLS, "outcome" => "refused").increment(1);
            counter!(REFUSALS, "reason" => f.reason.label()).increment(1);
        }
        "call.ended" => counter!(CALLS, "outcome" => f.reason.label()).increment(1),
        "call.wrong_code" => counter!(WRONG_CODES).increment(1),
        "call.wrong_pin" => counter!(WRONG_PINS).increment(1),
        "verify.request" => {
            if let Some(ms) = f.elapsed_ms {
                histogram!(
                    UPSTREAM_DURATION,
                    "verifier" => f.provider(),
                    "operation" => f.operation.label()
                )
                .record(ms as f64 / 1000.0);
            }
        }
        "verify.upstream_error" => {
            counter!(
                UPSTREAM_ERRORS,
                "verifier" => f.provider(),
                "kind" => upstream_kind(f.http_status)
            )
            .increment(1);
        }
        "store.failed" => counter!(STORE_ERRORS).increment(1),
        other => {
            if let Some(limit) = other.strip_prefix("limit.") {
                counter!(LIMITS, "limit" => limit.to_owned()).increment(1);
            }
        }
    }
}

/// What kind of failure an upstream error was, from the HTTP status it came with (none: the
/// request timed out or never got an answer).
pub fn upstream_kind(http_status: Option<u64>) -> &'static str {
    match http_status {
        None => "transport",
        Some(429) => "rate_limited",
        Some(401 | 403) => "credentials",
        Some(404) => "not_found",
        Some(400..=499) => "client_error",
        Some(500..=599) => "server_error",
        Some(_) => "bad_answer",
    }
}

/// The fields of one event that the metrics use, copied into fixed buffers (no allocation).
#[derive(Default)]
struct Fields {
    event: Text,
    reason: Text,
    role: Text,
    verifier: Text,
    sender: Text,
    channel: Text,
    operation: Text,
    http_status: Option<u64>,
    elapsed_ms: Option<u64>,
    /// The event moves no metric: the rest of its fields are not read.
    skip: bool,
}

impl Fields {
    /// The provider a `verify.*` event is about: the verifier, or the sender of the built-in
    /// engine.
    fn provider(&self) -> SharedString {
        if self.verifier.is_empty() {
            self.sender.label()
        } else {
            self.verifier.label()
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut Text> {
        match name {
            "reason" => Some(&mut self.reason),
            "role" => Some(&mut self.role),
            "verifier" => Some(&mut self.verifier),
            "sender" => Some(&mut self.sender),
            "channel" => Some(&mut self.channel),
            "operation" => Some(&mut self.operation),
            _ => None,
        }
    }

    fn number(&mut self, name: &str, value: u64) {
        match name {
            "http_status" => self.http_status = Some(value),
            "elapsed_ms" => self.elapsed_ms = Some(value),
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "event" {
            self.event.set(value);
            self.skip = !mapped(value);
        } else if !self.skip
            && let Some(slot) = self.slot(field.name())
        {
            slot.set(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.skip {
            return;
        }
        if let Some(slot) = self.slot(field.name()) {
            // `%value` fields (a role, an operation) arrive here; their Debug is their Display.
            slot.clear();
            let _ = write!(slot, "{value:?}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.skip {
            self.number(field.name(), value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.skip
            && let Ok(value) = u64::try_from(value)
        {
            self.number(field.name(), value);
        }
    }
}

/// A short text field value, cut at [`Text::CAP`] bytes (on a character boundary): the
/// values the metrics read are names from the code, a few words long.
struct Text {
    len: usize,
    bytes: [u8; Text::CAP],
}

impl Default for Text {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; Text::CAP],
        }
    }
}

impl Text {
    const CAP: usize = 48;

    fn set(&mut self, value: &str) {
        self.clear();
        let _ = self.write_str(value);
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// The value as a label; `unknown` when the event did not carry it.
    fn label(&self) -> SharedString {
        if self.is_empty() {
            SharedString::const_str("unknown")
        } else {
            SharedString::from(self.as_str().to_owned())
        }
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = Self::CAP - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusRecorder;
    use tracing_subscriber::layer::SubscriberExt;

    fn recorder() -> PrometheusRecorder {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), BUCKETS)
            .unwrap()
            .build_recorder()
    }

    /// What a fresh recorder renders after `emit` ran under the metrics layer (and a log
    /// layer that lets nothing through, as `RUST_LOG=off` would).
    fn rendered(emit: impl FnOnce()) -> String {
        let recorder = recorder();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(LevelFilter::OFF),
            )
            .with(layer());
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, emit);
        });
        recorder.handle().render()
    }

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn call_events_move_their_counters() {
        let role = crate::domain::Role::Moderator;
        let text = rendered(|| {
            tracing::info!(
                event = "call.code_sent",
                role = %role,
                verifier = "twilio-verify",
                channel = "sms",
                "code sent"
            );
            tracing::info!(event = "call.wrong_code", wrong = 1, "wrong code");
            tracing::info!(event = "call.joined", role = %role, "joining");
            tracing::info!(event = "call.joined", role = "guest", "joining");
            tracing::info!(event = "call.rejected", reason = "not_listed", "refused");
            tracing::info!(event = "call.ended", reason = "code_expired", "ended");
            tracing::info!(event = "call.wrong_pin", wrong = 1, "wrong PIN");
            tracing::warn!(event = "store.failed", error = "down", "store unavailable");
            tracing::info!(event = "limit.codes_per_number", "spent");
        });
        for line in [
            r#"bridgekeeper_codes_sent_total{verifier="twilio-verify",channel="sms"} 1"#,
            "bridgekeeper_wrong_codes_total 1",
            r#"bridgekeeper_joins_total{role="moderator"} 1"#,
            r#"bridgekeeper_joins_total{role="guest"} 1"#,
            r#"bridgekeeper_calls_total{outcome="joined"} 2"#,
            r#"bridgekeeper_calls_total{outcome="refused"} 1"#,
            r#"bridgekeeper_refusals_total{reason="not_listed"} 1"#,
            r#"bridgekeeper_calls_total{outcome="code_expired"} 1"#,
            "bridgekeeper_wrong_pins_total 1",
            "bridgekeeper_store_errors_total 1",
            r#"bridgekeeper_limits_total{limit="codes_per_number"} 1"#,
        ] {
            assert!(has(&text, line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn debug_upstream_requests_are_timed_whatever_the_log_level() {
        let text = rendered(|| {
            tracing::debug!(
                event = "verify.request",
                verifier = "telnyx-verify",
                operation = %"check",
                http_status = Some(200u16),
                elapsed_ms = 120u64,
                "call"
            );
            tracing::debug!(
                event = "verify.request",
                operation = "send",
                sender = "twilio-sms",
                http_status = None::<u16>,
                elapsed_ms = 3u64,
                "call"
            );
            tracing::warn!(
                event = "verify.upstream_error",
                operation = "send",
                sender = "twilio-sms",
                elapsed_ms = 3u64,
                "failed"
            );
            tracing::error!(
                event = "verify.upstream_error",
                verifier = "twilio-verify",
                http_status = Some(401u16),
                "failed"
            );
        });
        for line in [
            r#"bridgekeeper_upstream_duration_seconds_bucket{verifier="telnyx-verify",operation="check",le="0.25"} 1"#,
            r#"bridgekeeper_upstream_duration_seconds_bucket{verifier="telnyx-verify",operation="check",le="0.1"} 0"#,
            r#"bridgekeeper_upstream_duration_seconds_count{verifier="twilio-sms",operation="send"} 1"#,
            r#"bridgekeeper_upstream_errors_total{verifier="twilio-sms",kind="transport"} 1"#,
            r#"bridgekeeper_upstream_errors_total{verifier="twilio-verify",kind="credentials"} 1"#,
        ] {
            assert!(has(&text, line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn other_events_and_spans_move_nothing() {
        let text = rendered(|| {
            let span = tracing::info_span!("webhook", kind = "incoming");
            let _entered = span.enter();
            tracing::info!(event = "call.repeated", reason = "x", "repeated");
            tracing::warn!(event = "webhook.forbidden", carrier = "twilio", "forbidden");
            tracing::info!(reason = "no event field", "plain line");
        });
        assert!(!text.contains("bridgekeeper_"), "{text}");
    }

    #[test]
    fn upstream_failures_are_sorted_by_status() {
        assert_eq!(upstream_kind(None), "transport");
        assert_eq!(upstream_kind(Some(429)), "rate_limited");
        assert_eq!(upstream_kind(Some(401)), "credentials");
        assert_eq!(upstream_kind(Some(403)), "credentials");
        assert_eq!(upstream_kind(Some(404)), "not_found");
        assert_eq!(upstream_kind(Some(422)), "client_error");
        assert_eq!(upstream_kind(Some(503)), "server_error");
        assert_eq!(upstream_kind(Some(200)), "bad_answer");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let mut text = Text::default();
        let long = "é".repeat(40);
        text.set(&long);
        assert_eq!(text.as_str(), "é".repeat(Text::CAP / 2));
        text.set("sms");
        assert_eq!(text.as_str(), "sms");
    }

    #[test]
    fn conference_names_are_escaped_in_labels() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            set_participants("Board \"A\"\nroom", 3);
        });
        let text = recorder.handle().render();
        assert!(
            has(
                &text,
                r#"bridgekeeper_participants{conference="Board \"A\"\nroom"} 3"#
            ),
            "{text}"
        );
    }
}
