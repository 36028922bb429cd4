//! The shared vendors suite (`testing/acceptance`): the callback's error pages as
//! Scalekit documents them, and Auth0's invitation links, run against this example.

mod support;

acceptance::vendors_suite!(support::serve);
