//! The shared authorization suite (`testing/acceptance`): organizations, roles,
//! permissions, guards, step-up sign-in and the callback's organization, `acr` and
//! hosted-domain checks, run against this example.

mod support;

acceptance::authorization_suite!(support::serve);
