//! How the tests serve this example.

use std::net::TcpListener;

use acceptance::Running;
use auth_axum::Auth;

pub(crate) fn serve(auth: Auth, listener: TcpListener) -> Running {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            example_axum::app(
                auth,
                example_users::Users::open("sqlite::memory:").expect("users"),
                None,
            ),
        )
        .await
        .expect("serve");
    });
    Running::new(move || task.abort())
}

/// Starts this example's binary (its `main`, as a deployment runs it) with `env`.
#[allow(dead_code)] // Used by the suites binary only.
pub(crate) fn launch(env: &[(String, String)]) -> Running {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_example-axum"));
    command.envs(env.iter().map(|(k, v)| (k, v)));
    Running::process(command)
}
