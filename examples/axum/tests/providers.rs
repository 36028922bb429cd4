//! The shared several-providers suite (`testing/acceptance`): two development
//! providers with their own keys behind one app, the chooser, and every mix-up variant
//! refused, run against this example.

mod support;

acceptance::providers_suite!(support::serve);
