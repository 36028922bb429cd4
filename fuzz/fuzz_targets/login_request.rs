//! `/auth/login?...`: the allow-listed login options and `return_to`, which must never
//! come out as anything but a same-site relative path.
#![no_main]

mod common;

use auth_core::adapter::Endpoint;
use auth_core::http::{Request, header};
use auth_core::{LoginOptions, sanitize_return_to};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = LoginOptions::from_query(s);
    let app = url::Url::parse("https://app.example.com/").expect("url");
    if let Some(kept) = sanitize_return_to(&app, s) {
        assert!(kept.starts_with('/') && !kept.starts_with("//"), "{kept:?}");
        let joined = app.join(&kept).expect("a relative path joins");
        assert_eq!(joined.origin(), app.origin(), "{kept:?} leaves the site");
    }
    let Ok(request) = Request::get(format!("/auth/login?{s}")).body(Vec::new()) else {
        return;
    };
    let f = common::fixture();
    let r = f.rt.block_on(f.auth.respond(Endpoint::Login, &request));
    assert!(
        r.status() == 303 || r.status() == 400,
        "login answered {}",
        r.status()
    );
    if r.status() == 303 {
        let location = r.headers()[header::LOCATION].to_str().expect("ascii");
        assert!(
            location.starts_with("http://127.0.0.1:9/authorize?"),
            "{location}"
        );
    }
});
