//! The client's own OpenID Connect sign-in at an enterprise identity provider (IdP),
//! kept for the enterprise grant (profiles/enterprise-managed-authorization.md §7.1,
//! §7.11 item 2, EMA-C-2): `mcp-auth login --idp URL --idp-client-id ID`.
//!
//! [`sign_in`] finds the IdP from its metadata (the OpenID Connect location, then
//! RFC 8414 on 404, `issuer` exactly the one given:
//! [`crate::discovery::identity_provider_metadata`]), sends the user's browser to
//! its authorization endpoint with the authorization-code flow (PKCE `S256`,
//! `scope` `openid` alone, a random `nonce` and `state`, no `resource`: §7.1 allows
//! its absence when the scope is `openid` alone), redeems the code at its token
//! endpoint with the IdP client's authentication, and validates the `id_token` of
//! the answer as OIDC Core §3.1.3.7 says ([`id_token`]): a JWS signed with a key of
//! the IdP's `jwks_uri` for an asymmetric `alg` (RS256 among them), `iss` exactly
//! the issuer, `aud` exactly the IdP client id (a second audience is one the
//! client does not trust, item 3), `azp` that client when present, `exp` not passed
//! and `iat` present and not in the future (a 60 s skew, as for assertions), a
//! lifetime of at most a day (the longest `id_token_ttl` of §7.1's IdP), a `sub`,
//! and the `nonce` it sent. The result, [`KeptSignIn`], goes to the token cache,
//! keyed by the IdP issuer and the IdP client id.
//!
//! [`kept_id_token`] is how the enterprise grant reads it for an exchange: as kept
//! while its `exp` is more than 60 s away ([`crate::token_cache::ID_TOKEN_REFRESH_MARGIN`]),
//! else refreshed first with the IdP's refresh token (`grant_type=refresh_token`;
//! the IdP answers with a new ID token, §7.1, OIDC Core §12.2), which is validated
//! the same way except that it names the same `sub` instead of carrying the nonce
//! (§12.2: it "SHOULD NOT" have one), and kept with the refresh token the IdP
//! rotated to, if it did. The IdP's `invalid_grant` ends there: the error says to
//! sign in again with `mcp-auth login` (§7.11 item 8). No other request follows an
//! error answer.
//!
//! Neither token is ever in an error or `Debug` output (EMA-C-7); the IdP client's
//! credentials go only to that IdP's token endpoint, whose redirects are not
//! followed.

use std::path::Path;

use crate::authorization_code::{AuthorizationRequest, Authorizer};
use crate::discovery::{AuthorizationServerMetadata, DiscoveryError};
use crate::token_cache::{KeptSignIn, TokenCache, TokenCacheError};
use crate::{AuthorizationError, ClientAuth, ClientAuthError, TokenError, TokenResponse};

pub mod id_token;

#[cfg(test)]
mod tests;

pub use id_token::IdTokenProblem;

/// The `scope` of the sign-in: `openid` alone (§7.1).
pub const SIGN_IN_SCOPE: &str = "openid";

