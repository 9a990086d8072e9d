//! `application/x-www-form-urlencoded` request bodies, strictly: RFC 6749 §3.2 says
//! parameters MUST NOT be repeated, so a repeated one is an error, not "last wins".

use mcp_auth_core::ErrorCode;

use crate::error::AsError;

/// A parsed form with no repeated parameters, except those allowed to repeat.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses a body; parameters named in `repeatable` may appear more than once.
    pub fn parse(body: &[u8], repeatable: &[&str]) -> Result<Self, AsError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if !repeatable.contains(&k.as_ref()) && pairs.iter().any(|(p, _)| *p == k) {
                return Err(AsError::oauth(
                    ErrorCode::InvalidRequest,
                    format!("parameter `{k}` is repeated"),
                ));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// The value of a parameter (the first, for repeatable ones); empty values count as
    /// absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, AsError> {
        self.get(name).ok_or_else(|| {
            AsError::oauth(ErrorCode::InvalidRequest, format!("`{name}` is required"))
        })
    }
}
