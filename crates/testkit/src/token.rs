//! Token requests over HTTP.

/// A client_credentials request to `issuer`'s token endpoint (`<issuer>/token`) for
/// `scope` at `resource`, the client authenticated with HTTP Basic; add headers (a
/// DPoP proof) before sending it.
pub fn client_credentials(
    issuer: &str,
    (client_id, secret): (&str, &str),
    scope: &str,
    resource: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
}

/// Sends `request` and reads its answer as JSON, whatever the status.
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The `kid` of a JWT's header (not verified: for tests that follow key rotations).
pub fn jwt_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
