//! The enterprise identity provider the checker plays for `conformance as --profile
//! ema` (profiles/enterprise-managed-authorization.md): an issuer the authorization
//! server under test trusts for ID-JAGs (a `[[id_jag_issuers]]` entry), whose
//! ID-JAGs the checker mints, valid and broken, and redeems as a client of the AS.
//!
//! The decoys, the fetch log, the served documents and taking the key set down
//! (EMA-AS-7) are [`PlayedIssuer`]'s.

use std::time::Instant;

use axum::Router;
use serde_json::{Map, Value, json};

use crate::mint::{MintError, Minter, Unsigned};
use crate::played_issuer::PlayedIssuer;
pub use crate::played_issuer::{
    ATTACKER_JWKS_PATH, UNTRUSTED_PATH, is_forbidden_fetch, is_key_set_fetch,
};

/// The `typ` of an ID-JAG (profile §7.4).
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// The checker as an enterprise IdP the AS trusts (`--idp-key`, `--idp-issuer`,
/// `--idp-subject`).
pub struct EnterpriseIdp {
    /// Signs the ID-JAGs as the trusted issuer (`iss`), with the key whose public part
    /// the AS reads from the IdP's JWK Set (or its `jwks_file`).
    pub minter: Minter,
    /// The user's subject identifier (`sub`) the ID-JAGs carry.
    pub subject: String,
    /// The `tenant` claim the AS's trust entry is pinned to, if any (profile D13).
    pub tenant: Option<String>,
    /// The trust entry's `clock_skew` (profile default 60 s).
    pub clock_skew: i64,
    /// The trust entry's `max_assertion_lifetime` (profile default 300 s).
    pub max_assertion_lifetime: i64,
    played: PlayedIssuer,
}

impl std::fmt::Debug for EnterpriseIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterpriseIdp")
            .field("issuer", &self.minter.issuer())
            .field("subject", &self.subject)
            .field("tenant", &self.tenant)
            .field("served", &self.played.served())
            .finish_non_exhaustive()
    }
}

impl EnterpriseIdp {
    /// The IdP whose key is `minter`'s, speaking for user `subject`, with the
    /// profile's default skew (60 s) and lifetime (300 s). Makes a second key of the
    /// same kind, the one the AS must never trust.
    pub fn new(minter: Minter, subject: impl Into<String>) -> Result<Self, MintError> {
        Ok(Self {
            played: PlayedIssuer::new(&minter)?,
            minter,
            subject: subject.into(),
            tenant: None,
            clock_skew: 60,
            max_assertion_lifetime: 300,
        })
    }

    /// The issuer (`iss`) of the ID-JAGs.
    pub fn issuer(&self) -> &str {
        self.minter.issuer()
    }

    /// The key the AS must not trust (same kind as the IdP's).
    pub fn attacker(&self) -> &Minter {
        self.played.attacker()
    }

    /// An issuer no trust entry names.
    pub fn untrusted_issuer(&self) -> String {
        self.played.untrusted_issuer()
    }

    /// Whether the checker serves the IdP's discovery document and key set.
    pub fn served(&self) -> bool {
        self.played.served()
    }

    /// The paths the AS requested from the checker's listener so far, with when.
    pub fn fetches(&self) -> Option<Vec<(String, Instant)>> {
        self.played.fetches()
    }

    /// Takes the served discovery document and key set down (503) or back up.
    pub fn set_down(&self, down: bool) {
        self.played.set_down(down);
    }

    /// The routes of the IdP, mounted at the root of the issuer's origin
    /// ([`PlayedIssuer::router`]).
    pub fn router(&mut self) -> Router {
        self.played.router(self.minter.jwks(), self.minter.alg())
    }

    /// The header and claims of a valid ID-JAG at `now` for the AS `audience`,
    /// client `client_id`, `resource` and `scope` (none when empty), living 300 s
    /// (or the entry's maximum when lower).
    pub fn valid(
        &self,
        audience: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> Unsigned {
        let header =
            json!({"alg": self.minter.alg().name(), "kid": self.minter.kid(), "typ": ID_JAG_TYP});
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": self.subject,
            "aud": audience,
            "client_id": client_id,
            "jti": new_jti(),
            "iat": now,
            "exp": now + self.max_assertion_lifetime.min(300),
            "resource": resource,
        });
        if !scope.is_empty() {
            claims["scope"] = json!(scope);
        }
        if let Some(tenant) = &self.tenant {
            claims["tenant"] = json!(tenant);
        }
        Unsigned {
            header: object(header),
            claims: object(claims),
        }
    }

    /// `jag` signed with the IdP's key, whatever its header says.
    pub fn sign(&self, jag: &Unsigned) -> String {
        self.minter.sign(jag)
    }
}

/// A new `jti`: 128 random bits, base64url.
pub fn new_jti() -> String {
    mcp_auth_core::random_token::<16>().unwrap_or_default()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
