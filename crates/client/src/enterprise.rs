//! The client side of the enterprise-managed-authorization profile
//! (profiles/enterprise-managed-authorization.md, EMA-C-1 to EMA-C-9): a user signed
//! in to the client at the enterprise identity provider (IdP); the client exchanges
//! the user's ID token at the IdP (RFC 8693) for an Identity Assertion JWT
//! Authorization Grant (ID-JAG) for the MCP server's authorization server, and
//! redeems it there with the RFC 7523 `jwt-bearer` grant and its own client
//! authentication (§7.11). No consent screen: the IdP's policy decides.
//!
//! [`EnterpriseGrant`] says where the ID token is and what the client's two
//! registrations are; [`crate::Grant::Enterprise`] makes [`crate::McpClient`] use
//! it. Each access token the MCP server asks for (a 401, an expired token, a 403
//! `insufficient_scope` asking for the union of scopes, EMA-C-9) costs one
//! exchange and one redemption, in this order, each step sending nothing when it
//! fails:
//!
//! 1. the MCP authorization server lists `jwt-bearer` in `grant_types_supported`
//!    and, when it publishes `authorization_grant_profiles_supported`, the ID-JAG
//!    profile there (EMA-C-1, §5.3, D17: the member may be absent); a proof of
//!    possession the caller asked for is advertised by it (EMA-C-6, §7.9);
//! 2. the ID token is read from its file now, trimmed (EMA-C-2, §7.11 item 2), and
//!    must not have expired (its `exp`, decoded without verification); or it is
//!    the one of the client's own sign-in kept in the token cache
//!    ([`IdTokenSource::SignIn`], `mcp-auth login --idp`), refreshed first with
//!    the IdP's refresh token when it expires within 60 s
//!    ([`crate::sign_in::kept_id_token`]);
//! 3. the IdP is the ID token's `iss`: its metadata at the OpenID Connect location,
//!    else, on 404, the RFC 8414 one, naming exactly that issuer
//!    ([`crate::discovery::identity_provider_metadata`], EMA-C-3). When the grant
//!    names the IdP ([`EnterpriseGrant::idp_issuer`]), an ID token of another
//!    issuer goes nowhere. The ID token and the IdP client's credentials go to that
//!    metadata's `token_endpoint` only, whose redirects are not followed;
//! 4. the exchange (§7.2, EMA-C-4): `audience` the authorization server's issuer,
//!    `resource` the protected resource metadata's `resource`, `scope` the client's
//!    scopes when it has any, the IdP client's authentication (a public
//!    registration sends its `client_id` alone, as the official scenario's IdP
//!    expects), no DPoP proof and no signature;
//! 5. the answer (EMA-C-5): 200, `issued_token_type` the ID-JAG URN, `token_type`
//!    `N_A` in any letter case, an `access_token` that is a compact JWS typed
//!    `oauth-id-jag+jwt` (compared as RFC 7515 §4.1.9 says, by the same parser as
//!    the authorization server's) whose `aud` is exactly the authorization server's
//!    issuer; `expires_in` and `scope` optional;
//! 6. the redemption (§7.6, EMA-C-6) is the caller's token request at that
//!    authorization server: `grant_type` `jwt-bearer`, the ID-JAG as `assertion`,
//!    `scope` the exchange's `scope` when the IdP gave one, else the scopes asked
//!    for, with `resource` and the client's authentication there.
//!
//! An error answer from either server ends the operation: no retry, no other grant
//! (EMA-C-8; the DPoP nonce retry of [`crate::request_token`] aside), and the error
//! names the party and its `error` code; after the IdP's `invalid_grant` it says to
//! sign in again. The ID token and the ID-JAG live in local variables for one
//! request: never in the client's state, a token cache, an error or `Debug` output
//! (EMA-C-7, §12.5); an access token obtained this way has no refresh token kept,
//! so every new access token is a new decision of the IdP (D3, D11).

use std::path::PathBuf;

