//! One identity provider: its settings (`config`), discovery, its state at run time
//! (endpoints, keys, `oauth2` client, client authentication), the vendors' presets, the
//! authorization request's options and URL, and where a provider states organizations,
//! roles and permissions (`identity`).

pub(crate) mod authorize;
pub(crate) mod config;
pub(crate) mod discovery;
pub(crate) mod identity;
pub(crate) mod presets;
pub(crate) mod state;
pub(crate) mod token;
pub(crate) mod workos;
