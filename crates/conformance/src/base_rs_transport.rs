//! The base resource-server requirements about the transport around the token:
//! `https` URLs (BASE-RS-26), sessions that are not authentication (BASE-RS-27,
//! 2025-11-25), and the request headers mirrored from the body (BASE-RS-28 to
//! BASE-RS-31, 2026-07-28).

use serde_json::{Value, json};

use crate::base_rs::accepted_token;
use crate::check::{Check, Outcome};
use crate::server::{Answer, PROTOCOL_VERSIONS, ServerTarget, challenge_param, offers_bearer};

/// The tool a `tools/call` probe names when the server lists none.
const PROBE_TOOL: &str = "mcp-auth-conformance-probe";

/// BASE-RS-26 to BASE-RS-31.
pub(crate) fn checks() -> Vec<Check<ServerTarget>> {
    vec![
        Check {
            id: "BASE-RS-26",
            requirement: "the endpoint, the metadata's resource and the resource_metadata URL are https (resource without a fragment)",
            run: Box::new(|t| Box::pin(https_urls(t))),
        },
        Check {
            id: "BASE-RS-27",
            requirement: "(2025-11-25) a valid Mcp-Session-Id without a token is refused: the session is not authentication",
            run: Box::new(|t| Box::pin(session_is_not_authentication(t))),
        },
        Check {
            id: "BASE-RS-28",
            requirement: "(2026-07-28) Mcp-Method other than the body's method (another method, another case) gets 400 and -32020",
            run: Box::new(|t| Box::pin(method_mismatch(t))),
        },
        Check {
            id: "BASE-RS-29",
            requirement: "(2026-07-28) Mcp-Name other than the body's params.name gets 400 and -32020",
            run: Box::new(|t| Box::pin(name_mismatch(t))),
        },
        Check {
            id: "BASE-RS-30",
            requirement: "(2026-07-28) a request without Mcp-Method, or a tools/call without Mcp-Name, gets 400 and -32020",
            run: Box::new(|t| Box::pin(missing_headers(t))),
        },
        Check {
            id: "BASE-RS-31",
            requirement: "(2026-07-28) header names in another letter case and a base64-sentinel Mcp-Name are not a mismatch",
            run: Box::new(|t| Box::pin(case_and_sentinel(t))),
        },
    ]
}

/// Whether `url` is `http` on a loopback host: a local test deployment, whose
/// scheme says nothing of the deployed one.
fn loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

async fn https_urls(t: &ServerTarget) -> Outcome {
    let mut urls = vec![("the endpoint", t.url.clone())];
    if let Ok(m) = t.metadata().await
        && let Some(r) = m["resource"].as_str()
    {
        urls.push(("the metadata's resource", r.to_owned()));
    }
    if let Ok(a) = t.mcp(None, "").await
        && let Some(u) = challenge_param(&a.challenge(), "resource_metadata")
    {
        urls.push(("resource_metadata", u));
    }
    let mut loopback = false;
    for (what, text) in &urls {
        let Ok(url) = url::Url::parse(text) else {
            return Outcome::fail(format!("{what} {text:?} is not a URL"));
        };
        if *what == "the metadata's resource" && url.fragment().is_some() {
            return Outcome::fail(format!("{what} {text} has a fragment"));
        }
        if loopback_http(&url) {
            loopback = true;
        } else if url.scheme() != "https" {
            return Outcome::fail(format!("{what} {text} is not https"));
        }
    }
    let seen = urls.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(", ");
    if loopback {
        Outcome::skip(format!(
            "http on a loopback host ({seen}): a local deployment; run against the https URL it is deployed at"
        ))
    } else {
        Outcome::pass(format!("https: {seen}"))
    }
}

async fn session_is_not_authentication(t: &ServerTarget) -> Outcome {
    if t.protocol_version != PROTOCOL_VERSIONS[0] {
        return Outcome::skip("2025-11-25 only: the 2026-07-28 protocol has no sessions");
    }
    let bearer = match accepted_token(t).await {
        Ok(v) => format!("Bearer {v}"),
        Err(o) => return o,
    };
    let init = match t.mcp(Some(&bearer), "").await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    let Some(session) = init
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Outcome::skip("the server assigns no session (no Mcp-Session-Id)");
    };
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let send = |method: &str, body: &Value, authorization: Option<&str>| {
        let mut req = t
            .post(&t.url, method, body.to_string().into_bytes())
            .header("mcp-session-id", &session);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        t.send(req)
    };
    // The control: the session works with the token.
    for (method, body) in [
        ("notifications/initialized", &initialized),
        ("tools/list", &list),
    ] {
        match send(method, body, Some(&bearer)).await {
            Ok(a) if a.accepted() => {}
            Ok(a) => {
                return Outcome::skip(format!(
                    "{method} in the session with the token is refused ({}), so a refusal without it would prove nothing",
                    a.summary()
                ));
            }
            Err(e) => return Outcome::fail(e),
        }
    }
    let post = match send("tools/list", &list, None).await {
        Ok(a) => a,
        Err(e) => return Outcome::fail(e),
    };
    if post.status != 401 || !offers_bearer(&post.challenge()) {
        return Outcome::fail(format!(
            "tools/list with the session, no token: {}",
            post.summary()
        ));
    }
    let get = t
        .http
        .get(&t.url)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", &t.protocol_version)
        .header("mcp-session-id", &session);
    match t.send(get).await {
        Ok(a) if a.accepted() => {
            Outcome::fail(format!("GET with the session, no token: {}", a.status))
        }
        Ok(a) => Outcome::pass(format!(
            "with the session and no token: POST {}, GET {}",
            post.summary(),
            a.status
        )),
        Err(e) => Outcome::fail(e),
    }
}