use mcp_auth_core::workload_assertion::{AssertionError, AssertionKind, JWT_BEARER_GRANT};
use serde_json::Value;

use crate::discovery::{AuthorizationServerMetadata, DiscoveryError};
use crate::token_file::ReadFailure;
use crate::unverified::{AudienceCheck, audience_in};
use crate::{ClientAuth, ClientAuthError, RequestSigner, TokenError, TokenResponse};

pub use mcp_auth_core::id_jag::{
    ID_JAG_PROFILE, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT,
};

/// Where the user's ID token is read from, for every exchange (EMA-C-2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenSource {
    /// A file another program (the IdP's sign-in) writes and rewrites; readable by
    /// the user only, since the ID token is the reusable credential of the profile
    /// (§12.4).
    File(PathBuf),
    /// The client's own OpenID Connect sign-in at the IdP `issuer` as the grant's
    /// IdP client ([`crate::sign_in::sign_in`], `mcp-auth login --idp`, §7.11 item
    /// 2), kept in the token cache file `cache`; refreshed with the IdP's refresh
    /// token, and the IdP client's credentials, when it expires within 60 s.
    SignIn {
        /// The token cache file.
        cache: PathBuf,
        /// The IdP's issuer.
        issuer: String,
    },
}

impl std::fmt::Display for IdTokenSource {
    /// Where the ID token is, for messages (never the token).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::SignIn { cache, issuer } => {
                write!(f, "the sign-in at {issuer} kept in {}", cache.display())
            }
        }
    }
}

/// The enterprise grant: the user's ID token and the client's two registrations,
/// at the IdP and at the MCP authorization server, which are different and usually
/// have different client ids (§4, ID-JAG draft §5).
#[derive(Debug, Clone)]
pub struct EnterpriseGrant {
    /// Where the ID token is.
    pub id_token: IdTokenSource,
    /// The client's registration at the IdP: the ID token's `aud`, and how the
    /// client authenticates at the exchange ([`ClientAuth::None`] for a public
    /// registration, which this project's IdP refuses but others accept, §7.11
    /// item 4).
    pub idp_client: ClientAuth,
    /// The IdP the ID token must come from, when the caller knows it: an ID token
    /// whose `iss` is another issuer is sent nowhere, and neither are the IdP
    /// client's credentials. `None`: the ID token's `iss` decides, as the user gave
    /// that token.
    pub idp_issuer: Option<String>,
    /// The client's registration at the MCP authorization server: the ID-JAG's
    /// `client_id`, authenticated at the redemption (D10). Its credentials go only
    /// where [`crate::McpClient::with_issuer_policy`] allows, as a pre-registered
    /// client's always do.
    pub client: ClientAuth,
}

