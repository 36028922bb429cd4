//! The authorization-code flow: authorize, callback, refresh and logout.

pub(crate) mod authorize;
pub(crate) mod callback;
pub(crate) mod logout;
pub(crate) mod pending;
pub(crate) mod refresh;
