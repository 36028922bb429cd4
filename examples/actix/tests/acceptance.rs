//! The shared acceptance suite (`testing/acceptance`), run against this example.

mod support;

acceptance::acceptance_suite!(support::serve);