/// Why the enterprise grant sent no redemption, or what a server answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnterpriseError {
    /// The authorization server does not list the `jwt-bearer` grant (EMA-C-1).
    #[error(
        "the authorization server {issuer} does not list {JWT_BEARER_GRANT} in grant_types_supported: it redeems no ID-JAG, and nothing was sent to it or to the identity provider"
    )]
    GrantNotSupported {
        /// The authorization server's issuer.
        issuer: String,
    },
    /// The authorization server lists grant profiles, without the ID-JAG's
    /// (EMA-C-1).
    #[error(
        "the authorization server {issuer} lists authorization_grant_profiles_supported without {ID_JAG_PROFILE}: it redeems no ID-JAG, and nothing was sent to it or to the identity provider"
    )]
    ProfileNotSupported {
        /// The authorization server's issuer.
        issuer: String,
    },
    /// A proof of possession was asked for, and the authorization server does not
    /// advertise it (EMA-C-6).
    #[error(
        "the authorization server {issuer} does not advertise {profile} for this key in its metadata: nothing was sent to it or to the identity provider (ask for an unbound token, or use an authorization server that binds tokens this way)"
    )]
    BindingNotAdvertised {
        /// The authorization server's issuer.
        issuer: String,
        /// `DPoP` or `HTTPSig`.
        profile: &'static str,
    },
    /// The ID token could not be read.
    #[error("reading the ID token from {from}: {reason}")]
    IdTokenUnreadable {
        /// Where it was read from.
        from: String,
        /// Why it could not be.
        reason: String,
    },
    /// The file holds only whitespace.
    #[error("the ID token in {from} is empty")]
    IdTokenEmpty {
        /// Where it was read from.
        from: String,
    },
    /// Larger than an IdP accepts (16 KiB, §7.3 step 5).
    #[error("the ID token in {from} is larger than 16 KiB: not an ID token")]
    IdTokenTooLarge {
        /// Where it was read from.
        from: String,
    },
    /// Not a JWT with the claims the client reads (`iss`, `exp`).
    #[error("the ID token in {from} is not an ID token: {reason}; it was not sent")]
    NotIdToken {
        /// Where it was read from.
        from: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Its `exp` has passed (EMA-C-2).
    #[error(
        "the ID token in {from} expired {ago} s ago; it was not sent. Sign in at the identity provider again and save the new ID token there"
    )]
    IdTokenExpired {
        /// Where it was read from.
        from: String,
        /// Seconds since `exp`.
        ago: i64,
    },
    /// The ID token's `iss` is not the IdP the grant names.
    #[error(
        "the ID token in {from} was issued by {iss}, not by {expected} (--idp): neither it nor the identity provider client's credentials were sent"
    )]
    UnexpectedIdp {
        /// Where it was read from.
        from: String,
        /// The ID token's `iss`.
        iss: String,
        /// The IdP the grant names.
        expected: String,
    },
    /// The IdP's metadata could not be found, or names another issuer (EMA-C-3).
    #[error("finding the identity provider {iss} (the ID token's iss): {source}")]
    IdpDiscovery {
        /// The ID token's `iss`.
        iss: String,
        /// Why.
        source: DiscoveryError,
    },
    /// The IdP client's authentication could not be built.
    #[error("the identity provider client's authentication: {0}")]
    IdpClientAuth(#[from] ClientAuthError),
    /// The kept sign-in cannot give an ID token: none is kept, its refresh was
    /// refused (then the user signs in again), or the refreshed ID token is not
    /// valid.
    #[error(transparent)]
    SignIn(#[from] crate::sign_in::SignInError),
    /// The IdP refused the kept sign-in's ID token at the exchange with
    /// `invalid_grant` (EMA-C-8): the user signs in again.
    #[error(
        "the identity provider {idp} refused the token exchange ({status}): invalid_grant: {description}. The kept ID token was not accepted: sign in again with `mcp-auth login --idp {idp} --idp-client-id {client_id}`"
    )]
    KeptIdTokenRefused {
        /// The IdP's issuer.
        idp: String,
        /// HTTP status.
        status: u16,
        /// `error_description`.
        description: String,
        /// The IdP client id.
        client_id: String,
    },
    /// The IdP answered the exchange with an OAuth error (EMA-C-8).
    #[error(
        "the identity provider {idp} refused the token exchange ({status}): {error}: {description}{hint}",
        hint = sign_in_hint(error)
    )]
    ExchangeRefused {
        /// The IdP's issuer.
        idp: String,
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The exchange did not get an answer within the limits.
    #[error("the token exchange at the identity provider {idp} failed: {reason}")]
    ExchangeFailed {
        /// The IdP's issuer.
        idp: String,
        /// Why.
        reason: String,
    },
    /// The IdP's 200 answer is not an ID-JAG (EMA-C-5).
    #[error(
        "the identity provider {idp} answered the token exchange with something that is not an ID-JAG ({reason}): nothing was sent to the authorization server"
    )]
    NotIdJag {
        /// The IdP's issuer.
        idp: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ID-JAG is for another authorization server (EMA-C-5, D1).
    #[error(
        "the identity provider {idp} issued an ID-JAG with aud {found}, not exactly {issuer} (the authorization server the MCP server names): it was not sent"
    )]
    IdJagWrongAudience {
        /// The IdP's issuer.
        idp: String,
        /// The ID-JAG's `aud`, as JSON (`none` when absent).
        found: String,
        /// The authorization server's issuer.
        issuer: String,
    },
    /// The authorization server answered the redemption with an OAuth error
    /// (EMA-C-8).
    #[error(
        "the authorization server {issuer} refused the ID-JAG ({status}): {error}: {description}"
    )]
    RedemptionRefused {
        /// The authorization server's issuer.
        issuer: String,
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
}

