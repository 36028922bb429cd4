//! The provider's HTML: the sign-in page (one button per test user), the signed-out
//! page and error pages. Every page says that this is a development provider.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::ClientRegistration;
use crate::server::Provider;

/// Parameters shown on the sign-in page when the app sent them, so a developer can
/// see what reached the provider.
const SHOWN: [&str; 9] = [
    "prompt",
    "login_hint",
    "organization_id",
    "connection_id",
    "domain_hint",
    "screen_hint",
    "provider",
    "provider_scopes",
    "scope",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;line-height:1.4\">\
         <p style=\"background:#fff3cd;padding:.5rem;border-radius:4px\">auth-testkit development provider: \
         for development and tests only, never a production identity provider.</p>\
         <h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(html),
    )
        .into_response()
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Sign-in error",
        &format!("<p>{}</p>", escape(message)),
    )
}

/// An authorization response as a form the browser posts at once to the client's
/// redirect URI (`response_mode=form_post`); a button when scripts are off.
pub(crate) fn form_post(action: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Signing you in",
        &format!(
            "{FORM_POST_MARK} action=\"{}\">{inputs}\
             <noscript><button type=\"submit\">Continue</button></noscript></form>\
             <script>document.forms[0].submit()</script>",
            escape(action)
        ),
    )
}

/// The form of a page [`form_post`] made: its action and fields, unescaped.
pub(crate) fn posted_response(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!(" {name}=\""))
            .nth(1)?
            .split('"')
            .next()
            .map(unescape)
    };
    let form = html.split(FORM_POST_MARK).nth(1)?;
    let (form_tag, rest) = form.split_once('>')?;
    let action = attribute(form_tag, "action")?;
    let fields = rest
        .split("</form>")
        .next()?
        .split("<input ")
        .skip(1)
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect();
    Some((action, fields))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// How a posted authorization response's form starts.
const FORM_POST_MARK: &str = "<form method=\"post\" id=\"authorization-response\"";

/// The provider's signed-out page with front-channel logout: one hidden iframe per
/// client (`frames`), then on to `then` (the client's post-logout URI) once they have
/// loaded, or after two seconds.
pub(crate) fn front_channel_logout(frames: &[String], then: Option<&str>) -> Response {
    let iframes: String = frames
        .iter()
        .map(|src| {
            format!(
                "<iframe src=\"{}\" title=\"sign-out\" style=\"display:none\"></iframe>",
                escape(src)
            )
        })
        .collect();
    let next = match then {
        Some(url) => format!(
            "<p><a id=\"continue\" href=\"{url}\">Continue</a></p>\
             <script>let left={n};const go=()=>location.replace(document.getElementById('continue').href);\
             document.querySelectorAll('iframe').forEach(f=>f.addEventListener('load',()=>{{if(--left===0)go()}}));\
             setTimeout(go,2000)</script>",
            url = escape(url),
            n = frames.len()
        ),
        None => String::new(),
    };
    page(
        StatusCode::OK,
        "Signed out",
        &format!("<p>You are signed out of the development provider.</p>{iframes}{next}"),
    )
}

pub(crate) fn signed_out() -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        "<p>You are signed out of the development provider.</p>",
    )
}

/// The sign-in (or sign-up) page: one button per test user, and Cancel.
pub(crate) fn sign_in(
    provider: &Provider,
    client: &ClientRegistration,
    pending: &str,
    params: &[(String, String)],
    signup: bool,
    login_hint: Option<&str>,
) -> Response {
    let (title, verb) = if signup {
        ("Create an account", "Create account as")
    } else {
        ("Sign in", "Sign in as")
    };
    let mut body = format!(
        "<p>to <strong>{}</strong>. Pick a test user:</p>\
         <form method=\"post\" action=\"{}/authorize/decision\">\
         <input type=\"hidden\" name=\"pending\" value=\"{}\">",
        escape(&client.id),
        escape(&provider.issuer),
        escape(pending)
    );
    for u in &provider.users {
        let hinted = login_hint == Some(u.id.as_str()) || login_hint == u.email.as_deref();
        body.push_str(&format!(
            "<p><button type=\"submit\" name=\"user\" value=\"{id}\"{autofocus} style=\"font-size:1rem;padding:.4rem .8rem\">{verb} {name}</button> <small>{email}</small></p>",
            id = escape(&u.id),
            autofocus = if hinted { " autofocus" } else { "" },
            name = escape(u.name.as_deref().unwrap_or(&u.id)),
            email = escape(u.email.as_deref().unwrap_or("")),
        ));
    }
    body.push_str(
        "<p><button type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button></p></form>",
    );
    let shown: Vec<String> = params
        .iter()
        .filter(|(k, _)| SHOWN.contains(&k.as_str()))
        .map(|(k, v)| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(k),
                escape(v)
            )
        })
        .collect();
    if !shown.is_empty() {
        body.push_str(&format!(
            "<details><summary>Parameters the app sent</summary><table>{}</table></details>",
            shown.concat()
        ));
    }
    page(StatusCode::OK, title, &body)
}
