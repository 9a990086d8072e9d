//! The authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636 S256), the client
//! registration it needs (pre-registered → Client ID Metadata Document → RFC 7591
//! dynamic registration, the MCP spec's order), and the RFC 9207 `iss` check.
//!
//! The user-agent step is pluggable: [`Authorizer::Browser`] shows the authorization
//! URL to the user and receives the redirect on loopback (RFC 8252, `mcp-auth
//! login`); [`Authorizer::Headless`] requests the URL itself and reads the redirect,
//! for authorization servers that approve without a user (the conformance suite's
//! mock).

use base64::Engine as _;
use serde_json::{Value, json};

use crate::discovery::AuthorizationServerMetadata;
use crate::{ClientAuth, LoopbackRedirect};

/// How the client is known to authorization servers.
#[derive(Debug, Clone)]
pub struct AuthorizationCodeClient {
    /// Credentials issued out of band (used as they are at every issuer).
    pub preregistered: Option<ClientAuth>,
    /// The HTTPS URL of this client's metadata document (used as `client_id` where
    /// the AS says `client_id_metadata_document_supported`).
    pub metadata_document: Option<String>,
    /// The redirect URI (a loopback URL for a native client).
    pub redirect_uri: String,
    /// The name shown at registration and consent.
    pub client_name: String,
}

/// How the authorization URL is visited.
#[derive(Debug, Clone)]
pub enum Authorizer {
    /// Request it and read the redirect without following it: for authorization
    /// servers that approve without a user.
    Headless,
    /// The user's browser, coming back to a listener on loopback (whose
    /// [`LoopbackRedirect::redirect_uri`] must be the client's redirect URI).
    Browser(LoopbackRedirect),
}

/// Why the grant failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// The AS has no authorization endpoint.
    #[error("the authorization server has no authorization_endpoint")]
    NoAuthorizationEndpoint,
    /// The client cannot register at this AS.
    #[error("cannot register at {issuer}: {reason}")]
    Registration {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The authorization response is not a redirect to the redirect URI.
    #[error("the authorization endpoint did not redirect back ({0})")]
    NoRedirect(String),
    /// The AS answered with an error.
    #[error("the authorization server refused: {error} {description}")]
    Refused {
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// `state` differs: not our request.
    #[error("the authorization response's state does not match the request")]
    State,
    /// RFC 9207: `iss` missing where advertised, or not the issuer.
    #[error("the authorization response's iss {found:?} is not the issuer {expected} (RFC 9207)")]
    Issuer {
        /// What the metadata says.
        expected: String,
        /// What came back.
        found: Option<String>,
    },
    /// HTTP failure.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The browser did not come back.
    #[error("{0}")]
    Browser(#[from] crate::LoopbackError),
    /// The system random generator failed (no PKCE verifier or state can be made).
    #[error("the system random generator failed")]
    Random,
}

/// The credentials to use at `server`: pre-registered, else the metadata document
/// URL as `client_id` when the AS supports it, else dynamic registration.
pub async fn register(
    http: &reqwest::Client,
    server: &AuthorizationServerMetadata,
    client: &AuthorizationCodeClient,
) -> Result<ClientAuth, AuthorizationError> {
    if let Some(pre) = &client.preregistered {
        return Ok(pre.clone());
    }
    if server.client_id_metadata_document_supported
        && let Some(url) = &client.metadata_document
    {
        return Ok(ClientAuth::None {
            client_id: url.clone(),
        });
    }
    let fail = |reason: String| AuthorizationError::Registration {
        issuer: server.issuer.clone(),
        reason,
    };
    let endpoint = server.registration_endpoint.as_ref().ok_or_else(|| {
        fail(
            "no pre-registered client, no metadata document support, no registration_endpoint"
                .into(),
        )
    })?;
    let method = ["none", "client_secret_basic", "client_secret_post"]
        .into_iter()
        .find(|m| {
            server.token_endpoint_auth_methods_supported.is_empty()
                || server
                    .token_endpoint_auth_methods_supported
                    .iter()
                    .any(|s| s == m)
        })
        .unwrap_or("none");
    let native = url::Url::parse(&client.redirect_uri)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]")
        })
        .unwrap_or(false);
    let request = json!({
        "client_name": client.client_name,
        "redirect_uris": [client.redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": if native { "native" } else { "web" },
    });
    // RFC 7591 §3.2: 201 with the client, or 400 with a JSON error; read within
    // the limits either way.
    let answer = crate::limits::send_capped(
        http.post(endpoint).json(&request),
        crate::limits::AUTHORIZATION_SERVER_ANSWER,
    )
    .await
    .map_err(|e| fail(format!("the registration endpoint's answer: {e}")))?;
    let status = answer.status;
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(fail(format!("{status}: {body}")));
    }
    let client_id = body["client_id"]
        .as_str()
        .ok_or_else(|| fail("the registration response has no client_id".into()))?
        .to_owned();
    let secret = body["client_secret"].as_str().map(str::to_owned);
    Ok(
        match (
            body["token_endpoint_auth_method"]
                .as_str()
                .unwrap_or(method),
            secret,
        ) {
            ("client_secret_post", Some(secret)) => ClientAuth::SecretPost { client_id, secret },
            (_, Some(secret)) => ClientAuth::SecretBasic { client_id, secret },
            (_, None) => ClientAuth::None { client_id },
        },
    )
}

