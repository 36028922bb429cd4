//! The auth routes, registered from `auth-core`'s route table: each answers through
//! [`Auth::respond`].

use actix_web::guard::{self, Guard};
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{Handler, HttpRequest, HttpResponse};
use auth_core::Auth;
use auth_core::adapter::Route;

use crate::convert;

/// The auth routes under the configured prefix (default `/auth`): `GET login`,
/// `GET signup`, `GET callback`, `GET logout`, `POST backchannel-logout`, `GET jwks`
/// (with several providers, the chooser at `login` and `signup`, and `login/{id}`,
/// `signup/{id}`, `callback/{id}`, `backchannel-logout/{id}`). Pass it to
/// `App::configure`, and wrap the app in [`crate::auth_middleware`]. It takes an
/// [`Auth`] or a reference to one, as `auth_middleware` does.
pub fn auth_routes<A: Into<Auth>>(auth: A) -> impl FnOnce(&mut ServiceConfig) + use<A> {
    let auth = auth.into();
    move |cfg: &mut ServiceConfig| {
        let data = web::Data::new(auth.clone());
        for route in auth.routes() {
            cfg.service(
                web::resource(route.path())
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(route.body_limit()))
                    .route(web::route().guard(methods(&route)).to(answer(&route))),
            );
        }
    }
}

/// A guard that lets through the route's methods only.
fn methods(route: &Route) -> impl Guard + use<> {
    let allowed: Vec<_> = route.methods().iter().map(convert::method).collect();
    guard::fn_guard(move |ctx| allowed.contains(&ctx.head().method))
}

/// The handler of the route: its endpoint's answer.
fn answer(
    route: &Route,
) -> impl Handler<(web::Data<Auth>, HttpRequest, Bytes), Output = HttpResponse> + use<> {
    let endpoint = route.endpoint();
    move |auth: web::Data<Auth>, req: HttpRequest, body: Bytes| async move {
        convert::response(&auth.respond(endpoint, &convert::request(&req, body)).await)
    }
}
