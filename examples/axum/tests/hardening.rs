//! The shared hardening suite (`testing/acceptance`): logout and login CSRF,
//! sub-resources, body limits, `max_age`, run against this example.

mod support;

acceptance::hardening_suite!(support::serve);