/// What the user does after the IdP's `error` (§7.11 item 8): sign in again when
/// the ID token was refused.
fn sign_in_hint(error: &str) -> &'static str {
    match error {
        "invalid_grant" => {
            ". The ID token was not accepted: sign in at the identity provider again and save the new ID token"
        }
        _ => "",
    }
}

/// The user's ID token, read now: the token, for the exchange only, and its
/// `iss`, decoded without verification; with the IdP's metadata when reading it
/// needed it (a refresh). No `Debug`: the token is in no output.
struct IdToken {
    jwt: String,
    issuer: String,
    idp: Option<AuthorizationServerMetadata>,
}

impl IdTokenSource {
    /// The ID token for an exchange at `now` (EMA-C-2): the file's, or the kept
    /// sign-in's, refreshed as `idp_client` when it expires within 60 s.
    async fn read(&self, idp_client: &ClientAuth, now: i64) -> Result<IdToken, EnterpriseError> {
        match self {
            Self::File(path) => self.read_file(path, now).await,
            Self::SignIn { cache, issuer } => {
                let (jwt, idp) =
                    crate::sign_in::kept_id_token(cache, issuer, idp_client, now).await?;
                Ok(IdToken {
                    jwt,
                    issuer: issuer.clone(),
                    idp,
                })
            }
        }
    }

    /// Reads the ID token from the file at `path` now: trimmed, at most 16 KiB, a
    /// JWT with a string `iss` and a numeric `exp` that has not passed at `now`.
    async fn read_file(
        &self,
        path: &std::path::Path,
        now: i64,
    ) -> Result<IdToken, EnterpriseError> {
        let from = || self.to_string();
        let raw = crate::token_file::read_text(path).await;
        let jwt = raw
            .and_then(|raw| crate::token_file::trimmed(&raw))
            .map_err(|failure| match failure {
                ReadFailure::Unreadable(reason) => EnterpriseError::IdTokenUnreadable {
                    from: from(),
                    reason,
                },
                ReadFailure::Empty => EnterpriseError::IdTokenEmpty { from: from() },
                ReadFailure::TooLarge => EnterpriseError::IdTokenTooLarge { from: from() },
            })?;
        let not_id_token = |reason| EnterpriseError::NotIdToken {
            from: from(),
            reason,
        };
        let claims = crate::unverified::claims(&jwt)
            .ok_or_else(|| not_id_token("not a JWT whose claims can be read"))?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| not_id_token("it has no iss naming its identity provider"))?
            .to_owned();
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or_else(|| not_id_token("it has no exp"))?;
        if exp <= now as f64 {
            return Err(EnterpriseError::IdTokenExpired {
                from: from(),
                ago: now - exp as i64,
            });
        }
        Ok(IdToken {
            jwt,
            issuer,
            idp: None,
        })
    }
}

