//! Checks deliberately switched off, for the conformance checker's mutation proof
//! only: a gateway built with one [`Weakening`] must fail exactly the checks of
//! `mcp-auth conformance` aimed at that check (crates/conformance/tests/mutations.rs).
//!
//! A weakening can only be switched on from Rust code built with the `weakenings`
//! feature, which only the conformance crate's tests enable. Nothing in a
//! configuration file or on a command line reaches it; without the feature
//! [`Weakenings::has`] is a constant `false` and the checks it guards compile as they
//! always are.

/// One check switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Weakening {
    /// An access token's `aud` is not compared with the resource.
    IgnoreAudience = 1 << 0,
    /// An access token's `exp` is not compared with the time.
    IgnoreExpiry = 1 << 1,
    /// An unsecured access token (`alg: none`) is read without a signature check.
    AcceptAlgNone = 1 << 2,
    /// An access token's `typ` is not checked.
    AcceptAnyTyp = 1 << 3,
    /// A token bound to a key (`cnf`) is accepted with `Authorization: Bearer`.
    BearerForBoundTokens = 1 << 4,
    /// A signed request's `Content-Digest` is not compared with its body.
    SkipContentDigest = 1 << 5,
    /// A signature's nonce is not recorded, so a signed request can be replayed.
    SkipSignatureNonceReplay = 1 << 6,
    /// A DPoP proof's `ath` is not compared with the presented token.
    SkipAth = 1 << 7,
    /// `Mcp-Method` and `Mcp-Name` are not compared with the body.
    IgnoreMirroredHeaders = 1 << 8,
    /// An access token's signature is not verified (its key is still looked up).
    SkipTokenSignature = 1 << 9,
    /// A token's scope is not compared with what the operation needs.
    IgnoreScope = 1 << 10,
    /// A signature need not cover the request's `Mcp-Param-*` fields.
    UncoveredParamHeaders = 1 << 11,
}

/// A set of [`Weakening`]s; empty by default, and always empty without the
/// `weakenings` feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weakenings(u32);

impl Weakenings {
    /// No check switched off.
    pub const NONE: Self = Self(0);

    /// This set and `weakening`.
    #[cfg(feature = "weakenings")]
    #[must_use]
    pub fn with(self, weakening: Weakening) -> Self {
        Self(self.0 | weakening as u32)
    }

    /// Whether `weakening` is switched on (never without the `weakenings` feature).
    #[inline]
    pub fn has(self, weakening: Weakening) -> bool {
        cfg!(feature = "weakenings") && self.0 & weakening as u32 != 0
    }
}
