//! What `mcp-auth bench gateway` measures: the two baselines, the gateway with each
//! check, and (with `--unchecked`) each checked target's requests sent to the auth-off
//! proxy instead, which separates what carrying a profile's fields costs the whole
//! process (the load generator sending them, the proxy parsing them) from what
//! checking them costs.

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Direct,
    AuthOff,
    /// The Bearer target's requests (token included), to the auth-off proxy.
    BearerUnchecked,
    Bearer,
    /// The HTTPSig target's signed requests, to the auth-off proxy.
    HttpSigUnchecked,
    HttpSig,
    /// The DPoP target's requests (token and proof), to the auth-off proxy.
    DpopUnchecked,
    Dpop,
}

/// A gateway target with a check, as `--only` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Checked {
    /// The gateway with a Bearer JWT.
    Bearer,
    /// The gateway with an HTTPSig-bound token and a signed request.
    Httpsig,
    /// The gateway with a DPoP-bound token and a proof.
    Dpop,
}

impl Target {
    /// The targets to measure, in order: the baselines, then the checked ones `only`
    /// names (all when it names none), each after its unchecked twin when `unchecked`.
    pub(super) fn selected(only: &[Checked], unchecked: bool) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|t| match t.checked() {
                None => true,
                Some((checked, twin)) => {
                    (only.is_empty() || only.contains(&checked)) && (unchecked || !twin)
                }
            })
            .collect()
    }

    const ALL: [Self; 8] = [
        Self::Direct,
        Self::AuthOff,
        Self::BearerUnchecked,
        Self::Bearer,
        Self::HttpSigUnchecked,
        Self::HttpSig,
        Self::DpopUnchecked,
        Self::Dpop,
    ];

    /// The profile whose requests this target sends, and whether they go to the
    /// auth-off proxy unchecked; `None` for the baselines.
    pub(super) fn checked(self) -> Option<(Checked, bool)> {
        match self {
            Self::Direct | Self::AuthOff => None,
            Self::BearerUnchecked => Some((Checked::Bearer, true)),
            Self::Bearer => Some((Checked::Bearer, false)),
            Self::HttpSigUnchecked => Some((Checked::Httpsig, true)),
            Self::HttpSig => Some((Checked::Httpsig, false)),
            Self::DpopUnchecked => Some((Checked::Dpop, true)),
            Self::Dpop => Some((Checked::Dpop, false)),
        }
    }

    /// The target's name in file names.
    pub(super) fn slug(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::AuthOff => "auth-off",
            Self::BearerUnchecked => "bearer-unchecked",
            Self::Bearer => "bearer",
            Self::HttpSigUnchecked => "httpsig-unchecked",
            Self::HttpSig => "httpsig",
            Self::DpopUnchecked => "dpop-unchecked",
            Self::Dpop => "dpop",
        }
    }

    /// The target's name in the report (at most 22 characters: the tables' column).
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Direct => "upstream direct",
            Self::AuthOff => "gateway, auth off",
            Self::BearerUnchecked => "auth off, Bearer req",
            Self::Bearer => "gateway, Bearer JWT",
            Self::HttpSigUnchecked => "auth off, HTTPSig req",
            Self::HttpSig => "gateway, HTTPSig",
            Self::DpopUnchecked => "auth off, DPoP req",
            Self::Dpop => "gateway, DPoP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchecked_twins_come_only_when_asked_each_before_its_checked_target() {
        let slugs = |only: &[Checked], unchecked| -> Vec<&str> {
            Target::selected(only, unchecked)
                .into_iter()
                .map(Target::slug)
                .collect()
        };
        assert_eq!(
            slugs(&[], false),
            ["direct", "auth-off", "bearer", "httpsig", "dpop"]
        );
        assert_eq!(
            slugs(&[Checked::Httpsig], true),
            ["direct", "auth-off", "httpsig-unchecked", "httpsig"]
        );
        assert_eq!(slugs(&[], true).len(), 8);
        for t in Target::ALL {
            assert!(t.label().len() <= 22, "{}", t.label());
        }
    }
}
