//! Events a flow's body emits are in its attempt's span, which is enabled at the `warn`
//! level: a warning names the flow and the attempt, whether the body runs on the run's
//! thread (async) or on a thread of its own (blocking), and so does the thread pool's warning
//! that a blocking closure was abandoned.

use std::io::Write;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use flow_core::{Flow, FlowContext, FlowId};
use serde_json::json;

/// Where the subscriber writes: a buffer shared with the test.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn warnings_of_async_and_blocking_bodies_name_their_attempt() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    // This test is alone in its binary: the subscriber is global, so that the blocking
    // body's thread writes to it too.
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let ctx = FlowContext::builder().workflow("spans").build();
    ctx.register_flow(
        Flow::async_fn(FlowId::new("waits").unwrap(), |_| async {
            tokio::task::yield_now().await;
            tracing::warn!("from the async body");
            Ok::<_, String>(json!(1))
        })
        .build(),
    )
    .unwrap();
    ctx.register_flow(
        Flow::blocking(FlowId::new("blocks").unwrap(), |_| {
            tracing::warn!("from the blocking body");
            Ok::<_, String>(json!(2))
        })
        .build(),
    )
    .unwrap();
    // Times out, and its closure runs on until the test ends.
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    ctx.register_flow(
        Flow::blocking(FlowId::new("stuck").unwrap(), move |_| {
            let _ = released.lock().unwrap().recv();
            Ok::<_, String>(json!(3))
        })
        .timeout(Duration::from_millis(50))
        .build(),
    )
    .unwrap();
    let summary = ctx.run().await.unwrap();
    assert_eq!((summary.counts.completed, summary.counts.failed), (2, 1));
    drop(release);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for line in [
        "attempt{flow=waits attempt=1}: attempt_span: from the async body",
        "attempt{flow=blocks attempt=1}: attempt_span: from the blocking body",
        "attempt{flow=stuck attempt=1}: flow_pool::thread: a blocking closure was abandoned \
         (it timed out after 50ms)",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}
