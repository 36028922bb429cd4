//! Nothing secret in TRACE logs, pages or `Debug` output (`testing/acceptance`'s leak
//! scenario), in a test binary of its own: it captures every crate's logs.

mod support;

acceptance::leaks_suite!(support::serve);
