//! Nothing secret in TRACE logs, pages or `Debug` output (`testing/acceptance`'s leak
//! scenario), in a test binary of its own: it captures every crate's logs.

mod support;

#[tokio::test]
async fn no_secret_in_trace_logs_pages_or_debug() {
    acceptance::no_secret_in_trace_logs_pages_or_debug(support::serve).await;
}
