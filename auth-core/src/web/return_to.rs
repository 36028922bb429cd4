//! `return_to`: where to send the browser after login. Only a same-site relative path
//! is kept; anything that could leave the site is dropped.

use url::Url;

const MAX_LEN: usize = 1024;

/// Returns the path if it is a safe same-site relative path, else `None`.
///
/// Rejected: absolute URLs, scheme-relative `//host`, backslashes (`/\host`), control
/// characters (browsers strip tabs and newlines, turning `/\t/host` into `//host`),
/// encoded variants of those (`/%2F%2Fhost`, `/%5Chost`), and anything whose resolution
/// against the app URL leaves its origin.
pub fn sanitize_return_to(app_url: &Url, value: &str) -> Option<String> {
    if value.is_empty() || value.len() > MAX_LEN || !value.starts_with('/') {
        return None;
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
    let lowered = value.to_ascii_lowercase();
    if value.starts_with("//")
        || lowered.starts_with("/%2f")
        || lowered.starts_with("/%5c")
        || lowered.contains("%00")
    {
        return None;
    }
    let decoded: String = url::form_urlencoded::parse(format!("x={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if decoded.starts_with("//") || decoded.contains('\\') || decoded.chars().any(char::is_control)
    {
        return None;
    }
    let resolved = app_url.join(value).ok()?;
    if resolved.origin() != app_url.origin() {
        return None;
    }
    Some(value.to_string())
}

/// A third-party initiated login's `target_link_uri` (OpenID Connect Core §4) as a
/// `return_to`: a same-site path, or an absolute URL under `APP_URL` (its path and
/// query), then checked as every `return_to` is; anything else is dropped.
pub(crate) fn target_link_to_return_to(app_url: &Url, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return sanitize_return_to(app_url, target);
    }
    if target.len() > MAX_LEN || !target.starts_with(app_url.as_str().trim_end_matches('/')) {
        return None;
    }
    let url = Url::parse(target).ok()?;
    if url.origin() != app_url.origin() || !url.path().starts_with(app_url.path()) {
        return None;
    }
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    sanitize_return_to(app_url, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Url {
        Url::parse("https://app.example.com/").expect("url")
    }

    /// A `target_link_uri` under `APP_URL` (absolute or a path) becomes its path and
    /// query; another origin, a look-alike host, a scheme-relative or a backslashed one
    /// is dropped.
    #[test]
    fn target_link_uri_only_under_the_app_url() {
        let t = |v: &str| target_link_to_return_to(&app(), v);
        assert_eq!(
            t("https://app.example.com/reports?y=1").as_deref(),
            Some("/reports?y=1")
        );
        assert_eq!(t("/me").as_deref(), Some("/me"));
        for bad in [
            "https://evil.example/",
            "https://app.example.com.evil.example/x",
            "https://app.example.com@evil.example/x",
            "http://app.example.com/x",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn keeps_relative_paths() {
        for ok in [
            "/",
            "/me",
            "/a/b?x=1&y=%2F",
            "/docs#top",
            "/search?q=http://x",
        ] {
            assert_eq!(sanitize_return_to(&app(), ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn open_redirects_refused() {
        for bad in [
            "https://evil.example",
            "http://evil.example/x",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "evil.example",
            "",
            "/%00",
            " /x",
        ] {
            assert_eq!(sanitize_return_to(&app(), bad), None, "{bad:?}");
        }
        let long = format!("/{}", "a".repeat(2000));
        assert_eq!(sanitize_return_to(&app(), &long), None);
    }
}
