//! Which scopes a grant gets (RFC 6749 §3.3): the requested ones, each defined by the
//! resource and allowed to the client; with no request, everything the client may
//! have at that resource. One rule for the authorization endpoint and the token
//! endpoint.

/// The scopes to grant, or the first requested scope that cannot be granted.
pub fn grant_scopes(
    requested: Option<&str>,
    offered: &[String],
    allowed: &[String],
) -> Result<Vec<String>, String> {
    match requested {
        Some(text) => {
            let mut out: Vec<String> = Vec::new();
            for s in text.split(' ').filter(|s| !s.is_empty()) {
                if !offered.iter().any(|o| o == s) || !allowed.iter().any(|a| a == s) {
                    return Err(s.to_owned());
                }
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            Ok(out)
        }
        None => Ok(offered
            .iter()
            .filter(|s| allowed.contains(s))
            .cloned()
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn requested_offered_and_allowed() {
        let offered = v(&["read", "write"]);
        let allowed = v(&["read", "admin"]);
        assert_eq!(
            grant_scopes(Some("read read"), &offered, &allowed),
            Ok(v(&["read"]))
        );
        assert_eq!(
            grant_scopes(Some("write"), &offered, &allowed),
            Err("write".into())
        );
        assert_eq!(
            grant_scopes(Some("admin"), &offered, &allowed),
            Err("admin".into())
        );
        assert_eq!(grant_scopes(None, &offered, &allowed), Ok(v(&["read"])));
        assert_eq!(grant_scopes(Some(""), &offered, &allowed), Ok(vec![]));
    }
}
