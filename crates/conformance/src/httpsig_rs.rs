//! The resource-server requirements HTTPSIG-RS-n (profiles/http-message-signatures.md), checked from outside.

use crate::check::Check;
use crate::server::ServerTarget;

/// Every check of this profile's resource-server requirements, in order.
pub fn checks() -> Vec<Check<ServerTarget>> {
    Vec::new()
}
