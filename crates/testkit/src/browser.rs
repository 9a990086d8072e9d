//! What a browser reads off the authorization server's pages.

use base64::Engine as _;

/// The value of the hidden form field `name` on an authorization server page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The `name=value` pair of the first `Set-Cookie` of `headers`, as a browser sends
/// it back.
pub fn set_cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
}

/// The PKCE S256 code challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}
