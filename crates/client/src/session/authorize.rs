//! What a refusal from the MCP server sets off in [`McpClient`]: on a 401,
//! discovery (RFC 9728, then RFC 8414) and a token for the scopes the challenge or
//! the resource names, a refresh first where there is a refresh token; on a 403
//! `insufficient_scope`, a new token for the union of the scopes (step-up); on a
//! DPoP `use_dpop_nonce`, one retry with the server's nonce.

use http::StatusCode;

use super::transport::Outgoing;
use super::{CallError, MAX_STEP_UPS, McpClient};
use crate::discovery::{Discovery, DiscoveryError, discover};
use mcp_auth_core::challenge::{Challenge, parse_challenges};

impl McpClient {
    /// Sends `request`, authorizing on a 401 (once) and stepping up on a 403
    /// `insufficient_scope` (at most [`MAX_STEP_UPS`] times); the response after that.
    pub(super) async fn exchange_raw(
        &mut self,
        request: &Outgoing<'_>,
    ) -> Result<reqwest::Response, CallError> {
        let mut step_ups = 0;
        let mut authorized_once = false;
        let mut nonce_retried = false;
        let expired = self
            .token_expires_at
            .is_some_and(|at| at - crate::token_cache::EXPIRY_MARGIN <= mcp_auth_core::unix_now());
        if (self.token.is_none() || expired) && self.refresh.is_some() {
            if self.discovery.is_none() {
                self.discovery = Some(self.discover(&[]).await?);
            }
            self.refresh_token().await?;
        }
        loop {
            let response = self.send(request).await?;
            let status = response.status();
            let challenges = parse_challenges(response.headers());
            let new_nonce = self
                .signer
                .as_ref()
                .is_some_and(|s| s.remember_nonce(&self.server, response.headers()));
            match status {
                // RFC 9449 §9: the resource wants its nonce in the proof; once.
                StatusCode::UNAUTHORIZED
                    if new_nonce
                        && !nonce_retried
                        && self.token.is_some()
                        && challenges
                            .iter()
                            .any(|c| c.param("error") == Some("use_dpop_nonce")) =>
                {
                    nonce_retried = true;
                }
                StatusCode::UNAUTHORIZED if !authorized_once => {
                    authorized_once = true;
                    self.authorize(&challenges).await?;
                }
                StatusCode::FORBIDDEN
                    if step_ups < MAX_STEP_UPS && insufficient_scope(&challenges).is_some() =>
                {
                    step_ups += 1;
                    let needed = insufficient_scope(&challenges).unwrap_or_default();
                    self.add_scopes(&needed);
                    if self.discovery.is_none() {
                        // A token from a cache: find its AS from this challenge.
                        self.discovery = Some(self.discover(&challenges).await?);
                    }
                    self.fetch_token().await?;
                }
                _ => return Ok(response),
            }
        }
    }

    /// After a 401: discover (once), then get a token with the challenge's scopes.
    async fn authorize(&mut self, challenges: &[Challenge]) -> Result<(), CallError> {
        let needs_credentials = || CallError::NeedsCredentials {
            challenge: describe(challenges),
        };
        if self.grant.is_none() && self.refresh.is_none() {
            return Err(needs_credentials());
        }
        let discovery = self.discover(challenges).await?;
        self.choose_scopes(&discovery);
        self.discovery = Some(discovery);
        if self.refresh_token().await? {
            return Ok(());
        }
        if self.grant.is_none() {
            return Err(needs_credentials());
        }
        self.fetch_token().await
    }

    /// Discovery for this server: RFC 9728 then RFC 8414; for a server spoken to at
    /// 2025-03-26 that has no resource metadata, that version's own rules.
    pub(super) async fn discover(&self, challenges: &[Challenge]) -> Result<Discovery, CallError> {
        let preferred = self.issuer_pin.preferred();
        match discover(&self.http, &self.server, challenges, preferred).await {
            Err(DiscoveryError::NoResourceMetadata(_)) if self.protocol_version == "2025-03-26" => {
                Ok(
                    crate::discovery::discover_2025_03_26(&self.http, &self.server, challenges)
                        .await?,
                )
            }
            other => Ok(other?),
        }
    }

    /// MCP "Scope Selection Strategy": the challenge's scopes always; the resource's
    /// `scopes_supported` only when nothing else says what to ask for (not the
    /// caller, not a challenge).
    pub(super) fn choose_scopes(&mut self, discovery: &Discovery) {
        match &discovery.challenge_scope {
            Some(scope) => self.add_scopes(scope),
            None if self.scopes.is_empty() => {
                if let Some(scope) = discovery.initial_scope() {
                    self.add_scopes(&scope);
                }
            }
            None => {}
        }
    }

    pub(super) fn add_scopes(&mut self, scope: &str) {
        for s in mcp_auth_core::scope::tokens(scope) {
            if !self.scopes.iter().any(|have| have == s) {
                self.scopes.push(s.to_owned());
            }
        }
    }
}

/// The error for a response that is still a refusal after authorization.
pub(super) async fn refused(
    status: StatusCode,
    challenges: &[Challenge],
    response: reqwest::Response,
) -> CallError {
    let text = describe(challenges);
    let challenge = if text.is_empty() {
        crate::limits::quoted_body(response).await
    } else {
        text
    };
    CallError::Refused {
        status: status.as_u16(),
        challenge,
    }
}

/// The scopes a 403 `insufficient_scope` challenge asks for.
fn insufficient_scope(challenges: &[Challenge]) -> Option<String> {
    challenges
        .iter()
        .find(|c| c.param("error") == Some("insufficient_scope"))
        .map(|c| c.param("scope").unwrap_or_default().to_owned())
}

/// The challenges, readable: `Bearer error="..." (description)`.
fn describe(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let mut s = c.scheme.clone();
            if let Some(e) = c.param("error") {
                s.push_str(&format!(" {e}"));
            }
            if let Some(d) = c.param("error_description") {
                s.push_str(&format!(": {d}"));
            }
            if let Some(scope) = c.param("scope") {
                s.push_str(&format!(" (scope {scope})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}