/// The redemption's own parameters (`grant_type`, the ID-JAG as `assertion`, and
/// `scope`) for a token request at `server`, after the steps of the module
/// documentation: the checks of `server`, the ID token, the IdP, the exchange for
/// `resource` and `scope` (the client's scopes), and the checks of its answer.
/// `resource` and the client's authentication at `server` are the caller's, as for
/// every grant.
pub(crate) async fn redemption_params(
    http: &reqwest::Client,
    grant: &EnterpriseGrant,
    server: &AuthorizationServerMetadata,
    resource: &str,
    scope: Option<&str>,
    signer: Option<&RequestSigner>,
) -> Result<Vec<(&'static str, String)>, EnterpriseError> {
    redeemable_at(server, signer)?;
    let now = mcp_auth_core::unix_now();
    let mut id_token = grant.id_token.read(&grant.idp_client, now).await?;
    if let Some(expected) = grant.idp_issuer.as_ref().filter(|i| **i != id_token.issuer) {
        return Err(EnterpriseError::UnexpectedIdp {
            from: grant.id_token.to_string(),
            iss: id_token.issuer,
            expected: expected.clone(),
        });
    }
    let idp = match id_token.idp.take() {
        Some(idp) => idp,
        None => crate::discovery::identity_provider_metadata(http, &id_token.issuer)
            .await
            .map_err(|source| EnterpriseError::IdpDiscovery {
                iss: id_token.issuer.clone(),
                source,
            })?,
    };
    let exchange = Exchange {
        audience: &server.issuer,
        resource,
        scope,
    };
    let answer = match exchange
        .send(&grant.idp_client, &idp, &id_token.jwt, now)
        .await
    {
        Err(EnterpriseError::ExchangeRefused {
            idp,
            status,
            error,
            description,
        }) if error == "invalid_grant"
            && matches!(grant.id_token, IdTokenSource::SignIn { .. }) =>
        {
            return Err(EnterpriseError::KeptIdTokenRefused {
                idp,
                status,
                description,
                client_id: grant.idp_client.client_id().to_owned(),
            });
        }
        answer => answer?,
    };
    drop(id_token);
    let (assertion, granted) = id_jag(answer, &idp.issuer, &server.issuer)?;
    let mut params = vec![
        ("grant_type", JWT_BEARER_GRANT.to_owned()),
        ("assertion", assertion),
    ];
    if let Some(scope) = granted.or_else(|| scope.map(str::to_owned)) {
        params.push(("scope", scope));
    }
    Ok(params)
}

/// Whether `server` may get an ID-JAG (EMA-C-1) with the proof `signer` makes
/// (EMA-C-6; a pre-registered HTTPSig key is allowed here, unlike for a workload,
/// since the client has a registration it can name).
fn redeemable_at(
    server: &AuthorizationServerMetadata,
    signer: Option<&RequestSigner>,
) -> Result<(), EnterpriseError> {
    let issuer = || server.issuer.clone();
    if !server
        .grant_types_supported
        .iter()
        .any(|g| g == JWT_BEARER_GRANT)
    {
        return Err(EnterpriseError::GrantNotSupported { issuer: issuer() });
    }
    if let Some(profiles) = &server.authorization_grant_profiles_supported
        && !profiles.iter().any(|p| p == ID_JAG_PROFILE)
    {
        return Err(EnterpriseError::ProfileNotSupported { issuer: issuer() });
    }
    match signer {
        Some(signer) if !signer.advertised_by(server) => {
            Err(EnterpriseError::BindingNotAdvertised {
                issuer: issuer(),
                profile: signer.profile(),
            })
        }
        _ => Ok(()),
    }
}

/// The exchange's target (§7.2): the authorization server's issuer, the resource
/// and the scopes asked for.
struct Exchange<'a> {
    audience: &'a str,
    resource: &'a str,
    scope: Option<&'a str>,
}

