//! The real-browser scenario (`testing/acceptance`): headless Chromium signs in
//! through the development provider's page, reloads, signs out.

mod support;

#[tokio::test]
async fn real_browser_signs_in_reloads_and_signs_out() {
    acceptance::real_browser_signs_in_reloads_and_signs_out(support::serve, "actix").await;
}

#[tokio::test]
async fn real_browser_over_https_keeps_host_prefixed_secure_cookies() {
    acceptance::real_browser_over_https_keeps_host_prefixed_secure_cookies(support::serve).await;
}
