//! The identifiers of the enterprise-managed-authorization profile
//! (profiles/enterprise-managed-authorization.md), shared by the client, the IdP and
//! the MCP authorization server so that each is written once.

/// RFC 8693 §2.1: the grant type of the exchange at the IdP.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type of an ID-JAG (ID-JAG draft §3): the exchange's
/// `requested_token_type` and the answer's `issued_token_type`.
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// RFC 8693 §3: the `subject_token_type` of an OpenID Connect ID token (EMA D9).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// ID-JAG draft §7.2: what an authorization server that redeems ID-JAGs lists in
/// `authorization_grant_profiles_supported` (EMA-AS-1, EMA-C-1).
pub const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
