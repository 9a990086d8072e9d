//! Which authorization server a pre-registered client's credentials may go to.
//!
//! An MCP server names its authorization server in its metadata (RFC 9728 §2,
//! `authorization_servers`), and a malicious or compromised server can name any:
//! one it runs itself, to collect the secret (or a `private_key_jwt` assertion) of
//! every client that follows it. A client registered out of band is registered at
//! one issuer, so its credentials are only ever sent there (RFC 9700 §4.4 describes
//! the related mix-up attacks): the issuer it was configured for
//! ([`IssuerPolicy::Configured`], `--issuer` of the CLI), or, trusting on first
//! use, the first issuer they went to for this MCP server, pinned (the CLI keeps the
//! pin in the token cache) so that any other is refused later
//! ([`IssuerPolicy::FirstUse`]).
//!
//! Credentials that prove nothing (a public client's `client_id`) and those a
//! client registered at the issuer itself (dynamic registration, kept per issuer)
//! are not subject to the policy.

/// Where a pre-registered client's credentials may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerPolicy {
    /// Only to this issuer: the one the client is registered at.
    Configured(String),
    /// Trust on first use: to the issuer pinned by an earlier run, or, with `None`,
    /// to the first one discovery finds, which is then pinned for the rest of the
    /// client's life.
    FirstUse(Option<String>),
}

impl Default for IssuerPolicy {
    fn default() -> Self {
        Self::FirstUse(None)
    }
}

/// A pre-registered client's credentials were about to go to an issuer the policy
/// does not allow; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UntrustedIssuer {
    /// Not the configured issuer.
    #[error(
        "refusing to send the credentials of client `{client_id}` to {found}: the MCP server's metadata names that authorization server, but the client is registered at {expected} (--issuer). If `{client_id}` really is registered at {found}, pass --issuer {found}"
    )]
    NotConfigured {
        /// The client.
        client_id: String,
        /// The configured issuer.
        expected: String,
        /// The issuer discovery found.
        found: String,
    },
    /// Not the issuer pinned on first use.
    #[error(
        "refusing to send the credentials of client `{client_id}` to {found}: they were first used with {pinned} for this MCP server, and that issuer is pinned. If the server really moved to {found} and `{client_id}` is registered there, pass --issuer {found} (the pin is then replaced)"
    )]
    NotPinned {
        /// The client.
        client_id: String,
        /// The pinned issuer.
        pinned: String,
        /// The issuer discovery found.
        found: String,
    },
}

/// The policy of one client, and where its credentials went.
#[derive(Debug, Clone, Default)]
pub(crate) struct IssuerPin {
    policy: IssuerPolicy,
    sent_to: Option<String>,
}

impl IssuerPin {
    pub(crate) fn new(policy: IssuerPolicy) -> Self {
        Self {
            policy,
            sent_to: None,
        }
    }

    /// The issuer to choose among several a resource lists: the configured or
    /// pinned one.
    pub(crate) fn preferred(&self) -> Option<&str> {
        match &self.policy {
            IssuerPolicy::Configured(issuer) | IssuerPolicy::FirstUse(Some(issuer)) => Some(issuer),
            IssuerPolicy::FirstUse(None) => None,
        }
    }

    /// Allows `client_id`'s credentials to go to `issuer`, or refuses. The first
    /// issuer allowed under trust on first use is pinned.
    pub(crate) fn allow(&mut self, client_id: &str, issuer: &str) -> Result<(), UntrustedIssuer> {
        match &self.policy {
            IssuerPolicy::Configured(expected) if expected != issuer => {
                return Err(UntrustedIssuer::NotConfigured {
                    client_id: client_id.to_owned(),
                    expected: expected.clone(),
                    found: issuer.to_owned(),
                });
            }
            IssuerPolicy::FirstUse(Some(pinned)) if pinned != issuer => {
                return Err(UntrustedIssuer::NotPinned {
                    client_id: client_id.to_owned(),
                    pinned: pinned.clone(),
                    found: issuer.to_owned(),
                });
            }
            IssuerPolicy::FirstUse(None) => {
                self.policy = IssuerPolicy::FirstUse(Some(issuer.to_owned()));
            }
            _ => {}
        }
        self.sent_to = Some(issuer.to_owned());
        Ok(())
    }

    /// The issuer the credentials were allowed to go to, once they were.
    pub(crate) fn sent_to(&self) -> Option<&str> {
        self.sent_to.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_issuer_is_pinned_and_a_configured_one_is_the_only_one() {
        let mut pin = IssuerPin::default();
        assert_eq!(pin.sent_to(), None);
        pin.allow("bot", "https://as.example").unwrap();
        assert_eq!(pin.sent_to(), Some("https://as.example"));
        assert_eq!(pin.preferred(), Some("https://as.example"));
        assert_eq!(
            pin.allow("bot", "https://evil.example"),
            Err(UntrustedIssuer::NotPinned {
                client_id: "bot".into(),
                pinned: "https://as.example".into(),
                found: "https://evil.example".into(),
            })
        );
        let mut configured = IssuerPin::new(IssuerPolicy::Configured("https://as.example".into()));
        assert!(configured.allow("bot", "https://evil.example").is_err());
        assert_eq!(configured.sent_to(), None);
        configured.allow("bot", "https://as.example").unwrap();
    }
}