/// A code and the PKCE verifier it was requested with. Its `Debug` shows neither:
/// together they are what redeems the code.
pub struct Code {
    /// The authorization code.
    pub code: String,
    /// The PKCE `code_verifier`.
    pub verifier: String,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code").finish_non_exhaustive()
    }
}

/// One authorization request's parameters besides PKCE and `state`, which
/// [`authorize`] makes for every request.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// `redirect_uri`.
    pub redirect_uri: &'a str,
    /// `resource` (RFC 8707). `None` only for an OpenID Connect sign-in whose
    /// `scope` is `openid` alone (enterprise-managed-authorization §7.1).
    pub resource: Option<&'a str>,
    /// `scope`, when not empty.
    pub scope: Option<&'a str>,
    /// `dpop_jkt`, when the token will be DPoP-bound (RFC 9449 §10).
    pub dpop_jkt: Option<&'a str>,
    /// The OpenID Connect `nonce` (OIDC Core §3.1.2.1), for a sign-in.
    pub nonce: Option<&'a str>,
}

/// Runs the authorization `request` at `server`, with PKCE S256 and a new
/// `state`, and returns the code.
pub async fn authorize(
    server: &AuthorizationServerMetadata,
    request: &AuthorizationRequest<'_>,
    authorizer: &Authorizer,
) -> Result<Code, AuthorizationError> {
    let redirect_uri = request.redirect_uri;
    let endpoint = server
        .authorization_endpoint
        .as_ref()
        .ok_or(AuthorizationError::NoAuthorizationEndpoint)?;
    let verifier = mcp_auth_core::random_token::<32>().map_err(|_| AuthorizationError::Random)?;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    let state = mcp_auth_core::random_token::<16>().map_err(|_| AuthorizationError::Random)?;
    let mut url = url::Url::parse(endpoint)
        .map_err(|_| AuthorizationError::NoRedirect(format!("{endpoint} is not a URL")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", request.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let optional = [
            ("resource", request.resource),
            ("scope", request.scope.filter(|s| !s.is_empty())),
            ("dpop_jkt", request.dpop_jkt),
            ("nonce", request.nonce),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                q.append_pair(name, value);
            }
        }
    }
    let back = match authorizer {
        Authorizer::Headless => {
            let no_redirects = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(crate::limits::AUTHORIZATION_SERVER_ANSWER.timeout)
                .build()?;
            let response = no_redirects.get(url.as_str()).send().await?;
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| {
                    AuthorizationError::NoRedirect(format!(
                        "status {}; an authorization server that wants a user needs `mcp-auth login`",
                        response.status()
                    ))
                })?;
            url::Url::parse(&location)
                .or_else(|_| url.join(&location))
                // Not quoted: it may carry the code and the state.
                .map_err(|_| {
                    AuthorizationError::NoRedirect("a Location that is not a URL".to_owned())
                })?
        }
        Authorizer::Browser(loopback) => loopback.visit(url.as_str(), &state).await?,
    };
    if !back.as_str().starts_with(redirect_uri) {
        return Err(AuthorizationError::NoRedirect(format!(
            "redirected to {}, not {redirect_uri}",
            without_query(&back)
        )));
    }
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    // RFC 9207 §2.4: compared as plain strings, before anything else is used.
    match (
        param("iss"),
        server.authorization_response_iss_parameter_supported,
    ) {
        (Some(iss), _) if iss != server.issuer => {
            return Err(AuthorizationError::Issuer {
                expected: server.issuer.clone(),
                found: Some(iss),
            });
        }
        (None, true) => {
            return Err(AuthorizationError::Issuer {
                expected: server.issuer.clone(),
                found: None,
            });
        }
        _ => {}
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err(AuthorizationError::State);
    }
    if let Some(error) = param("error") {
        return Err(AuthorizationError::Refused {
            error,
            description: param("error_description").unwrap_or_default(),
        });
    }
    let code = param("code").ok_or_else(|| {
        AuthorizationError::NoRedirect(format!(
            "redirected to {} without a code",
            without_query(&back)
        ))
    })?;
    Ok(Code { code, verifier })
}

