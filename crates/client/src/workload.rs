//! The client side of the workload-identity-federation profile
//! (profiles/workload-identity-federation.md, WIF-C-1 to WIF-C-7): a workload that
//! holds a JWT from its platform (a Kubernetes projected service-account token, a
//! GitHub Actions OIDC token, a SPIFFE JWT-SVID) gets an access token with it as
//! the assertion of the RFC 7523 `jwt-bearer` grant, with no client id and no
//! client authentication (WIF §7.1).
//!
//! [`PlatformToken`] says where the token is; [`crate::Grant::Workload`] makes
//! [`crate::McpClient`] use it. Before each token request of this grant,
//! `grant_params` checks, in this order, and sends nothing when a check fails:
//!
//! 1. the authorization server lists the grant in `grant_types_supported`
//!    (WIF-C-1);
//! 2. a proof of possession the caller asked for (DPoP, HTTPSig) is advertised by
//!    the authorization server's metadata, and an HTTPSig key is a runtime key
//!    (WIF-C-6, WIF §7.5: there is no client whose registered key a `keyid` could
//!    name);
//! 3. the token, read now from its file or environment variable (WIF-C-3: a
//!    platform rewrites the file before the token expires, so no copy is kept
//!    between requests), has exactly the authorization server's issuer as `aud`, a
//!    string or a one-element array, compared without normalization (WIF-C-4, D1).
//!    The claims are decoded without verifying the signature: the check protects
//!    the token from an authorization server that a malicious MCP server names
//!    (WIF §12.5), it does not judge the token.
//!
//! The token appears in no error and no `Debug` output: errors name where it was
//! read from and, for a wrong audience, the audiences it names (the user's own
//! token's claims, not the token).

use std::path::PathBuf;

use mcp_auth_core::httpsig_profile::KeyBinding;

use crate::RequestSigner;
use crate::discovery::AuthorizationServerMetadata;
use crate::token_file::ReadFailure;
use crate::unverified::{AudienceCheck, audience_of};

pub use mcp_auth_core::workload_assertion::JWT_BEARER_GRANT;

/// Where the workload's platform token is read from, for every token request
/// (WIF-C-3). A file readable only by the workload's user is better than an
/// environment variable, which child processes inherit (WIF §12.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformToken {
    /// A file the platform writes and rewrites (Kubernetes projected volume,
    /// `spiffe-helper` output, a CI job's token file).
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
}

impl std::fmt::Display for PlatformToken {
    /// Where the token is, for messages (never the token).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// Why a token request of the workload grant was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The authorization server does not list the grant (WIF-C-1).
    #[error(
        "the authorization server {issuer} does not list {JWT_BEARER_GRANT} in grant_types_supported: it does not accept workload tokens, and none was sent"
    )]
    GrantNotSupported {
        /// The authorization server's issuer.
        issuer: String,
    },
    /// A proof of possession was asked for, and the authorization server's metadata
    /// does not advertise it (WIF-C-6).
    #[error(
        "the authorization server {issuer} does not advertise {profile} for this key in its metadata: no token request was sent (ask for an unbound token, or use an authorization server that binds tokens this way)"
    )]
    BindingNotAdvertised {
        /// The authorization server's issuer.
        issuer: String,
        /// `DPoP` or `HTTPSig`.
        profile: &'static str,
    },
    /// An HTTPSig key registered with a client (`keyid`): a workload has no client
    /// whose keys it could name (WIF §7.5).
    #[error(
        "a workload token request is signed with a runtime key only: a pre-registered key names a client, and a workload has none"
    )]
    PreregisteredKey,
    /// The token could not be read.
    #[error("reading the workload token from {from}: {reason}")]
    Unreadable {
        /// Where it was read from.
        from: String,
        /// Why it could not be.
        reason: String,
    },
    /// The file or variable holds only whitespace.
    #[error("the workload token in {from} is empty")]
    Empty {
        /// Where it was read from.
        from: String,
    },
    /// Larger than an authorization server accepts (16 KiB, WIF §7.2).
    #[error("the workload token in {from} is larger than 16 KiB: not a platform token")]
    TooLarge {
        /// Where it was read from.
        from: String,
    },
    /// Not a compact JWS whose payload is a JSON object with no member repeated.
    #[error("the workload token in {from} is not a JWT whose claims can be read")]
    NotJwt {
        /// Where it was read from.
        from: String,
    },
    /// `aud` is not exactly the authorization server's issuer (WIF-C-4).
    #[error(
        "the workload token in {from} has aud {found}, not exactly {issuer} (the issuer of the authorization server the MCP server names, as a string or the only element of an array): it was not sent. Ask the platform for a token with audience {issuer}."
    )]
    WrongAudience {
        /// Where it was read from.
        from: String,
        /// The token's `aud`, as JSON (`none` when absent).
        found: String,
        /// The authorization server's issuer.
        issuer: String,
    },
}

impl PlatformToken {
    /// Reads the token now, with surrounding whitespace removed (WIF §7.1). The
    /// caller keeps it only for the one request it builds.
    pub async fn read(&self) -> Result<String, WorkloadError> {
        let raw = match self {
            Self::File(path) => crate::token_file::read_text(path).await,
            Self::Env(name) => {
                std::env::var(name).map_err(|e| ReadFailure::Unreadable(e.to_string()))
            }
        };
        raw.and_then(|raw| crate::token_file::trimmed(&raw))
            .map_err(|failure| {
                let from = self.to_string();
                match failure {
                    ReadFailure::Unreadable(reason) => WorkloadError::Unreadable { from, reason },
                    ReadFailure::Empty => WorkloadError::Empty { from },
                    ReadFailure::TooLarge => WorkloadError::TooLarge { from },
                }
            })
    }
}

/// The grant's own parameters (`grant_type`, and the platform token read now as
/// `assertion`) for a token request at `server`, once the checks of WIF-C-1,
/// WIF-C-6 and WIF-C-4 pass (module documentation). `resource` and `scope` are the
/// caller's, as for every grant; no client authentication is added (WIF D6).
pub(crate) async fn grant_params(
    token: &PlatformToken,
    server: &AuthorizationServerMetadata,
    signer: Option<&RequestSigner>,
) -> Result<[(&'static str, String); 2], WorkloadError> {
    if !server
        .grant_types_supported
        .iter()
        .any(|g| g == JWT_BEARER_GRANT)
    {
        return Err(WorkloadError::GrantNotSupported {
            issuer: server.issuer.clone(),
        });
    }
    if let Some(signer) = signer {
        if let RequestSigner::HttpSig(s) = signer
            && s.key().binding() == KeyBinding::Preregistered
        {
            return Err(WorkloadError::PreregisteredKey);
        }
        if !signer.advertised_by(server) {
            return Err(WorkloadError::BindingNotAdvertised {
                issuer: server.issuer.clone(),
                profile: signer.profile(),
            });
        }
    }
    let assertion = token.read().await?;
    match audience_of(&assertion, &server.issuer) {
        AudienceCheck::Issuer => {}
        AudienceCheck::NotJwt => {
            return Err(WorkloadError::NotJwt {
                from: token.to_string(),
            });
        }
        AudienceCheck::Other(found) => {
            return Err(WorkloadError::WrongAudience {
                from: token.to_string(),
                found,
                issuer: server.issuer.clone(),
            });
        }
    }
    Ok([
        ("grant_type", JWT_BEARER_GRANT.to_owned()),
        ("assertion", assertion),
    ])
}

#[cfg(test)]
mod tests;
