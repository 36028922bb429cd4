//! The real-browser scenarios (`testing/acceptance`): headless Chromium signs in
//! through the development provider's page, reloads, signs out; and the same over
//! https with the `__Host-` cookies.

mod support;

acceptance::browser_suite!(support::serve);
