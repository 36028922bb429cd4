//! A single-page app's calls to a remote API, forwarded with the session's access token
//! ([`forward_routes`]).

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use auth_core::adapter::Requirement;
use auth_core::{ForwardBody, RemoteApi};
use futures_util::StreamExt as _;

use crate::extract::{AuthExt as _, AuthUser};
use crate::{Require, convert};

/// Every method under `{prefix}/{path}` forwarded to `api` (`{prefix}/x?y` to the
/// API's base URL + `x?y`) with the signed-in user's access token, through
/// [`Auth::forward`](auth_core::Auth::forward): the request needs the session and the
/// anti-forgery header ([`Requirement::anti_forgery_header`], JSON 401/403); bodies
/// stream both ways within [`RemoteApi::max_body`] (413 for a longer request). Pass it
/// to `App::configure`, inside [`crate::auth_middleware`].
///
/// ```no_run
/// # fn routes() -> Result<(), auth_actix::auth_core::ConfigError> {
/// let api = auth_actix::auth_core::RemoteApi::new("https://api.example.com/v1")?;
/// let app = actix_web::App::new().configure(auth_actix::forward_routes("/bff/remote", api));
/// # Ok(())
/// # }
/// ```
pub fn forward_routes(prefix: &str, api: RemoteApi) -> impl FnOnce(&mut ServiceConfig) + use<> {
    let prefix = prefix.trim_end_matches('/').to_owned();
    move |cfg: &mut ServiceConfig| {
        cfg.service(
            web::resource(format!("{prefix}/{{path:.*}}"))
                .app_data(web::Data::new(api))
                .app_data(web::Data::new(Prefix(prefix)))
                .wrap(Require::new(Requirement::anti_forgery_header()))
                .route(web::route().to(forward)),
        );
    }
}

/// The forwarding prefix of the resource.
struct Prefix(String);

/// Chunks of the request body in flight between actix-web's payload (which stays on
/// its thread) and the forwarder.
const IN_FLIGHT: usize = 8;

async fn forward(
    req: HttpRequest,
    user: AuthUser,
    api: web::Data<RemoteApi>,
    prefix: web::Data<Prefix>,
    mut payload: web::Payload,
) -> HttpResponse {
    let Some(auth) = req.auth() else {
        return HttpResponse::InternalServerError().finish();
    };
    // actix-web's payload is not `Send`: a task on this thread hands its chunks over.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(IN_FLIGHT);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| e.to_string());
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let body = ForwardBody::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let head = convert::request(&req, Bytes::new());
    let path_and_query = head.uri().path_and_query().map_or("/", |p| p.as_str());
    let answer = auth
        .forward(
            &user,
            &api,
            &prefix.0,
            head.method(),
            path_and_query,
            head.headers(),
            body,
        )
        .await;
    convert::response_stream(answer)
}