/// `url` without its query and fragment, to name a redirect in an error: they carry
/// the code and the state.
fn without_query(url: &url::Url) -> url::Url {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// An authorization endpoint that approves at once: it records the request
    /// target and redirects back with a code and the state.
    async fn approving_endpoint() -> (String, tokio::task::JoinHandle<String>) {
        redirecting_endpoint(|state| format!("http://127.0.0.1:9/cb?code=c1&state={state}")).await
    }

    /// An authorization endpoint that records the request target and redirects to
    /// `location(state)`.
    async fn redirecting_endpoint(
        location: impl Fn(&str) -> String + Send + 'static,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let target = head.split(' ').nth(1).unwrap().to_owned();
            let url = url::Url::parse(&format!("http://x{target}")).unwrap();
            let state = url
                .query_pairs()
                .find(|(k, _)| k == "state")
                .unwrap()
                .1
                .into_owned();
            let location = location(&state);
            s.write_all(
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            target
        });
        (base, handle)
    }

    fn metadata(base: &str) -> AuthorizationServerMetadata {
        serde_json::from_value(json!({
            "issuer": base, "token_endpoint": format!("{base}/token"),
            "authorization_endpoint": format!("{base}/authorize"),
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn dpop_c_4_the_authorization_request_carries_dpop_jkt_for_a_dpop_client() {
        let (base, seen) = approving_endpoint().await;
        let code = authorize(
            &metadata(&base),
            &AuthorizationRequest {
                dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
                ..request()
            },
            &Authorizer::Headless,
        )
        .await
        .unwrap();
        assert_eq!(code.code, "c1");
        // The code and its verifier redeem a token together: `Debug` shows neither.
        let shown = format!("{code:?}");
        assert!(
            !shown.contains("c1") && !shown.contains(&code.verifier),
            "{shown}"
        );
        let target = seen.await.unwrap();
        assert!(
            target.contains("dpop_jkt=0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"),
            "{target}"
        );
        assert!(target.contains("code_challenge_method=S256"));
        // Without a DPoP key, no dpop_jkt.
        let (base, seen) = approving_endpoint().await;
        authorize(&metadata(&base), &request(), &Authorizer::Headless)
            .await
            .unwrap();
        assert!(!seen.await.unwrap().contains("dpop_jkt"));
    }

    /// A redirect to another URI is refused and named without its query, which holds
    /// the code and the state.
    #[tokio::test]
    async fn a_redirect_elsewhere_is_refused_without_quoting_the_code() {
        let (base, _seen) = approving_endpoint().await;
        let elsewhere = AuthorizationRequest {
            redirect_uri: "http://127.0.0.1:9/elsewhere",
            ..request()
        };
        let e = authorize(&metadata(&base), &elsewhere, &Authorizer::Headless)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthorizationError::NoRedirect(_)), "{e:?}");
        let told = e.to_string();
        assert!(told.contains("http://127.0.0.1:9/cb"), "{told}");
        assert!(!told.contains("code=") && !told.contains("c1"), "{told}");
    }

    /// A `Location` that is not a URL, and a redirect back without a code, are refused
    /// without quoting what they carry.
    #[tokio::test]
    async fn a_bad_redirect_is_refused_without_quoting_it() {
        for location in [
            |state: &str| format!("http://[S3cret?code=c1&state={state}"),
            |state: &str| format!("http://127.0.0.1:9/cb?state={state}&other=S3cret"),
        ] {
            let (base, _seen) = redirecting_endpoint(location).await;
            let e = authorize(&metadata(&base), &request(), &Authorizer::Headless)
                .await
                .unwrap_err();
            assert!(matches!(e, AuthorizationError::NoRedirect(_)), "{e:?}");
            assert!(!e.to_string().contains("S3cret"), "{e}");
        }
    }

    fn request() -> AuthorizationRequest<'static> {
        AuthorizationRequest {
            client_id: "client",
            redirect_uri: "http://127.0.0.1:9/cb",
            resource: Some("https://mcp.example/mcp"),
            scope: None,
            dpop_jkt: None,
            nonce: None,
        }
    }

    #[tokio::test]
    async fn an_openid_sign_in_sends_its_nonce_and_may_omit_the_resource() {
        let (base, seen) = approving_endpoint().await;
        let sign_in = AuthorizationRequest {
            resource: None,
            scope: Some("openid"),
            nonce: Some("n-0S6_WzA2Mj"),
            ..request()
        };
        authorize(&metadata(&base), &sign_in, &Authorizer::Headless)
            .await
            .unwrap();
        let target = seen.await.unwrap();
        assert!(
            target.contains("&scope=openid&nonce=n-0S6_WzA2Mj"),
            "{target}"
        );
        assert!(!target.contains("resource="), "{target}");
    }
}