/// Why no sign-in was made or no kept ID token can be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The IdP's metadata could not be found, or names another issuer.
    #[error("finding the identity provider {issuer}: {source}")]
    Discovery {
        /// The issuer looked up.
        issuer: String,
        /// Why.
        source: DiscoveryError,
    },
    /// The metadata lacks an endpoint the sign-in needs.
    #[error(
        "the identity provider {idp} publishes no {member} in its metadata: it cannot sign users in with OpenID Connect"
    )]
    MissingMetadata {
        /// The IdP's issuer.
        idp: String,
        /// `authorization_endpoint` or `jwks_uri`.
        member: &'static str,
    },
    /// The authorization request failed or was refused.
    #[error("signing in at the identity provider {idp}: {source}")]
    Authorization {
        /// The IdP's issuer.
        idp: String,
        /// Why.
        source: AuthorizationError,
    },
    /// The IdP client's authentication could not be built.
    #[error("the identity provider client's authentication: {0}")]
    ClientAuth(#[from] ClientAuthError),
    /// The IdP answered a token request with an OAuth error (other than a refresh
    /// token's `invalid_grant`).
    #[error(
        "the identity provider {idp} refused the {grant} request ({status}): {error}: {description}"
    )]
    Refused {
        /// The IdP's issuer.
        idp: String,
        /// `authorization_code` or `refresh_token`.
        grant: &'static str,
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The IdP no longer accepts the kept refresh token, or none is kept and the
    /// ID token has expired: the user signs in again.
    #[error(
        "the sign-in at the identity provider {idp} as `{client_id}` has ended ({why}): sign in again with `mcp-auth login --idp {idp} --idp-client-id {client_id}`"
    )]
    SignInAgain {
        /// The IdP's issuer.
        idp: String,
        /// The IdP client id.
        client_id: String,
        /// What ended it.
        why: String,
    },
    /// A token request got no answer within the limits.
    #[error("the token request at the identity provider {idp} failed: {reason}")]
    Failed {
        /// The IdP's issuer.
        idp: String,
        /// Why.
        reason: String,
    },
    /// The answer has no `id_token`.
    #[error(
        "the identity provider {idp} answered the {grant} request without an id_token: is `{client_id}` allowed the openid scope there?"
    )]
    NoIdToken {
        /// The IdP's issuer.
        idp: String,
        /// `authorization_code` or `refresh_token`.
        grant: &'static str,
        /// The IdP client id.
        client_id: String,
    },
    /// The ID token fails a check of OIDC Core §3.1.3.7.
    #[error(
        "the identity provider {idp} sent an ID token that is not valid: {problem}; it was not kept"
    )]
    InvalidIdToken {
        /// The IdP's issuer.
        idp: String,
        /// Which check failed.
        problem: IdTokenProblem,
    },
    /// The IdP's JWK Set could not be read.
    #[error("reading the keys of the identity provider {idp} at {url}: {reason}")]
    Keys {
        /// The IdP's issuer.
        idp: String,
        /// Its `jwks_uri`.
        url: String,
        /// Why.
        reason: String,
    },
    /// The kept sign-in does not exist (any more).
    #[error(
        "no sign-in at {idp} as `{client_id}` is kept in {cache}: run `mcp-auth login --idp {idp} --idp-client-id {client_id}`"
    )]
    NotKept {
        /// The IdP's issuer.
        idp: String,
        /// The IdP client id.
        client_id: String,
        /// The cache file.
        cache: String,
    },
    /// The token cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] TokenCacheError),
    /// The system random generator failed (no nonce can be made).
    #[error("the system random generator failed")]
    Random,
}

/// Signs the user in at the identity provider `issuer` as `client`, the user
/// agent visiting the authorization URL as `authorizer` says and coming back to
/// `redirect_uri` (a [`crate::LoopbackRedirect`]'s for a browser), and returns the
/// validated sign-in to keep (see the module documentation).
pub async fn sign_in(
    issuer: &str,
    client: &ClientAuth,
    redirect_uri: &str,
    authorizer: &Authorizer,
) -> Result<KeptSignIn, SignInError> {
    let http = no_redirects(issuer)?;
    let idp = metadata(&http, issuer).await?;
    let nonce = mcp_auth_core::random_token::<16>().map_err(|_| SignInError::Random)?;
    let request = AuthorizationRequest {
        client_id: client.client_id(),
        redirect_uri,
        resource: None,
        scope: Some(SIGN_IN_SCOPE),
        dpop_jkt: None,
        nonce: Some(&nonce),
    };
    let code = crate::authorization_code::authorize(&idp, &request, authorizer)
        .await
        .map_err(|source| SignInError::Authorization {
            idp: idp.issuer.clone(),
            source,
        })?;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", &code.code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", &code.verifier),
    ];
    let answer = token_request(&http, &idp, client, &grant).await?;
    let expect = id_token::Expect::Nonce(&nonce);
    kept(&http, &idp, client, answer, expect, None).await
}

