//! The shared enterprise-client suite (`testing/acceptance`): private_key_jwt and
//! pushed authorization requests against the real oidc-provider in its FAPI 2.0
//! configuration, run against this example.

mod support;

acceptance::fapi_suite!(support::serve);
