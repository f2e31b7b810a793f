//! The text log line, formatted for cheap: the same line `tracing-subscriber`'s full format
//! writes without colours (`2026-12-01T07:12:57.250708Z  INFO span{k="v"}: message k=v`),
//! written without the per-character work of the general path.
//!
//! What makes the stock format dear on a webhook is generic, not wrong: every string field
//! goes through `Debug` (a Unicode printability check per character), the message through a
//! per-character escaping writer, and the timestamp is worked out from scratch. Here a
//! string that needs no escaping is copied as it is and anything else falls back to exactly
//! what the stock format writes; the message is checked for terminal control characters in
//! one pass over its bytes; the date and time to the second are kept per thread.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format of text lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line;

/// The field format of text lines (events' fields and spans').
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFields;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_char(' ')?;
        writer.write_str(level_text(*event.metadata().level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

impl<'writer> FormatFields<'writer> for LineFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = LineVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// The level as the stock format pads it.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

thread_local! {
    /// The last second formatted on this thread, and its text (`2026-12-01T07:12:57`).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    /// Where a message is formatted before it is checked.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `2026-12-01T07:12:57.250708Z`, as the stock `SystemTime` timer writes it.
fn write_timestamp(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let Ok(mut cached) = cell.try_borrow_mut() else {
            return writer.write_str(&second_text(secs));
        };
        if cached.0 != secs {
            *cached = (secs, second_text(secs));
        }
        writer.write_str(&cached.1)
    })?;
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 8];
    digits[0] = b'.';
    digits[7] = b'Z';
    for slot in digits[1..7].iter_mut().rev() {
        *slot = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    // Only ASCII digits and punctuation were written.
    writer.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

fn second_text(secs: u64) -> String {
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

struct LineVisitor<'a> {
    writer: Writer<'a>,
    empty: bool,
    result: fmt::Result,
}

impl LineVisitor<'_> {
    /// Writes `name=` and then the value, spaced from what came before; `log.*` fields (the
    /// `log` crate's metadata, already shown) are skipped, as the stock format does.
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self.pad().and_then(|()| {
            self.writer.write_str(name)?;
            self.writer.write_char('=')?;
            value(&mut self.writer)
        });
    }

    fn pad(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.empty) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// The message, as written (not quoted), with terminal control characters escaped.
    fn message(&mut self, message: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = self.pad().and_then(|()| {
            if let Some(text) = message.as_str() {
                return write_sanitized(&mut self.writer, text);
            }
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut scratch) => {
                    scratch.clear();
                    scratch.write_fmt(message)?;
                    write_sanitized(&mut self.writer, &scratch)
                }
                Err(_) => write_sanitized(&mut self.writer, &message.to_string()),
            })
        });
    }
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message(format_args!("{value}"));
        } else {
            self.field(field, |w| write_quoted(w, value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Rare, and with a source list of its own: exactly as the stock format writes it.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let mut stock = DefaultVisitor::new(self.writer.by_ref(), self.empty);
        stock.record_error(field, value);
        self.empty = false;
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message(format_args!("{value:?}"));
        } else {
            self.field(field, |w| write!(w, "{value:?}"));
        }
    }
}

/// `"text"` exactly as `Debug` quotes it: copied as it is when no character needs escaping
/// (printable ASCII but `"` and `\`, and the `•` of masked numbers), through `Debug` else.
fn write_quoted(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let plain = text
        .chars()
        .all(|c| matches!(c, ' '..='~' if c != '"' && c != '\\') || c == '•');
    if plain {
        writer.write_char('"')?;
        writer.write_str(text)?;
        writer.write_char('"')
    } else {
        write!(writer, "{text:?}")
    }
}

/// Writes `text` with the characters a terminal could act on escaped, as the stock format
/// does for messages: ESC, BEL, BS, FF, DEL and the C1 controls.
fn write_sanitized(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    // C1 controls are U+0080..=U+009F: 0xC2 0x80..=0x9F in UTF-8.
    let clean = !text
        .as_bytes()
        .iter()
        .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2));
    if clean {
        return writer.write_str(text);
    }
    for c in text.chars() {
        match c {
            '\x1b' => writer.write_str("\\x1b")?,
            '\x07' => writer.write_str("\\x07")?,
            '\x08' => writer.write_str("\\x08")?,
            '\x0c' => writer.write_str("\\x0c")?,
            '\x7f' => writer.write_str("\\x7f")?,
            c if ('\u{80}'..='\u{9f}').contains(&c) => write!(writer, "\\u{{{:x}}}", c as u32)?,
            c => writer.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] io::Error);

    /// Logs the same events through the stock full format (without colours) and through
    /// [`Line`], and returns both outputs with the timestamps cut off.
    fn both(events: impl Fn()) -> (String, String) {
        let stock = Capture::default();
        let ours = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(stock.clone())
                    .with_target(false)
                    .with_ansi(false),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(ours.clone())
                    .with_ansi(false)
                    .event_format(Line)
                    .fmt_fields(LineFields),
            );
        tracing::subscriber::with_default(subscriber, events);
        let cut = |text: String| {
            text.lines()
                .map(|l| l.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        (cut(stock.text()), cut(ours.text()))
    }

    #[test]
    fn lines_are_the_stock_format_without_colours() {
        let (stock, ours) = both(|| {
            let span = tracing::info_span!(
                "webhook",
                kind = "incoming",
                carrier = "twilio",
                call_sid = tracing::field::Empty,
                caller = tracing::field::Empty
            );
            let _entered = span.enter();
            span.record("call_sid", "CA0123456789abcdef0123456789abcdef");
            span.record("caller", "+1415•••0002");
            tracing::info!(
                event = "call.code_sent",
                role = "participant",
                n = 3u64,
                d = -4i64,
                ok = true,
                "code sent, asking for it"
            );
            tracing::info!(event = "verify.outbox", to = %"+1415•••0002", channel = %"sms", "development mode: the code is at GET {}", "/dev/outbox");
            tracing::warn!(
                event = "quoted",
                text = "a \"quote\", a \\ and a\nnewline and é and \u{301}",
                "plain"
            );
            tracing::error!(
                event = "controls",
                "bell \x07 escape \x1b[31m del \x7f c1 \u{85} é"
            );
            tracing::warn!(
                error = &Outer(io::Error::other("inner")) as &(dyn std::error::Error + 'static),
                "with a source"
            );
            tracing::info!(r#type = "raw", float = 1.5f64, debug = ?Some("x"), "raw names");
            let inner = tracing::debug_span!("inner", n = 1);
            let _inner = inner.enter();
            tracing::error!("nested, no fields");
            tracing::info!(message = "a str message with \x1b", other = 1);
        });
        assert!(!stock.is_empty());
        assert_eq!(ours, stock);
    }

    #[test]
    fn timestamps_are_the_stock_timer_s() {
        for (secs, micros, text) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (1_796_109_177, 250_708, "2026-12-01T07:12:57.250708Z"),
            (951_782_400, 999_999, "2000-02-29T00:00:00.999999Z"),
        ] {
            let at = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            let mut out = String::new();
            write_timestamp(&mut out, at).unwrap();
            assert_eq!(out, text);
            // Again from the per-thread cache.
            out.clear();
            write_timestamp(&mut out, at).unwrap();
            assert_eq!(out, text);
        }
    }
}
