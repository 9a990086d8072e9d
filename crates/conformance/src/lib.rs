//! `mcp-auth conformance`: black-box checks of the authorization of any MCP server
//! (or gateway) and any authorization server, each named by the requirement it
//! checks in profiles/*.md (`BASE-RS-4`, `DPOP-RS-3`, ...), so that anyone can point
//! it at their own implementation and learn, requirement by requirement, whether
//! its authorization holds.
//!
//! - [`check`]: a check, its outcome, the runner;
//! - [`server`]: the MCP server under test and how requests reach it;
//! - [`mint`]: tokens the checker signs itself, valid and deliberately broken;
//! - [`issuer`]: the metadata and JWKS a server under test trusts for those tokens;
//! - [`base_rs`]: the base requirements of a resource server (profiles/base.md);
//! - [`dpop_rs`], [`httpsig_rs`]: the resource-server requirements of the dpop and
//!   http-message-signatures profiles;
//! - [`authorization_server`], [`base_as`]: the authorization server under test and
//!   its base requirements;
//! - [`report`]: a table, JSON, JUnit XML.
//!
//! docs/conformance.md says how to run it and what each result means.

pub mod as_authorize;
pub mod as_cimd;
pub mod as_token;
pub mod authorization_server;
pub mod base_as;
pub mod base_rs;
mod base_rs_refusals;
mod base_rs_transport;
pub mod challenge_syntax;
pub mod check;
pub mod coverage;
pub mod dpop_as;
pub mod dpop_as_probes;
pub mod dpop_proof;
mod dpop_proof_changes;
pub mod dpop_rs;
pub mod ema_as;
pub mod ema_as_grants;
pub mod ema_as_probes;
pub mod ema_as_state;
pub mod ema_idp;
pub mod ema_idp_checks;
pub mod httpsig_answer;
pub mod httpsig_as;
pub mod httpsig_as_probes;
pub mod httpsig_as_register;
pub mod httpsig_binding_probes;
pub mod httpsig_probes;
pub mod httpsig_request;
pub mod httpsig_rs;
pub mod issuer;
pub mod mint;
pub mod played_issuer;
pub mod report;
pub mod server;
pub mod wif_as;
mod wif_as_flows;
pub mod wif_as_platform;
mod wif_as_probes;

pub use check::{Check, CheckResult, Outcome, all_pass, run};
pub use mint::Minter;
pub use server::ServerTarget;

/// Which requirements `conformance server` checks (`--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerProfile {
    /// The base requirements with Bearer tokens (profiles/base.md, `BASE-RS-n`).
    Bearer,
    /// http-message-signatures (`HTTPSIG-RS-n`).
    Httpsig,
    /// dpop (`DPOP-RS-n`).
    Dpop,
    /// All of them, in that order.
    All,
}

/// The checks of `profile`, in order.
pub fn server_checks(profile: ServerProfile) -> Vec<Check<ServerTarget>> {
    match profile {
        ServerProfile::Bearer => base_rs::checks(),
        ServerProfile::Httpsig => httpsig_rs::checks(),
        ServerProfile::Dpop => dpop_rs::checks(),
        ServerProfile::All => {
            let mut all = base_rs::checks();
            all.extend(httpsig_rs::checks());
            all.extend(dpop_rs::checks());
            all
        }
    }
}