/// The ID token of the sign-in kept in the token cache at `cache` for `client` at
/// the identity provider `issuer`, refreshed first when it expires within
/// [`crate::token_cache::ID_TOKEN_REFRESH_MARGIN`] seconds of `now` (the renewed
/// sign-in is written back); with the IdP's metadata when it was needed for that.
pub async fn kept_id_token(
    cache: &Path,
    issuer: &str,
    client: &ClientAuth,
    now: i64,
) -> Result<(String, Option<AuthorizationServerMetadata>), SignInError> {
    let client_id = client.client_id();
    let mut tokens = TokenCache::open(cache)?;
    let kept_before =
        tokens
            .sign_in(issuer, client_id)
            .cloned()
            .ok_or_else(|| SignInError::NotKept {
                idp: issuer.to_owned(),
                client_id: client_id.to_owned(),
                cache: cache.display().to_string(),
            })?;
    if kept_before.is_fresh(now) {
        return Ok((kept_before.id_token, None));
    }
    let sign_in_again = |why: String| SignInError::SignInAgain {
        idp: issuer.to_owned(),
        client_id: client_id.to_owned(),
        why,
    };
    let Some(refresh_token) = kept_before.refresh_token.clone() else {
        return Err(sign_in_again(
            "the ID token expires, and the identity provider issued no refresh token".into(),
        ));
    };
    let http = no_redirects(issuer)?;
    let idp = metadata(&http, issuer).await?;
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let answer = match token_request(&http, &idp, client, &grant).await {
        Err(SignInError::Refused {
            error, description, ..
        }) if error == "invalid_grant" => {
            return Err(sign_in_again(format!(
                "it refused the refresh token: invalid_grant: {description}"
            )));
        }
        answer => answer?,
    };
    let expect = id_token::Expect::Subject(&kept_before.subject);
    let renewed = kept(&http, &idp, client, answer, expect, Some(refresh_token)).await?;
    tokens.put_sign_in(issuer, client_id, renewed.clone())?;
    Ok((renewed.id_token, Some(idp)))
}

/// The sign-in to keep from the token endpoint's `answer`: its ID token, validated
/// as `expect` says, and its refresh token, else `previous` (a refresh token the
/// IdP did not rotate stays, RFC 6749 §6).
async fn kept(
    http: &reqwest::Client,
    idp: &AuthorizationServerMetadata,
    client: &ClientAuth,
    answer: (&'static str, TokenResponse),
    expect: id_token::Expect<'_>,
    previous: Option<String>,
) -> Result<KeptSignIn, SignInError> {
    let (grant, answer) = answer;
    let Some(jwt) = answer.id_token else {
        return Err(SignInError::NoIdToken {
            idp: idp.issuer.clone(),
            grant,
            client_id: client.client_id().to_owned(),
        });
    };
    let now = mcp_auth_core::unix_now();
    let valid = id_token::validate(http, idp, client.client_id(), &jwt, expect, now).await?;
    Ok(KeptSignIn {
        id_token: jwt,
        expires_at: valid.exp,
        subject: valid.sub,
        refresh_token: answer.refresh_token.or(previous),
    })
}

/// An HTTP client that follows no redirect: the IdP client's credentials and the
/// tokens go to the endpoints the metadata names and nowhere else.
fn no_redirects(issuer: &str) -> Result<reqwest::Client, SignInError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SignInError::Failed {
            idp: issuer.to_owned(),
            reason: e.to_string(),
        })
}

/// The identity provider's metadata, with what a sign-in needs.
async fn metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, SignInError> {
    let idp = crate::discovery::identity_provider_metadata(http, issuer)
        .await
        .map_err(|source| SignInError::Discovery {
            issuer: issuer.to_owned(),
            source,
        })?;
    for (member, present) in [
        (
            "authorization_endpoint",
            idp.authorization_endpoint.is_some(),
        ),
        ("jwks_uri", idp.jwks_uri.is_some()),
    ] {
        if !present {
            return Err(SignInError::MissingMetadata {
                idp: idp.issuer,
                member,
            });
        }
    }
    Ok(idp)
}

/// The form of `grant` and the client's `authentication` parameters; built whole
/// here so that no serializer lives across an await.
fn token_form(grant: &[(&str, &str)], authentication: Vec<(&str, String)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(grant)
        .extend_pairs(authentication)
        .finish()
}

/// Sends `grant` (its `grant_type` first) with `client`'s authentication to the
/// IdP's token endpoint once; its grant type and the answer.
async fn token_request(
    http: &reqwest::Client,
    idp: &AuthorizationServerMetadata,
    client: &ClientAuth,
    grant: &[(&'static str, &str)],
) -> Result<(&'static str, TokenResponse), SignInError> {
    let name = match grant.first() {
        Some((_, "refresh_token")) => "refresh_token",
        _ => "authorization_code",
    };
    let now = mcp_auth_core::unix_now();
    let form = token_form(grant, client.form_params(&idp.issuer, now)?);
    let answer =
        crate::request_token(http, &idp.token_endpoint, &form, client.basic(), None, now).await;
    let idp = idp.issuer.clone();
    match answer {
        Ok(answer) => Ok((name, answer)),
        Err(TokenError::Refused {
            status,
            error,
            description,
        }) => Err(SignInError::Refused {
            idp,
            grant: name,
            status,
            error,
            description,
        }),
        Err(other) => Err(SignInError::Failed {
            idp,
            reason: other.to_string(),
        }),
    }
}
