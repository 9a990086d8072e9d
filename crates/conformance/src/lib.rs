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
//! - [`report`]: a table, JSON, JUnit XML.
//!
//! docs/conformance.md says how to run it and what each result means.

pub mod base_rs;
pub mod check;
pub mod issuer;
pub mod mint;
pub mod report;
pub mod server;

pub use check::{Check, CheckResult, Outcome, all_pass, run};
pub use mint::Minter;
pub use server::ServerTarget;
