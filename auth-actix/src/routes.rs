//! The auth routes: login, signup, callback, logout and back-channel logout. Each one
//! only translates between actix-web and `auth-core`'s HTTP edge.

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use auth_core::Auth;

use crate::convert;

/// The auth routes under the configured prefix (default `/auth`): `GET login`,
/// `GET signup`, `GET callback`, `GET logout`, `POST backchannel-logout`. Pass it to
/// `App::configure`, and wrap the app in [`crate::auth_middleware`].
pub fn auth_routes(auth: &Auth) -> impl FnOnce(&mut ServiceConfig) + use<> {
    let auth = auth.clone();
    move |cfg: &mut ServiceConfig| {
        let p = auth.config().route_prefix().to_string();
        let data = web::Data::new(auth);
        cfg.service(
            web::scope(&p)
                .app_data(data)
                .route("/login", web::get().to(login))
                .route("/signup", web::get().to(signup))
                .route("/callback", web::get().to(callback))
                .route("/logout", web::get().to(logout))
                .route("/backchannel-logout", web::post().to(backchannel)),
        );
    }
}

async fn login(auth: web::Data<Auth>, req: HttpRequest) -> HttpResponse {
    convert::response(&auth.login_response(&convert::uri(&req), &convert::headers(&req), false))
}

async fn signup(auth: web::Data<Auth>, req: HttpRequest) -> HttpResponse {
    convert::response(&auth.login_response(&convert::uri(&req), &convert::headers(&req), true))
}

async fn callback(auth: web::Data<Auth>, req: HttpRequest) -> HttpResponse {
    let response = auth
        .callback_response(&convert::uri(&req), &convert::headers(&req))
        .await;
    convert::response(&response)
}

async fn logout(auth: web::Data<Auth>, req: HttpRequest) -> HttpResponse {
    convert::response(&auth.logout_response(&convert::headers(&req)).await)
}

async fn backchannel(auth: web::Data<Auth>, body: Bytes) -> HttpResponse {
    convert::response(&auth.backchannel_response(&body).await)
}
