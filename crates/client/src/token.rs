//! Token requests at the token endpoint, with proof of possession for a bound token
//! (an HTTP message signature or a DPoP proof, and one retry when a DPoP server asks
//! for a nonce, RFC 9449 §8).
//!
//! The answer is read within [`AUTHORIZATION_SERVER_ANSWER`] (64 KiB, 30 s): an
//! authorization server that sends an endless body, or never finishes, ends the
//! request with [`TokenError::Answer`].

use mcp_auth_core::fetch::FetchError;
use serde::Deserialize;

use crate::RequestSigner;
use crate::httpsig::SignRequestError;
use crate::limits::{AUTHORIZATION_SERVER_ANSWER, send_capped};

/// A successful token response (RFC 6749 §5.1). Its `Debug` shows no token.
#[derive(Clone, Deserialize)]
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
    /// RFC 8693 §2.2.1: the type of the token a token exchange issued (an ID-JAG's
    /// is `urn:ietf:params:oauth:token-type:id-jag`, EMA-C-5); absent in other
    /// token responses.
    #[serde(default)]
    pub issued_token_type: Option<String>,
    /// OIDC Core §3.1.3.3: the ID token of an OpenID Connect sign-in (and of a
    /// refresh of one, §12.2); absent in other token responses.
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    /// Never a token: the access token may be an ID-JAG, and the ID token and the
    /// refresh token are credentials (enterprise-managed-authorization EMA-C-7).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("issued_token_type", &self.issued_token_type)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("id_token", &self.id_token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// A token request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignRequestError),
    /// The exchange failed or its answer could not be read within the limits
    /// (unreachable, too slow, too large, not JSON).
    #[error("the token endpoint's answer: {0}")]
    Answer(#[from] FetchError),
    /// The DPoP server asked for a nonce it has now given (retried once).
    #[error("the authorization server requires a DPoP nonce")]
    NonceRequired,
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
    /// The AS did not bind the token although possession was proved: it answered
    /// with another `token_type` (a silent downgrade, refused).
    #[error(
        "the authorization server returned token_type `{found}`, not `{expected}`: the token is not bound to the key"
    )]
    NotBound {
        /// What the proof asked for (`httpsig`, `DPoP`).
        expected: &'static str,
        /// What came back.
        found: String,
    },
}

/// POSTs `form` (already encoded) to `token_endpoint`, with `basic` client
/// credentials if given, proving possession of `signer`'s key when given. A bound
/// request must come back with the profile's `token_type` (HTTPSIG-C-6, RFC 9449 §5:
/// the client refuses a silent downgrade to Bearer). A DPoP `use_dpop_nonce` answer
/// is retried once with the nonce (§8).
pub async fn request_token(
    http: &reqwest::Client,
    token_endpoint: &str,
    form: &str,
    basic: Option<(&str, &str)>,
    signer: Option<&RequestSigner>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let request = TokenRequest {
        http,
        token_endpoint,
        form,
        basic,
        signer,
        now,
    };
    let mut retried = false;
    loop {
        match request.send().await {
            Err(TokenError::NonceRequired) if !retried => retried = true,
            Err(TokenError::NonceRequired) => {
                return Err(TokenError::Refused {
                    status: 400,
                    error: "use_dpop_nonce".into(),
                    description: "the authorization server asked for a new DPoP nonce twice".into(),
                });
            }
            other => return other,
        }
    }
}

/// One token request as [`request_token`] was given it: sent once, and once more
/// when a DPoP server answers that it wants its nonce.
struct TokenRequest<'a> {
    http: &'a reqwest::Client,
    token_endpoint: &'a str,
    form: &'a str,
    basic: Option<(&'a str, &'a str)>,
    signer: Option<&'a RequestSigner>,
    now: i64,
}

impl TokenRequest<'_> {
    /// Sends the request once, with a fresh proof, and reads the answer.
    async fn send(&self) -> Result<TokenResponse, TokenError> {
        let mut parts = self.head()?;
        if let Some(s) = self.signer {
            s.sign_token_request(&mut parts, self.form.as_bytes(), self.now)?;
        }
        let answer = send_capped(
            self.http
                .post(self.token_endpoint)
                .headers(parts.headers)
                .body(self.form.to_owned()),
            AUTHORIZATION_SERVER_ANSWER,
        )
        .await?;
        let new_nonce = self
            .signer
            .is_some_and(|s| s.remember_nonce(self.token_endpoint, &answer.headers));
        read_answer(&answer, new_nonce, self.signer)
    }

    /// The request before any proof: the form's content type, and Basic client
    /// authentication when given.
    fn head(&self) -> Result<http::request::Parts, TokenError> {
        let mut builder = http::Request::post(self.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = self.basic {
            use base64::Engine as _;
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(id), enc(secret));
            builder = builder.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        let (parts, ()) = builder
            .body(())
            .map_err(|_| TokenError::Refused {
                status: 0,
                error: "invalid_request".into(),
                description: format!("`{}` is not a valid URL", self.token_endpoint),
            })?
            .into_parts();
        Ok(parts)
    }
}

/// The token in a token endpoint's `answer`, or why there is none: an OAuth error
/// (RFC 6749 §5.2), a DPoP server that wants the nonce it just gave (`new_nonce`),
/// or a token not bound to `signer`'s key although possession was proved.
fn read_answer(
    answer: &crate::limits::CappedAnswer,
    new_nonce: bool,
    signer: Option<&RequestSigner>,
) -> Result<TokenResponse, TokenError> {
    let status = answer.status.as_u16();
    let body: serde_json::Value = match serde_json::from_slice(&answer.body) {
        Ok(body) => body,
        Err(_) if status == 200 => return Err(FetchError::NotJson.into()),
        // An error status without the JSON of RFC 6749 §5.2: still a refusal.
        Err(_) => serde_json::json!({"error_description": "the answer is not JSON"}),
    };
    if status == 400
        && new_nonce
        && body.get("error").and_then(|e| e.as_str()) == Some("use_dpop_nonce")
    {
        return Err(TokenError::NonceRequired);
    }
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
    if let Some(s) = signer
        && !token.token_type.eq_ignore_ascii_case(s.token_type())
    {
        return Err(TokenError::NotBound {
            expected: s.token_type(),
            found: token.token_type,
        });
    }
    Ok(token)
}
