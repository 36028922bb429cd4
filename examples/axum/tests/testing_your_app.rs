//! How to test your own protected handlers (the README's "Testing your own app"): the
//! development provider of `auth-testkit` signs a named user in through the real routes
//! with a real HTTP client. Nothing is mocked.

use auth_testkit::DevProvider;

#[tokio::test]
async fn me_shows_the_signed_in_user_and_the_api_takes_a_token() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app_url = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = DevProvider::builder()
        .app(&app_url)
        .auto_approve(true)
        .api_audience("https://api.example.com")
        .start()
        .await
        .expect("provider");
    let config = provider
        .auth_config(&app_url)
        .with_api_audience("https://api.example.com")
        .build()
        .expect("config");
    let auth = auth_axum::Auth::discover(config).await.expect("auth");
    tokio::spawn(async move {
        axum::serve(
            listener,
            example_axum::app(
                auth,
                example_users::Users::open("sqlite::memory:").expect("users"),
                None,
            ),
        )
        .await
    });

    let browser = DevProvider::browser();
    let me = provider
        .sign_in(
            &browser,
            &format!("{app_url}/auth/login?return_to=/me"),
            "bob",
        )
        .await
        .expect("sign in");
    let me: serde_json::Value = me.json().await.expect("json");
    assert_eq!(me["email"], "bob@example.com");

    let api = reqwest::Client::new()
        .get(format!("{app_url}/api/me"))
        .bearer_auth(provider.access_token("alice", &["orders:read"]))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200);
}
