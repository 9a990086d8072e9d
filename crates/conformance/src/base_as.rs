//! The MCP authorization base requirements of an authorization server
//! (profiles/base.md, `BASE-AS-n`), checked from outside.

use crate::authorization_server::AsTarget;
use crate::check::Check;

/// Every base check of an authorization server, in order.
pub fn checks() -> Vec<Check<AsTarget>> {
    Vec::new()
}
