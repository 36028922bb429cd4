//! The flows, each a part of [`crate::Auth`]'s work: the callback (with the provider's
//! protocol for the code exchange), the session checked and refreshed on each request,
//! logout (RP-initiated and back-channel), pending logins, and the app's own calls to
//! the provider (client credentials, UserInfo).

pub(crate) mod app_token;
pub(crate) mod authenticate;
pub(crate) mod bff;
pub(crate) mod callback;
pub(crate) mod control;
pub(crate) mod health;
pub(crate) mod logout;
pub(crate) mod pending;
pub(crate) mod protocol;
pub(crate) mod refresh;
pub(crate) mod sign_in;
