//! What a PostgreSQL database URL and the `PG*` environment say about its connection,
//! read as sqlx-postgres 0.9 reads them (`PgConnectOptions::new`, which reads the
//! environment, then `parse_from_url`, which overrides it with the URL's query, the last
//! of a repeated parameter winning): for the checks the AS makes before sqlx connects
//! (`crate::private_files::check_postgres_tls_files`, the warning of an unverified
//! connection).

/// A PostgreSQL URL's settings, with the environment's where the URL says nothing.
pub(crate) struct PostgresSettings<'e> {
    url: url::Url,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl<'e> PostgresSettings<'e> {
    /// The settings of `database_url` (`postgres://` or `postgresql://`; `None` for
    /// another), with `env` standing for the process environment.
    pub(crate) fn read(
        database_url: &str,
        env: &'e dyn Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let url = url::Url::parse(database_url).ok()?;
        matches!(url.scheme(), "postgres" | "postgresql").then_some(Self { url, env })
    }

    /// The last value of any of `names` in the URL's query (percent-decoded).
    pub(crate) fn in_url(&self, names: &[&str]) -> Option<String> {
        self.url
            .query_pairs()
            .filter(|(key, _)| names.contains(&key.as_ref()))
            .last()
            .map(|(_, value)| value.into_owned())
    }

    /// The environment variable `name`.
    pub(crate) fn in_env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// `sslmode` (or `ssl-mode`), else `PGSSLMODE`, else sqlx's default `prefer`, in
    /// lower case.
    pub(crate) fn ssl_mode(&self) -> String {
        self.in_url(&["sslmode", "ssl-mode"])
            .or_else(|| self.in_env("PGSSLMODE"))
            .unwrap_or_else(|| "prefer".to_owned())
            .to_ascii_lowercase()
    }

    /// Whether sqlx starts TLS at all: not under `disable` nor `allow` (which sqlx 0.9
    /// handles as `disable`).
    pub(crate) fn may_use_tls(&self) -> bool {
        !matches!(self.ssl_mode().as_str(), "disable" | "allow")
    }

    /// The server's host: `host` or `hostaddr` in the query, else the URL's, else
    /// `PGHOSTADDR`, else `PGHOST`; empty when none names one (a local socket).
    pub(crate) fn host(&self) -> String {
        self.in_url(&["host", "hostaddr"])
            .or_else(|| self.url.host_str().map(str::to_owned))
            .or_else(|| self.in_env("PGHOSTADDR"))
            .or_else(|| self.in_env("PGHOST"))
            .unwrap_or_default()
    }

    /// Whether the server is on this machine: a Unix socket directory (sqlx connects to
    /// one once any `host` of the query, or the URL's authority, names a path, whatever
    /// comes after), `localhost` or a loopback address.
    pub(crate) fn is_local(&self) -> bool {
        let socket =
            |host: &str| host.starts_with('/') || host.to_ascii_lowercase().starts_with("%2f");
        if self.url.host_str().is_some_and(socket)
            || self
                .url
                .query_pairs()
                .any(|(key, value)| key == "host" && value.starts_with('/'))
        {
            return true;
        }
        let host = self.host();
        host.is_empty()
            || socket(&host)
            || host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}
