//! The RFC 7523 §2.1 `jwt-bearer` grant: one grant type, two kinds of assertion,
//! told apart by `typ` before anything else (profiles/workload-identity-federation.md
//! D6, profiles/enterprise-managed-authorization.md D6):
//!
//! - absent, `JWT` or `JOSE`: a workload's platform token, no client
//!   ([`crate::workload::grant`]);
//! - `oauth-id-jag+jwt`: an ID-JAG from an enterprise IdP, redeemed by an
//!   authenticated client ([`crate::id_jag::grant`]).
//!
//! Steps 1 and 2 of both profiles' validation are the same and are done here.

use axum::http::HeaderMap;
use axum::response::Response;
use mcp_auth_core::workload_assertion::{AssertionError, AssertionKind, parse};

use crate::AsState;
use crate::error::{AsError, TokenRequestError, WorkloadGrantError};
use crate::form::Form;

/// Whether the AS offers the grant: some workload issuer or ID-JAG issuer is trusted.
pub fn is_offered(state: &AsState) -> bool {
    state.workload.is_enabled() || state.id_jag.is_enabled()
}

/// `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
pub async fn jwt_bearer(
    state: &AsState,
    headers: &HeaderMap,
    form: &Form,
    body: &[u8],
) -> Result<Response, AsError> {
    // Step 1: the form (`Form` already refused a repeated parameter other than
    // `resource`).
    let assertion = form.require("assertion")?.trim();
    let resource = match form.all("resource").as_slice() {
        [] => return Err(TokenRequestError::ResourceRequired.into()),
        [one] => *one,
        _ => return Err(TokenRequestError::SeveralResources.into()),
    };
    // Step 2: the kind, by `typ` alone.
    match parse(assertion).map_err(WorkloadGrantError::from)? {
        AssertionKind::Workload(parsed) => {
            crate::workload::grant::redeem(state, headers, form, body, resource, parsed).await
        }
        AssertionKind::IdJag(parsed) if state.id_jag.is_enabled() => {
            crate::id_jag::grant::redeem(state, headers, form, body, resource, parsed).await
        }
        AssertionKind::IdJag(_) => {
            Err(WorkloadGrantError::from(AssertionError::IdJagNotSupported).into())
        }
    }
}
