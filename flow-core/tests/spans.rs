//! `tracing`: one span per run and one per flow attempt, inside the run's span.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{id, ok};
use flow_core::{Flow, FlowContext, RetryPolicy};
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as it was opened: its name, its fields as text, and its parent's name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opened {
    name: &'static str,
    fields: Vec<(String, String)>,
    parent: Option<&'static str>,
}

/// Records every span opened.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Opened>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|p| p.name());
        self.0.lock().unwrap().push(Opened {
            name: attrs.metadata().name(),
            fields,
            parent,
        });
    }
}

fn field<'a>(span: &'a Opened, name: &str) -> Option<&'a str> {
    span.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A run opens one `run` span naming the run; each attempt of each flow opens an `attempt`
/// span inside it, naming the flow and the attempt.
#[tokio::test(start_paused = true)]
async fn a_span_per_run_and_per_attempt() {
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let ctx = FlowContext::new();
    ctx.register_flow(ok("a", json!(1)).build()).unwrap();
    ctx.register_flow(
        Flow::async_fn(id("twice"), |input| async move {
            if input.attempt() == 1 {
                return Err("first attempt fails".to_owned());
            }
            Ok(Value::Null)
        })
        .retry(RetryPolicy::fixed(1, Duration::from_secs(1)))
        .requires(id("a"))
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert!(summary.is_success(), "{summary:?}");

    let opened = recorder.0.lock().unwrap().clone();
    let runs: Vec<_> = opened.iter().filter(|s| s.name == "run").collect();
    assert_eq!(runs.len(), 1, "{opened:#?}");
    assert_eq!(field(runs[0], "run_id"), Some(summary.run_id.as_str()));
    let mut attempts: Vec<(String, String)> = opened
        .iter()
        .filter(|s| s.name == "attempt")
        .map(|s| {
            assert_eq!(s.parent, Some("run"), "{s:?}");
            (
                field(s, "flow").unwrap_or_default().to_owned(),
                field(s, "attempt").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [("a", "1"), ("twice", "1"), ("twice", "2")].map(|(f, a)| (f.to_owned(), a.to_owned()))
    );
}
