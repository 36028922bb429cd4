//! A single-page app's calls to a remote API, forwarded with the session's access token
//! ([`forward_routes`]).

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use auth_core::RemoteApi;
use auth_core::adapter::Requirement;

use crate::extract::{AuthExt as _, AuthUser};
use crate::{Require, convert};

/// Every method under `{prefix}/{path}` forwarded to `api` (`{prefix}/x?y` to the
/// API's base URL + `x?y`) with the signed-in user's access token, through
/// [`Auth::forward`](auth_core::Auth::forward): the request needs the session and the
/// anti-forgery header ([`Requirement::anti_forgery_header`], JSON 401/403), and a
/// body over [`RemoteApi::max_body`] gets 413. Pass it to `App::configure`, inside
/// [`crate::auth_middleware`].
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
        let limit = api.max_body();
        cfg.service(
            web::resource(format!("{prefix}/{{path:.*}}"))
                .app_data(web::Data::new(api))
                .app_data(web::Data::new(Prefix(prefix)))
                .app_data(web::PayloadConfig::new(limit))
                .wrap(Require::new(Requirement::anti_forgery_header()))
                .route(web::route().to(forward)),
        );
    }
}

/// The forwarding prefix of the resource.
struct Prefix(String);

async fn forward(
    req: HttpRequest,
    user: AuthUser,
    api: web::Data<RemoteApi>,
    prefix: web::Data<Prefix>,
    body: Bytes,
) -> HttpResponse {
    let Some(auth) = req.auth() else {
        return HttpResponse::InternalServerError().finish();
    };
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
            body.to_vec(),
        )
        .await;
    convert::response_bytes(answer)
}
