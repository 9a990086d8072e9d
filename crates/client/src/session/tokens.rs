//! How [`McpClient`] gets tokens: the grant's request at the token endpoint, the
//! refresh token used at the issuer that issued it (RFC 6749 §6), and the
//! credentials each needs at an issuer, where a pre-registered client's go only to
//! the issuer its [`crate::IssuerPolicy`] allows. The workload grant has no
//! credentials (its platform token is the grant, checked by
//! [`crate::workload::grant_params`]) and no refresh token; the enterprise grant
//! has the client's credentials at the authorization server, an ID-JAG obtained
//! for each request ([`crate::enterprise::redemption_params`]) and no refresh
//! token.

use super::{CallError, Grant, McpClient};
use crate::discovery::AuthorizationServerMetadata;
use crate::enterprise::{EnterpriseError, EnterpriseGrant};
use crate::{ClientAuth, RequestSigner, TokenError, TokenResponse, request_token};

impl McpClient {
    /// Uses the refresh token, if there is one from the issuer discovery found
    /// (RFC 6749 §6; never sent to another AS). `false` when there is none or the AS
    /// refused it (it is then dropped, and the caller authorizes afresh).
    pub(super) async fn refresh_token(&mut self) -> Result<bool, CallError> {
        let Some(discovery) = &self.discovery else {
            return Ok(false);
        };
        let server = discovery.authorization_server.clone();
        let resource = discovery.resource.resource.clone();
        let Some((refresh_token, _)) = self
            .refresh
            .take()
            .filter(|(_, issuer)| *issuer == server.issuer)
        else {
            return Ok(false);
        };
        let credentials = match self.registrations.get(&server.issuer) {
            Some(c) => Some(c.clone()),
            None if self.grant.is_none() => return Ok(false),
            None => self.grant_credentials(&server).await?,
        };
        let now = mcp_auth_core::unix_now();
        let mut form = Form::default();
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &refresh_token);
        match self
            .request_at(&server, &resource, credentials.as_ref(), form, now)
            .await
        {
            Ok(token) => {
                self.keep_token(token, &server.issuer, Some(refresh_token), now);
                Ok(true)
            }
            // Expired, revoked or reused: authorize afresh.
            Err(CallError::Token(TokenError::Refused { .. })) => {
                self.token = None;
                self.token_expires_at = None;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Requests a token at `server`'s token endpoint with `form` (the grant's
    /// parameters), the `resource` (RFC 8707) and `credentials` (none for the
    /// workload grant), proving possession of the signer's key when the client has
    /// one.
    async fn request_at(
        &self,
        server: &AuthorizationServerMetadata,
        resource: &str,
        credentials: Option<&ClientAuth>,
        mut form: Form,
        now: i64,
    ) -> Result<TokenResponse, CallError> {
        form.append_pair("resource", resource);
        if let Some(credentials) = credentials {
            for (k, v) in credentials.form_params(&server.issuer, now)? {
                form.append_pair(k, &v);
            }
        }
        Ok(request_token(
            &self.token_http,
            &server.token_endpoint,
            &form.finish(),
            credentials.and_then(ClientAuth::basic),
            self.signer.as_ref(),
            now,
        )
        .await?)
    }

    /// Takes a token response: the access token, its expiry, and the refresh token
    /// (a new one replaces `previous`, else `previous` stays, RFC 6749 §6). The
    /// workload and enterprise grants keep none ([`Grant::refreshes`]): their
    /// platform token or ID token is how they get the next access token.
    fn keep_token(
        &mut self,
        token: TokenResponse,
        issuer: &str,
        previous: Option<String>,
        now: i64,
    ) {
        self.token = Some(token.access_token);
        self.token_expires_at = token.expires_in.map(|s| now + s);
        self.refresh = token
            .refresh_token
            .or(previous)
            .filter(|_| self.grant.as_ref().is_none_or(Grant::refreshes))
            .map(|rt| (rt, issuer.to_owned()));
    }

    /// The credentials the grant authenticates with at `server`: the
    /// pre-registered client's once the issuer policy allows that issuer; for the
    /// authorization-code grant, the client registered there (kept, or registered
    /// now as [`crate::authorization_code::register`] does); none for the workload
    /// grant (WIF D6).
    async fn grant_credentials(
        &mut self,
        server: &AuthorizationServerMetadata,
    ) -> Result<Option<ClientAuth>, CallError> {
        let client = match &self.grant {
            Some(
                Grant::ClientCredentials(c) | Grant::Enterprise(EnterpriseGrant { client: c, .. }),
            ) => {
                let c = c.clone();
                return self.allowed(c, &server.issuer).map(Some);
            }
            Some(Grant::AuthorizationCode(client, _)) => client.clone(),
            Some(Grant::Workload(_)) => return Ok(None),
            None => {
                return Err(CallError::NeedsCredentials {
                    challenge: "a token was asked for".into(),
                });
            }
        };
        if let Some(c) = self.registrations.get(&server.issuer) {
            return Ok(Some(c.clone()));
        }
        let credentials = match &client.preregistered {
            Some(c) => self.allowed(c.clone(), &server.issuer)?,
            None => crate::authorization_code::register(&self.http, server, &client).await?,
        };
        self.registrations
            .insert(server.issuer.clone(), credentials.clone());
        let dynamic = client.preregistered.is_none()
            && client.metadata_document.as_deref() != Some(credentials.client_id());
        if dynamic || matches!(credentials, ClientAuth::None { .. }) {
            self.kept_registrations.insert(server.issuer.clone());
        }
        Ok(Some(credentials))
    }

    /// `credentials`, once the issuer policy allows them at `issuer` (those that
    /// authenticate the client; a public client's id goes anywhere).
    fn allowed(&mut self, credentials: ClientAuth, issuer: &str) -> Result<ClientAuth, CallError> {
        if credentials.authenticates() {
            self.issuer_pin.allow(credentials.client_id(), issuer)?;
        }
        Ok(credentials)
    }

    /// Gets a token with the grant at the authorization server discovery found,
    /// for the client's scopes (and `offline_access` where the authorization-code
    /// grant may have it). One request: an error answer is returned, never retried
    /// nor followed by another grant (WIF-C-5).
    pub(super) async fn fetch_token(&mut self) -> Result<(), CallError> {
        let Some(discovery) = &self.discovery else {
            return Ok(());
        };
        if self.grant.is_none() {
            return Ok(());
        }
        let server = discovery.authorization_server.clone();
        let resource = discovery.resource.resource.clone();
        let credentials = self.grant_credentials(&server).await?;
        let now = mcp_auth_core::unix_now();
        let mut form = Form::default();
        match &self.grant {
            None | Some(Grant::ClientCredentials(_)) => {
                form.append_pair("grant_type", "client_credentials");
                self.append_scope(&mut form);
            }
            Some(Grant::Workload(token)) => {
                let params =
                    crate::workload::grant_params(token, &server, self.signer.as_ref()).await?;
                for (k, v) in &params {
                    form.append_pair(k, v);
                }
                self.append_scope(&mut form);
            }
            Some(Grant::Enterprise(grant)) => {
                let scope = (!self.scopes.is_empty()).then(|| self.scopes.join(" "));
                let params = crate::enterprise::redemption_params(
                    &self.http,
                    grant,
                    &server,
                    &resource,
                    scope.as_deref(),
                    self.signer.as_ref(),
                )
                .await?;
                for (k, v) in &params {
                    form.append_pair(k, v);
                }
            }
            Some(Grant::AuthorizationCode(client, authorizer)) => {
                // offline_access only where the AS lists it (MCP "Refresh tokens").
                let mut scopes = self.scopes.clone();
                if server
                    .scopes_supported
                    .iter()
                    .any(|s| s == "offline_access")
                    && !scopes.iter().any(|s| s == "offline_access")
                {
                    scopes.push("offline_access".into());
                }
                let scope = scopes.join(" ");
                // Always registered: grant_credentials gives this grant a client.
                let client_id =
                    credentials
                        .as_ref()
                        .map(ClientAuth::client_id)
                        .ok_or_else(|| CallError::NeedsCredentials {
                            challenge: "the authorization code grant has no client".into(),
                        })?;
                let request = crate::authorization_code::AuthorizationRequest {
                    client_id,
                    redirect_uri: &client.redirect_uri,
                    resource: Some(&resource),
                    scope: Some(&scope),
                    dpop_jkt: self.signer.as_ref().and_then(RequestSigner::dpop_jkt),
                    nonce: None,
                };
                let code =
                    crate::authorization_code::authorize(&server, &request, authorizer).await?;
                form.append_pair("grant_type", "authorization_code");
                form.append_pair("code", &code.code);
                form.append_pair("redirect_uri", &client.redirect_uri);
                form.append_pair("code_verifier", &code.verifier);
            }
        }
        let token = match self
            .request_at(&server, &resource, credentials.as_ref(), form, now)
            .await
        {
            // The redemption's refusal, named as the authorization server's (EMA-C-8).
            Err(CallError::Token(TokenError::Refused {
                status,
                error,
                description,
            })) if matches!(self.grant, Some(Grant::Enterprise(_))) => {
                return Err(EnterpriseError::RedemptionRefused {
                    issuer: server.issuer,
                    status,
                    error,
                    description,
                }
                .into());
            }
            token => token?,
        };
        self.keep_token(token, &server.issuer, None, now);
        Ok(())
    }

    /// The client's scopes as `scope`, when it has any.
    fn append_scope(&self, form: &mut Form) {
        if !self.scopes.is_empty() {
            form.append_pair("scope", &self.scopes.join(" "));
        }
    }
}

/// A form body being built. Pairs are kept as owned strings (url's serializer holds
/// a non-`Sync` closure, which would make the futures that build it not `Send`).
#[derive(Default)]
struct Form(Vec<(String, String)>);

impl Form {
    fn append_pair(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    fn finish(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
    }
}
