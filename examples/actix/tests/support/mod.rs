//! How the tests serve this example.

use std::net::TcpListener;

use acceptance::Running;
use auth_actix::Auth;

pub(crate) fn serve(auth: Auth, listener: TcpListener) -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = example_actix::server(
                auth,
                example_users::Users::open("sqlite::memory:").expect("users"),
                None,
                listener,
            )
            .expect("server");
            tx.send(server.handle()).expect("handle");
            server.await.expect("serve");
        });
    });
    let handle = rx.recv().expect("server started");
    Running::new(move || {
        // Sends the stop command now; the server thread winds down on its own.
        drop(handle.stop(false));
    })
}

/// Starts this example's binary (its `main`, as a deployment runs it) with `env`.
#[allow(dead_code)] // Used by the suites binary only.
pub(crate) fn launch(env: &[(String, String)]) -> Running {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_example-actix"));
    command.envs(env.iter().map(|(k, v)| (k, v)));
    Running::process(command)
}
