//! The login, consent and error pages: server-rendered HTML, no JavaScript, labelled
//! form controls, one `<h1>` per page, every dynamic value escaped.

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t} · mcp-auth</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}label{{display:block;margin-top:1rem}}input{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}button{{font-size:1rem;padding:.5rem 1rem;margin:1rem .5rem 0 0}}.error{{color:#a00;font-weight:bold}}ul{{padding-left:1.2rem}}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = escape(title)
    )
}

/// The login form for a pending authorization request.
pub fn login(
    action: &str,
    request_id: &str,
    csrf: &str,
    client: &str,
    error: Option<&str>,
    username: &str,
) -> String {
    let error = error
        .map(|e| alert(e, " id=\"login-error\""))
        .unwrap_or_default();
    let controls = format!(
        "<label for=\"username\">Username</label>\n<input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{user}\">\n<label for=\"password\">Password</label>\n<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n<button type=\"submit\">Sign in</button>",
        user = escape(username),
    );
    page(
        "Sign in",
        &format!(
            "<p><strong>{client}</strong> asks to access an MCP server on your behalf. Sign in to continue.</p>\n{error}{form}",
            client = escape(client),
            form = request_form(action, request_id, csrf, &controls),
        ),
    )
}

/// The consent form.
#[allow(clippy::too_many_arguments)]
pub fn consent(
    action: &str,
    request_id: &str,
    csrf: &str,
    client: &str,
    username: &str,
    resource: &str,
    scopes: &[String],
    redirect_host: &str,
    warning: Option<&str>,
) -> String {
    let scope_items = if scopes.is_empty() {
        "<li>no particular permission (scope)</li>".to_owned()
    } else {
        scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    page(
        "Allow access?",
        &format!(
            "<p>Signed in as <strong>{user}</strong>.</p>\n<p><strong>{client}</strong> asks for access to the MCP server <code>{resource}</code> with these permissions:</p>\n<ul>\n{scope_items}\n</ul>\n<p>You will be sent back to <strong>{host}</strong>.</p>\n{warning}{form}",
            user = escape(username),
            client = escape(client),
            resource = escape(resource),
            host = escape(redirect_host),
            warning = warning.map(|w| alert(w, "")).unwrap_or_default(),
            form = request_form(
                action,
                request_id,
                csrf,
                "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>",
            ),
        ),
    )
}

/// An error that cannot be sent back to the client (unknown client, bad redirect URI).
pub fn error(message: &str) -> String {
    page(
        "Authorization failed",
        &format!(
            "{}<p>Return to the application and try again.</p>",
            alert(message, "")
        ),
    )
}

/// A form posting to `action` for the pending request `request_id` with its CSRF
/// value, around `controls` (HTML).
fn request_form(action: &str, request_id: &str, csrf: &str, controls: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">\n<input type=\"hidden\" name=\"request\" value=\"{rid}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n{controls}\n</form>",
        action = escape(action),
        rid = escape(request_id),
        csrf = escape(csrf),
    )
}

/// An alert paragraph with `text`; `attributes` (HTML) are added to its tag.
fn alert(text: &str, attributes: &str) -> String {
    format!(
        "<p class=\"error\" role=\"alert\"{attributes}>{}</p>\n",
        escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_values_are_escaped() {
        let html = login(
            "/login",
            "r\"><script>",
            "c",
            "<b>evil</b>",
            Some("x<y"),
            "a'b",
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>evil"));
        assert!(html.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(html.contains("x&lt;y"));
        assert!(html.contains("a&#39;b"));
    }

    #[test]
    fn forms_are_labelled() {
        let html = login("/login", "r", "c", "client", None, "");
        assert!(html.contains("<label for=\"username\">") && html.contains("id=\"username\""));
        assert!(html.contains("<label for=\"password\">") && html.contains("id=\"password\""));
        assert!(html.contains("<html lang=\"en\">"));
    }
}
