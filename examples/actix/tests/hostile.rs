//! The hostile-provider suite (`testing/acceptance`): the development provider
//! misbehaves, one case per test, and this example must refuse or accept as the OpenID
//! RP certification says.

mod support;

acceptance::hostile_suite!(support::serve);
