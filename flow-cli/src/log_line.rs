//! The form of a log event at the default verbosity: a warning or an error from the log reads
//! as flow's own lines do — `flow: warning: MESSAGE (field: value, ...)`, with the fields of
//! the spans it happened in first (the flow and its attempt) — without a timestamp, a level
//! or a module path, which `-v` and `RUST_LOG` keep for debugging. Every value is made safe
//! for a terminal ([`terminal::safe`]): it may hold a path or a command's words.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::terminal;

/// Formats an event as one line of flow's own ([`FormatEvent`]).
#[derive(Debug, Clone, Copy)]
pub struct FlowLine {
    /// Whether `error:` is red, as in flow's own error line.
    pub colour: bool,
}

/// Formats fields as `name: value, name: value` ([`FormatFields`]), for spans and events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readable;

impl<S, N> FormatEvent<S, N> for FlowLine
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
        let level = *event.metadata().level();
        let kind = match level {
            Level::ERROR => terminal::red("error:", self.colour),
            Level::WARN => "warning:".to_owned(),
            other => format!("{}:", other.as_str().to_ascii_lowercase()),
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut context: Vec<String> = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(own) = extensions.get::<FormattedFields<N>>() {
                    if !own.fields.is_empty() {
                        context.push(own.fields.clone());
                    }
                }
            }
        }
        context.extend(fields.rest);
        write!(writer, "flow: {kind} {}", terminal::safe(&fields.message))?;
        if !context.is_empty() {
            let sep = if fields.message.is_empty() { "" } else { " " };
            write!(writer, "{sep}({})", context.join(", "))?;
        }
        writeln!(writer)
    }
}

impl<'writer> FormatFields<'writer> for Readable {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut all = Fields::default();
        fields.record(&mut all);
        if !all.message.is_empty() {
            all.rest
                .insert(0, terminal::safe(&all.message).into_owned());
        }
        writer.write_str(&all.rest.join(", "))
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if !current.fields.is_empty() {
            current.fields.push_str(", ");
        }
        self.format_fields(current.as_writer(), fields)
    }
}

/// An event's message, and its other fields as `name: value`, each made safe to print.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push(format!(
                "{}: {}",
                words(field.name()),
                terminal::safe(value)
            ));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, &terminal::chain(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.push(field, &text);
    }
}

/// A field's name in words: `pgid` as `process group`, `command_pid` as `command pid`.
fn words(name: &str) -> String {
    match name {
        "pgid" => "process group".to_owned(),
        "pid" => "process".to_owned(),
        "run_id" => "run".to_owned(),
        "dir" => "folder".to_owned(),
        name => name.trim_start_matches("r#").replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each event logged by `log`, as the default verbosity prints it.
    fn lines(colour: bool, log: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = std::sync::Arc::clone(&out);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::WARN)
            .fmt_fields(Readable)
            .event_format(FlowLine { colour })
            .with_writer(move || Sink(std::sync::Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_warning_reads_as_flows_own_with_its_spans_fields_first() {
        let text = lines(false, || {
            let span = tracing::warn_span!("attempt", flow = "sort.00", attempt = 2);
            let _in = span.enter();
            tracing::warn!(pgid = 42, command_pid = 7, "the command left processes");
            tracing::error!(path = "a\nb\u{1b}[2J", "cannot write\u{1b}]0;x");
            tracing::warn!(count = 3);
        });
        assert_eq!(
            text,
            "flow: warning: the command left processes (flow: sort.00, attempt: 2, process \
             group: 42, command pid: 7)\n\
             flow: error: cannot write\\u{1b}]0;x (flow: sort.00, attempt: 2, path: \
             a\\nb\\u{1b}[2J)\n\
             flow: warning: (flow: sort.00, attempt: 2, count: 3)\n"
        );
    }

    #[test]
    fn an_error_is_red_when_stderr_is_coloured() {
        let text = lines(true, || tracing::error!("it broke"));
        assert_eq!(text, "flow: \u{1b}[1;31merror:\u{1b}[0m it broke\n");
    }

    #[test]
    fn a_span_field_recorded_later_joins_the_others() {
        let text = lines(false, || {
            let span = tracing::warn_span!("attempt", flow = "a", attempt = tracing::field::Empty);
            span.record("attempt", 3);
            let _in = span.enter();
            tracing::warn!("x");
        });
        assert_eq!(text, "flow: warning: x (flow: a, attempt: 3)\n");
    }
}
