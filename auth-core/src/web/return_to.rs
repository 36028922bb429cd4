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

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Url {
        Url::parse("https://app.example.com/").expect("url")
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
