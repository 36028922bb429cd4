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
