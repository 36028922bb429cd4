//! Every shared suite of `testing/acceptance`, run against this example in one test
//! binary (one build and link, and the servers a suite shares are started once):
//!
//! - `contract`: the example contract against the real oidc-provider, with Redis
//!   (single, TLS, Cluster, Sentinel) and the development provider;
//! - `hostile`: the development provider misbehaves, one case per test, and the app
//!   must refuse or accept as the OpenID RP certification says;
//! - `hardening`: logout and login CSRF, sub-resources, body limits, `max_age`;
//! - `authorization`: organizations, roles, permissions, guards, step-up, and the
//!   callback's organization, `acr` and hosted-domain checks;
//! - `vendors`: the callback's error pages as Scalekit documents them, Auth0's
//!   invitation links, WorkOS User Management;
//! - `providers`: several providers behind one app, the chooser, every mix-up refused;
//! - `referees`: the vendors' own SDKs (`referees/`) against this library and
//!   auth-testkit's emulations;
//! - `fapi`: private_key_jwt, PAR and DPoP against oidc-provider in FAPI 2.0 mode;
//! - `accounts`: the example's own users (SQLite), the sign-in hook's refusals, the
//!   admin's and the user's session control, the audit log, refresh-token revocation,
//!   against this example's binary started with its environment;
//! - `bff`: a single-page app's calls forwarded to a remote API with the user's token,
//!   against this example's binary and a recording HTTP server;
//! - `operations`: what an operator runs: `GET /metrics` by value after each event,
//!   against this example's binary;
//! - `browser`: headless Chromium signs in through the development provider's page,
//!   reloads, signs out, over http and over https with the `__Host-` cookies.
//!
//! The leak scenario has a binary of its own (`leaks.rs`): it captures every crate's
//! logs.

mod support;

mod accounts {
    ::acceptance::accounts_suite!(crate::support::launch);
}
mod bff {
    ::acceptance::bff_suite!(crate::support::launch);
}
mod operations {
    ::acceptance::operations_suite!(crate::support::launch);
}
mod contract {
    ::acceptance::acceptance_suite!(crate::support::serve);
}
mod hostile {
    ::acceptance::hostile_suite!(crate::support::serve);
}
mod hardening {
    ::acceptance::hardening_suite!(crate::support::serve);
}
mod authorization {
    ::acceptance::authorization_suite!(crate::support::serve);
}
mod vendors {
    ::acceptance::vendors_suite!(crate::support::serve);
}
mod referees {
    ::acceptance::referees_suite!(crate::support::serve);
}
mod providers {
    ::acceptance::providers_suite!(crate::support::serve);
}
mod fapi {
    ::acceptance::fapi_suite!(crate::support::serve);
}
mod browser {
    ::acceptance::browser_suite!(crate::support::serve);
}