impl Exchange<'_> {
    /// The form of §7.2 with `id_token` as the subject token and the IdP client's
    /// parameters (`client_id` and more, or nothing for Basic); built whole here so
    /// that no serializer lives across an await.
    fn form(
        &self,
        idp_client: &ClientAuth,
        idp_issuer: &str,
        id_token: &str,
        now: i64,
    ) -> Result<String, ClientAuthError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", TOKEN_EXCHANGE_GRANT)
            .append_pair("requested_token_type", ID_JAG_TOKEN_TYPE)
            .append_pair("subject_token", id_token)
            .append_pair("subject_token_type", ID_TOKEN_TYPE)
            .append_pair("audience", self.audience)
            .append_pair("resource", self.resource);
        if let Some(scope) = self.scope {
            form.append_pair("scope", scope);
        }
        for (name, value) in idp_client.form_params(idp_issuer, now)? {
            form.append_pair(name, &value);
        }
        Ok(form.finish())
    }

    /// Sends the exchange to `idp`'s token endpoint, with no proof of possession
    /// (EMA-C-4), and reads the answer; an error answer is the IdP's, named so.
    /// Redirects are not followed: a 307 would carry the ID token to another
    /// endpoint than the metadata's (EMA-C-3), so it is a refusal like any answer
    /// but 200.
    async fn send(
        &self,
        idp_client: &ClientAuth,
        idp: &AuthorizationServerMetadata,
        id_token: &str,
        now: i64,
    ) -> Result<TokenResponse, EnterpriseError> {
        let idp_name = || idp.issuer.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EnterpriseError::ExchangeFailed {
                idp: idp_name(),
                reason: e.to_string(),
            })?;
        let form = self.form(idp_client, &idp.issuer, id_token, now)?;
        let basic = idp_client.basic();
        let answer =
            crate::request_token(&http, &idp.token_endpoint, &form, basic, None, now).await;
        let idp = idp_name;
        answer.map_err(|e| match e {
            // A 200 whose members are not a token response.
            TokenError::Refused {
                status: 200,
                description,
                ..
            } => EnterpriseError::NotIdJag {
                idp: idp(),
                reason: description,
            },
            TokenError::Refused {
                status,
                error,
                description,
            } => EnterpriseError::ExchangeRefused {
                idp: idp(),
                status,
                error,
                description,
            },
            other => EnterpriseError::ExchangeFailed {
                idp: idp(),
                reason: other.to_string(),
            },
        })
    }
}

/// The ID-JAG of the IdP `idp`'s `answer` and the scopes it says it granted, once
/// the answer is one for the authorization server `issuer` (EMA-C-5).
fn id_jag(
    answer: TokenResponse,
    idp: &str,
    issuer: &str,
) -> Result<(String, Option<String>), EnterpriseError> {
    let not_id_jag = |reason: String| EnterpriseError::NotIdJag {
        idp: idp.to_owned(),
        reason,
    };
    match answer.issued_token_type.as_deref() {
        Some(ID_JAG_TOKEN_TYPE) => {}
        Some(other) => {
            return Err(not_id_jag(format!(
                "issued_token_type {other}, not {ID_JAG_TOKEN_TYPE}"
            )));
        }
        None => return Err(not_id_jag("no issued_token_type".into())),
    }
    if !answer.token_type.eq_ignore_ascii_case("N_A") {
        return Err(not_id_jag(format!(
            "token_type {}, not N_A",
            answer.token_type
        )));
    }
    let parsed = match mcp_auth_core::workload_assertion::parse(&answer.access_token) {
        Ok(AssertionKind::IdJag(parsed)) => parsed,
        Ok(AssertionKind::Workload(_)) | Err(AssertionError::WrongType) => {
            return Err(not_id_jag("its typ is not oauth-id-jag+jwt".into()));
        }
        Err(_) => {
            return Err(not_id_jag(
                "not a compact JWS of at most 16 KiB with a JSON header".into(),
            ));
        }
    };
    let claims = parsed
        .claims()
        .map_err(|_| not_id_jag("its claims are not a JSON object".into()))?;
    match audience_in(claims, issuer) {
        AudienceCheck::Issuer => {}
        AudienceCheck::Other(found) => {
            return Err(EnterpriseError::IdJagWrongAudience {
                idp: idp.to_owned(),
                found,
                issuer: issuer.to_owned(),
            });
        }
        AudienceCheck::NotJwt => {
            return Err(not_id_jag("its claims are not a JSON object".into()));
        }
    }
    let granted = answer.scope.filter(|s| !s.trim().is_empty());
    Ok((answer.access_token, granted))
}

#[cfg(test)]
mod tests;
