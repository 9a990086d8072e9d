//! Token requests at the token endpoint, signed for a bound token.

use serde::Deserialize;

use crate::httpsig::{HttpSigSigner, SignRequestError};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`, `httpsig` or `DPoP`.
    pub token_type: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// A refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A token request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignRequestError),
    /// The HTTP exchange failed.
    #[error("token endpoint unreachable: {0}")]
    Http(#[from] reqwest::Error),
    /// The AS answered with an OAuth error.
    #[error(
        "the authorization server refused the token request ({status}): {error}: {description}"
    )]
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The AS said `httpsig` was not applied although the request was signed.
    #[error("the authorization server returned token_type `{0}`, not `httpsig`")]
    NotBound(String),
}

/// POSTs `form` (already encoded) to `token_endpoint`, with `basic` client
/// credentials if given, signed by `signer` when given. A signed request must come
/// back with `token_type: httpsig` (HTTPSIG-C-6: the client associates the token with
/// its key, and refuses a silent downgrade to Bearer).
pub async fn request_token(
    http: &reqwest::Client,
    token_endpoint: &str,
    form: &str,
    basic: Option<(&str, &str)>,
    signer: Option<&HttpSigSigner>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let mut builder = http::Request::post(token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        use base64::Engine as _;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(id), enc(secret));
        builder = builder.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        );
    }
    let (mut parts, ()) = builder
        .body(())
        .map_err(|_| TokenError::Refused {
            status: 0,
            error: "invalid_request".into(),
            description: format!("`{token_endpoint}` is not a valid URL"),
        })?
        .into_parts();
    if let Some(s) = signer {
        s.sign_token_request(&mut parts, form.as_bytes(), now)?;
    }
    let response = http
        .post(token_endpoint)
        .headers(parts.headers)
        .body(form.to_owned())
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await?;
    if status != 200 {
        let text = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        return Err(TokenError::Refused {
            status,
            error: text("error"),
            description: text("error_description"),
        });
    }
    let token: TokenResponse = serde_json::from_value(body).map_err(|e| TokenError::Refused {
        status,
        error: "invalid_response".into(),
        description: e.to_string(),
    })?;
    if signer.is_some() && !token.token_type.eq_ignore_ascii_case("httpsig") {
        return Err(TokenError::NotBound(token.token_type));
    }
    Ok(token)
}
