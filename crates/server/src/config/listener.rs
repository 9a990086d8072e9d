//! `[listener]` of the AS, with the drain settings also read from the environment
//! (`MCP_AUTH_DRAIN_DELAY`, `MCP_AUTH_SHUTDOWN_TIMEOUT`) and the flags
//! (`--drain-delay`, `--shutdown-timeout`, through [`super::Overrides`]), which win
//! over the file: an operator changes how a fleet drains without editing the file
//! every instance shares.

use mcp_auth_core::listener::{ListenerLimits, ListenerSettings};

use super::{ConfigError, err};

/// The environment variables of the drain settings, each with its `[listener]` key.
pub(super) const DRAIN_ENV: [(&str, &str); 2] = [
    ("MCP_AUTH_DRAIN_DELAY", "drain_delay"),
    ("MCP_AUTH_SHUTDOWN_TIMEOUT", "shutdown_timeout"),
];

/// The listener's limits: `raw` with the environment (`env`, where the flags were
/// already layered over the process environment) over its drain settings, checked.
pub(super) fn limits(
    mut raw: ListenerSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ListenerLimits, ConfigError> {
    for (var, key) in DRAIN_ENV {
        let Some(text) = env(var) else { continue };
        let seconds = text.trim().parse::<u64>().map_err(|_| {
            err(
                format!("listener.{key}"),
                format!("{var}: `{text}` is not a number of seconds"),
            )
        })?;
        match key {
            "drain_delay" => raw.drain_delay = Some(seconds),
            _ => raw.shutdown_timeout = Some(seconds),
        }
    }
    raw.limits()
        .map_err(|problem| err("listener", problem.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_environment_wins_over_the_file_and_is_checked() {
        let file = ListenerSettings {
            drain_delay: Some(7),
            ..ListenerSettings::default()
        };
        let none = |_: &str| None;
        let l = limits(file, &none).unwrap();
        assert_eq!(
            (l.drain_delay, l.shutdown_timeout),
            (Duration::from_secs(7), Duration::from_secs(30))
        );
        let env = |k: &str| match k {
            "MCP_AUTH_DRAIN_DELAY" => Some("0".to_owned()),
            "MCP_AUTH_SHUTDOWN_TIMEOUT" => Some("12".to_owned()),
            _ => None,
        };
        let l = limits(file, &env).unwrap();
        assert_eq!(
            (l.drain_delay, l.shutdown_timeout),
            (Duration::ZERO, Duration::from_secs(12))
        );
        let bad = |k: &str| (k == "MCP_AUTH_DRAIN_DELAY").then(|| "5s".to_owned());
        assert_eq!(limits(file, &bad).unwrap_err().key, "listener.drain_delay");
        let far = |k: &str| (k == "MCP_AUTH_SHUTDOWN_TIMEOUT").then(|| "86400".to_owned());
        assert_eq!(limits(file, &far).unwrap_err().key, "listener");
    }
}