/// Why a 2026-07-28 check does not run: another revision, or no accepted token.
async fn stateless_bearer(t: &ServerTarget) -> Result<String, Outcome> {
    if t.protocol_version != PROTOCOL_VERSIONS[1] {
        return Err(Outcome::skip(
            "2026-07-28 only: run with --protocol-version 2026-07-28",
        ));
    }
    Ok(format!("Bearer {}", accepted_token(t).await?))
}

/// A stateless 2026-07-28 request of `method` with `params`.
fn stateless(t: &ServerTarget, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": t.protocol_version,
                             "io.modelcontextprotocol/clientCapabilities": {}});
    json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
}

/// A `tools/call` of `name`.
fn tools_call(t: &ServerTarget, name: &str) -> Value {
    stateless(t, "tools/call", json!({"name": name, "arguments": {}}))
}

/// POSTs `body` with exactly `headers` besides `Content-Type`, `Accept`,
/// `MCP-Protocol-Version` and `Authorization`.
async fn send_with(
    t: &ServerTarget,
    http: &reqwest::Client,
    bearer: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<Answer, Outcome> {
    let mut req = http
        .post(&t.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", &t.protocol_version)
        .header("authorization", bearer)
        .body(body.to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    t.send(req).await.map_err(Outcome::fail)
}

/// Whether `a` is a JSON-RPC error with code -32020, as JSON or in an SSE event.
fn is_header_mismatch(a: &Answer) -> bool {
    let code = |v: &Value| v["error"]["code"] == json!(-32020);
    serde_json::from_str::<Value>(&a.body).is_ok_and(|v| code(&v))
        || a.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .any(|v| code(&v))
}

/// One request of a header check: what it is, its `Mcp-*` headers, its body.
type HeaderProbe<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);

/// Every `(what, headers, body)` refused with 400 and -32020.
async fn all_mismatches(t: &ServerTarget, bearer: &str, sends: &[HeaderProbe<'_>]) -> Outcome {
    let mut seen = Vec::new();
    for (what, headers, body) in sends {
        let a = match send_with(t, &t.http, bearer, headers, body).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        if a.status != 400 || !is_header_mismatch(&a) {
            return Outcome::fail(format!("{what}: {} (no 400 with -32020)", a.status));
        }
        seen.push(format!("{what}: 400 -32020"));
    }
    Outcome::pass(seen.join(", "))
}

async fn method_mismatch(t: &ServerTarget) -> Outcome {
    let bearer = match stateless_bearer(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let list = stateless(t, "tools/list", json!({}));
    all_mismatches(
        t,
        &bearer,
        &[
            (
                "tools/list as Mcp-Method: tools/call",
                vec![("mcp-method", "tools/call")],
                list.clone(),
            ),
            (
                "tools/list as Mcp-Method: TOOLS/LIST",
                vec![("mcp-method", "TOOLS/LIST")],
                list,
            ),
        ],
    )
    .await
}

async fn name_mismatch(t: &ServerTarget) -> Outcome {
    let bearer = match stateless_bearer(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    all_mismatches(
        t,
        &bearer,
        &[(
            "tools/call with another Mcp-Name",
            vec![("mcp-method", "tools/call"), ("mcp-name", "another-tool")],
            tools_call(t, PROBE_TOOL),
        )],
    )
    .await
}

async fn missing_headers(t: &ServerTarget) -> Outcome {
    let bearer = match stateless_bearer(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    all_mismatches(
        t,
        &bearer,
        &[
            (
                "tools/list without Mcp-Method",
                vec![],
                stateless(t, "tools/list", json!({})),
            ),
            (
                "tools/call without Mcp-Name",
                vec![("mcp-method", "tools/call")],
                tools_call(t, PROBE_TOOL),
            ),
        ],
    )
    .await
}

async fn case_and_sentinel(t: &ServerTarget) -> Outcome {
    let bearer = match stateless_bearer(t).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    // hyper writes header names in lower case; this client writes them Title-Case.
    let Ok(title_case) = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .http1_title_case_headers()
        .build()
    else {
        return Outcome::skip("no HTTP client writing Title-Case header names");
    };
    let sentinel = format!(
        "=?base64?{}?=",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, PROBE_TOOL)
    );
    let list = stateless(t, "tools/list", json!({}));
    let call = tools_call(t, PROBE_TOOL);
    let sends: [(&reqwest::Client, HeaderProbe<'_>); 3] = [
        (
            &t.http,
            (
                "lower-case names",
                vec![("mcp-method", "tools/list")],
                list.clone(),
            ),
        ),
        (
            &title_case,
            ("Title-Case names", vec![("mcp-method", "tools/list")], list),
        ),
        (
            &t.http,
            (
                "a base64-sentinel Mcp-Name",
                vec![("mcp-method", "tools/call"), ("mcp-name", &sentinel)],
                call,
            ),
        ),
    ];
    let mut seen = Vec::new();
    for (http, (what, headers, body)) in sends {
        let a = match send_with(t, http, &bearer, &headers, &body).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        if is_header_mismatch(&a) {
            return Outcome::fail(format!("{what}: {} with -32020", a.status));
        }
        seen.push(format!("{what}: {}", a.status));
    }
    Outcome::pass(seen.join(", "))
}
