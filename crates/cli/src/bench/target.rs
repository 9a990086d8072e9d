//! What `mcp-auth bench gateway` measures: the two baselines, the gateway with each
//! check, and (with `--unchecked`) each checked target's requests sent to the auth-off
//! proxy instead. That separates what carrying a profile's fields costs the whole
//! process (the load generator sending them, the proxy parsing them) from what the
//! gateway does with them: the check, and the rest of its work on a checked request
//! (the identity headers, `Mcp-Method` and `Mcp-Name` against the body, metrics).

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

/// Where a target's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SentTo {
    /// The demo MCP server itself.
    Upstream,
    /// The proxy with no checks.
    AuthOffProxy,
    /// The gateway.
    Gateway,
}

impl Target {
    /// The targets to measure, in order: the baselines, then the checked ones `only`
    /// names (all when it names none), each after its unchecked twin when `unchecked`.
    pub(super) fn selected(only: &[Checked], unchecked: bool) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|t| match t.profile() {
                None => true,
                Some(profile) => {
                    (only.is_empty() || only.contains(&profile))
                        && (unchecked || t.sent_to() == SentTo::Gateway)
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

    /// The profile whose requests this target sends; `None` for the baselines, whose
    /// requests carry no credentials.
    pub(super) fn profile(self) -> Option<Checked> {
        match self {
            Self::Direct | Self::AuthOff => None,
            Self::BearerUnchecked | Self::Bearer => Some(Checked::Bearer),
            Self::HttpSigUnchecked | Self::HttpSig => Some(Checked::Httpsig),
            Self::DpopUnchecked | Self::Dpop => Some(Checked::Dpop),
        }
    }

    /// Where this target's requests go: an unchecked twin's, made for the gateway
    /// (signed for its URL), go to the proxy with no checks.
    pub(super) fn sent_to(self) -> SentTo {
        match self {
            Self::Direct => SentTo::Upstream,
            Self::AuthOff
            | Self::BearerUnchecked
            | Self::HttpSigUnchecked
            | Self::DpopUnchecked => SentTo::AuthOffProxy,
            Self::Bearer | Self::HttpSig | Self::Dpop => SentTo::Gateway,
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
        assert_eq!(
            slugs(&[], true),
            [
                "direct",
                "auth-off",
                "bearer-unchecked",
                "bearer",
                "httpsig-unchecked",
                "httpsig",
                "dpop-unchecked",
                "dpop"
            ]
        );
        for t in Target::ALL {
            assert!(t.label().len() <= 22, "{}", t.label());
        }
    }

    /// A twin sends its profile's requests to the proxy with no checks; its checked
    /// target, to the gateway.
    #[test]
    fn each_twin_sends_its_profiles_requests_to_the_auth_off_proxy() {
        let twins = [
            (Target::BearerUnchecked, Target::Bearer, Checked::Bearer),
            (Target::HttpSigUnchecked, Target::HttpSig, Checked::Httpsig),
            (Target::DpopUnchecked, Target::Dpop, Checked::Dpop),
        ];
        for (twin, checked, profile) in twins {
            assert_eq!(twin.profile(), Some(profile));
            assert_eq!(checked.profile(), Some(profile));
            assert_eq!(twin.sent_to(), SentTo::AuthOffProxy, "{twin:?}");
            assert_eq!(checked.sent_to(), SentTo::Gateway, "{checked:?}");
        }
        assert_eq!(Target::Direct.sent_to(), SentTo::Upstream);
        assert_eq!(Target::AuthOff.sent_to(), SentTo::AuthOffProxy);
        assert_eq!(Target::AuthOff.profile(), None);
    }
}
