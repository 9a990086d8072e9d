//! Credentials written in the upstream URL (`http://user:pass@host/mcp`): taken out
//! of the URL once, at start, and sent as `Authorization: Basic`.

use http::HeaderValue;

/// Whether `url` carries a user or a password.
pub(crate) fn has_credentials(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `url` without the user and password it may carry: what logs, banners and the
/// minted token's audience show of the upstream.
pub(crate) fn without_credentials(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    // Cannot fail: a URL with a user or password has an authority, and one
    // without them is left as it is.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// `url` without its credentials, and the `Authorization: Basic` they make (user
/// and password percent-decoded, marked sensitive): what reqwest's request builder
/// does with a URL's credentials, done once here because the gateway builds its
/// requests without it. Credentials that are not UTF-8 once decoded make no header
/// (reqwest sends none either); they leave the URL all the same.
pub(super) fn url_credentials(url: url::Url) -> (url::Url, Option<HeaderValue>) {
    use base64::Engine as _;
    if !has_credentials(&url) {
        return (url, None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|d| d.into_owned())
    };
    let user = decode(url.username());
    let password = url.password().map(decode);
    let url = without_credentials(&url);
    let Some(user) = user else {
        return (url, None);
    };
    let password = match password {
        None => String::new(),
        Some(Some(password)) => password,
        Some(None) => return (url, None),
    };
    let pair = format!("{user}:{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok();
    if let Some(v) = &mut value {
        v.set_sensitive(true);
    }
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Upstream;

    /// A URL's credentials become a sensitive Basic header (percent-decoded, as
    /// reqwest's builder decodes them) and leave the URL, which logs may print.
    #[test]
    fn credentials_in_the_upstream_url_become_basic_auth_and_leave_the_url() {
        let (url, basic) = url_credentials("http://agent:p%40ss@127.0.0.1:9/mcp".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:9/mcp");
        let basic = basic.unwrap();
        // base64("agent:p@ss")
        assert_eq!(basic, "Basic YWdlbnQ6cEBzcw==");
        assert!(basic.is_sensitive());
        let (url, basic) = url_credentials("http://agent@127.0.0.1:9/mcp".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:9/mcp");
        assert_eq!(basic.unwrap(), "Basic YWdlbnQ6");
        let (url, basic) = url_credentials("http://127.0.0.1:9/mcp".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:9/mcp");
        assert!(basic.is_none());
        // Not UTF-8 once decoded: no header, and still out of the URL.
        let (url, basic) = url_credentials("http://agent:%FF@127.0.0.1:9/mcp".parse().unwrap());
        assert_eq!(url.as_str(), "http://127.0.0.1:9/mcp");
        assert!(basic.is_none());
        let upstream = Upstream::new("http://agent:secret@127.0.0.1:9/mcp".parse().unwrap());
        assert!(!upstream.url().as_str().contains("secret"));
        // Nor in the Debug form, as the password or as the header's base64 of it.
        let debug = format!("{upstream:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("c2VjcmV0"),
            "{debug}"
        );
    }
}
