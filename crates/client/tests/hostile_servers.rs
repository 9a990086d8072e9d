//! The client against servers that attack it, over real HTTP on loopback: an MCP
//! server whose metadata names an attacker's authorization server (item 9), and
//! servers that send documents, token answers and SSE events without end (item 16).
//! Each server is a small HTTP/1.1 responder started in the test that records what
//! it receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use mcp_auth_client::discovery::{Attempt, Attempts, MetadataError, discover};
use mcp_auth_client::{
    CallError, ClientAuth, DiscoveryError, Grant, IssuerPolicy, McpClient, TokenError,
    UntrustedIssuer, request_token,
};
use mcp_auth_core::fetch::FetchError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request a test server received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    /// The request head, lower-cased.
    head: String,
    body: String,
}

impl Seen {
    /// Whether the request carried anything that authenticates a client: an
    /// Authorization header, a client secret, or a client assertion.
    fn carries_credentials(&self) -> bool {
        self.head.contains("\r\nauthorization:")
            || self.body.contains("client_secret")
            || self.body.contains("client_assertion")
    }
}

/// What a test server answers.
enum Answer {
    /// A JSON document with this status and extra headers.
    Json(u16, Value, Vec<(&'static str, String)>),
    /// A 200 with this content type and body.
    Body(&'static str, Vec<u8>),
    /// A chunked body: `prefix`, then `filler` repeated until `total` bytes were
    /// sent or the client hung up.
    Endless {
        status: u16,
        content_type: &'static str,
        prefix: Vec<u8>,
        filler: Vec<u8>,
        total: usize,
    },
}

type Handler = dyn Fn(&Seen, &str) -> Answer + Send + Sync;

/// A loopback server: its base URL and the requests it received.
type Server = mcp_auth_testkit::Recording<Seen>;

/// Starts a server answering every request with `handler(request, base URL)`.
async fn serve(handler: impl Fn(&Seen, &str) -> Answer + Send + Sync + 'static) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let (b, s) = (base.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (handler, base, seen) = (handler.clone(), b.clone(), s.clone());
            tokio::spawn(async move { answer(socket, &*handler, &base, &seen).await });
        }
    });
    Server { base, seen }
}

async fn answer(
    mut socket: tokio::net::TcpStream,
    handler: &Handler,
    base: &str,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = Seen {
        path: head.split(' ').nth(1).unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
        head,
    };
    seen.lock().unwrap().push(request.clone());
    match handler(&request, base) {
        Answer::Json(status, body, headers) => {
            let body = body.to_string();
            let mut response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = socket.write_all(response.as_bytes()).await;
        }
        Answer::Body(content_type, body) => {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(&body);
            let _ = socket.write_all(&response).await;
        }
        Answer::Endless {
            status,
            content_type,
            prefix,
            filler,
            total,
        } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut sent = 0;
            let mut piece = prefix;
            while sent < total {
                let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                framed.extend_from_slice(&piece);
                framed.extend_from_slice(b"\r\n");
                if socket.write_all(&framed).await.is_err() {
                    return;
                }
                sent += piece.len();
                piece = filler.clone();
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
    }
}

fn not_found() -> Answer {
    Answer::Json(404, json!({}), Vec::new())
}

/// 1 MiB of padding: a document far over the 64 KiB metadata cap, valid JSON when
/// closed (the client before the cap read and accepted it).
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------
// Item 9: a pre-registered client's credentials go to its own issuer only.
// ---------------------------------------------------------------------------------

/// An authorization server that issues `token` to every token request and
/// records what it receives.
async fn authorization_server(token: &'static str) -> Server {
    serve(move |req, base| match req.path.as_str() {
        "/.well-known/oauth-authorization-server" => Answer::Json(
            200,
            json!({"issuer": base, "token_endpoint": format!("{base}/token"),
                   "token_endpoint_auth_methods_supported":
                       ["client_secret_basic", "client_secret_post", "private_key_jwt"]}),
            Vec::new(),
        ),
        "/token" => Answer::Json(
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
            Vec::new(),
        ),
        _ => not_found(),
    })
    .await
}

/// An MCP server whose resource metadata lists `authorization_servers`, asking for
/// authorization until a request carries `Bearer tok-legit`.
async fn mcp_server(authorization_servers: Vec<String>) -> Server {
    serve(move |req, base| {
        let resource = format!("{base}/mcp");
        match req.path.as_str() {
            "/.well-known/oauth-protected-resource/mcp" => Answer::Json(
                200,
                json!({"resource": resource, "authorization_servers": authorization_servers}),
                Vec::new(),
            ),
            "/mcp" if req.head.contains("\r\nauthorization: bearer tok-legit\r\n") => {
                let id = serde_json::from_str::<Value>(&req.body).unwrap()["id"].clone();
                Answer::Json(
                    200,
                    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}}),
                    Vec::new(),
                )
            }
            "/mcp" => Answer::Json(
                401,
                json!({}),
                vec![(
                    "www-authenticate",
                    format!(
                        r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
                    ),
                )],
            ),
            _ => not_found(),
        }
    })
    .await
}

/// Every way a pre-registered client authenticates.
fn preregistered_credentials() -> Vec<ClientAuth> {
    let key = mcp_auth_core::AsSigningKey::generate(mcp_auth_httpsig::JwsAlgorithm::Es256)
        .unwrap()
        .to_pkcs8_pem()
        .unwrap();
    vec![
        ClientAuth::SecretBasic {
            client_id: "demo".into(),
            secret: "s3cret".into(),
        },
        ClientAuth::SecretPost {
            client_id: "demo".into(),
            secret: "s3cret".into(),
        },
        ClientAuth::PrivateKeyJwt {
            client_id: "demo".into(),
            key_pem: key,
            alg: "ES256".into(),
        },
    ]
}

#[tokio::test]
async fn item_9_a_pre_registered_credentials_never_reach_another_issuer() {
    let attacker = authorization_server("tok-attacker").await;
    let legit = "https://as.legit.example";
    let mcp = mcp_server(vec![attacker.base.clone()]).await;
    let server = format!("{}/mcp", mcp.base);
    for credentials in preregistered_credentials() {
        let method = credentials.method();
        // Configured (--issuer): the attacker named by the metadata gets nothing.
        let mut client = McpClient::new(
            &server,
            Some(Grant::ClientCredentials(credentials.clone())),
            None,
        )
        .with_issuer_policy(IssuerPolicy::Configured(legit.into()));
        let err = client.call("tools/list", json!({})).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to send the credentials of client `demo` to {a}: the MCP server's metadata names that authorization server, but the client is registered at {legit} (--issuer). If `demo` really is registered at {a}, pass --issuer {a}",
                a = attacker.base
            ),
            "{method}"
        );
        // Pinned on first use by an earlier run: the same.
        let mut client = McpClient::new(
            &server,
            Some(Grant::ClientCredentials(credentials.clone())),
            None,
        )
        .with_issuer_policy(IssuerPolicy::FirstUse(Some(legit.into())));
        let err = client.call("tools/list", json!({})).await.unwrap_err();
        assert!(
            matches!(
                &err,
                CallError::UntrustedIssuer(UntrustedIssuer::NotPinned { client_id, pinned, found })
                    if client_id == "demo" && pinned == legit && *found == attacker.base
            ),
            "{method}: {err}"
        );
        assert_eq!(client.credentials_issuer(), None);
    }
    // The attacker was asked for its metadata and nothing else: no token request,
    // no secret, no assertion.
    let seen = attacker.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(
            |r| r.path == "/.well-known/oauth-authorization-server" && !r.carries_credentials()
        ),
        "{seen:?}"
    );
}

#[tokio::test]
async fn item_9_a_with_the_right_issuer_the_call_works_and_the_attacker_listed_first_gets_nothing()
{
    let attacker = authorization_server("tok-attacker").await;
    let legit = authorization_server("tok-legit").await;
    // The metadata lists the attacker first: the client picks the issuer it is
    // registered at.
    let mcp = mcp_server(vec![attacker.base.clone(), legit.base.clone()]).await;
    let server = format!("{}/mcp", mcp.base);
    for credentials in preregistered_credentials() {
        let mut client = McpClient::new(&server, Some(Grant::ClientCredentials(credentials)), None)
            .with_issuer_policy(IssuerPolicy::Configured(legit.base.clone()));
        let outcome = client.call("tools/list", json!({})).await.unwrap();
        assert_eq!(outcome.response["result"], json!({"tools": []}));
        assert_eq!(client.credentials_issuer(), Some(legit.base.as_str()));
    }
    assert!(attacker.seen().is_empty(), "{:?}", attacker.seen());
    let tokens: Vec<Seen> = legit
        .seen()
        .into_iter()
        .filter(|r| r.path == "/token")
        .collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(Seen::carries_credentials));
}

/// A token endpoint that answers with a redirect to another host does not get the
/// credentials sent there: token requests never follow redirects, so a
/// `client_secret_post` secret or a client assertion goes to the token endpoint of
/// the trusted issuer and nowhere else.
#[tokio::test]
async fn item_9_a_a_token_endpoint_redirect_is_not_followed() {
    let elsewhere = authorization_server("tok-elsewhere").await;
    let target = format!("{}/token", elsewhere.base);
    let redirecting = serve(move |req, base| match req.path.as_str() {
        "/.well-known/oauth-authorization-server" => Answer::Json(
            200,
            json!({"issuer": base, "token_endpoint": format!("{base}/token"),
                   "token_endpoint_auth_methods_supported":
                       ["client_secret_basic", "client_secret_post", "private_key_jwt"]}),
            Vec::new(),
        ),
        "/token" => Answer::Json(307, json!({}), vec![("location", target.clone())]),
        _ => not_found(),
    })
    .await;
    let mcp = mcp_server(vec![redirecting.base.clone()]).await;
    let server = format!("{}/mcp", mcp.base);
    for credentials in preregistered_credentials() {
        let method = credentials.method();
        let mut client = McpClient::new(&server, Some(Grant::ClientCredentials(credentials)), None)
            .with_issuer_policy(IssuerPolicy::Configured(redirecting.base.clone()));
        assert!(
            client.call("tools/list", json!({})).await.is_err(),
            "{method}: a redirect is not a token"
        );
    }
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

#[tokio::test]
async fn item_9_a_without_a_pin_the_first_issuer_is_trusted_and_then_pinned() {
    // What the conformance suite relies on: no --issuer, no cache, the first issuer
    // found gets the credentials; the client then sticks to it.
    let legit = authorization_server("tok-legit").await;
    let mcp = mcp_server(vec![legit.base.clone()]).await;
    let mut client = McpClient::new(
        format!("{}/mcp", mcp.base),
        Some(Grant::ClientCredentials(
            preregistered_credentials().remove(0),
        )),
        None,
    );
    client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(client.credentials_issuer(), Some(legit.base.as_str()));
}

// ---------------------------------------------------------------------------------
// Item 16: bounded reads.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn item_16_a_a_huge_resource_metadata_document_is_refused_at_the_cap() {
    let mcp = serve(|req, base| match req.path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => Answer::Endless {
            status: 200,
            content_type: "application/json",
            prefix: format!(
                r#"{{"resource":"{base}/mcp","authorization_servers":["{base}"],"padding":""#
            )
            .into_bytes(),
            filler: vec![b'x'; 8192],
            total: MIB,
        },
        _ => not_found(),
    })
    .await;
    let err = discover(
        &reqwest::Client::new(),
        &format!("{}/mcp", mcp.base),
        &[],
        None,
    )
    .await
    .unwrap_err();
    let DiscoveryError::NoResourceMetadata(tried) = err else {
        panic!("{err}");
    };
    assert_eq!(
        tried,
        Attempts(vec![
            Attempt {
                url: format!("{}/.well-known/oauth-protected-resource/mcp", mcp.base),
                error: MetadataError::Fetch(FetchError::TooLarge(64 * 1024)),
            },
            Attempt {
                url: format!("{}/.well-known/oauth-protected-resource", mcp.base),
                error: MetadataError::Fetch(FetchError::Status(404)),
            },
        ])
    );
}

#[tokio::test]
async fn item_16_a_a_huge_authorization_server_metadata_document_is_refused_at_the_cap() {
    let servers = serve(|req, base| match req.path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => Answer::Json(
            200,
            json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}),
            Vec::new(),
        ),
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => {
            Answer::Endless {
                status: 200,
                content_type: "application/json",
                prefix: format!(r#"{{"issuer":"{base}","token_endpoint":"{base}/token","x":""#)
                    .into_bytes(),
                filler: vec![b'x'; 8192],
                total: MIB,
            }
        }
        _ => not_found(),
    })
    .await;
    let err = discover(
        &reqwest::Client::new(),
        &format!("{}/mcp", servers.base),
        &[],
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no metadata for authorization server {b} (tried {b}/.well-known/oauth-authorization-server: the document is larger than 65536 bytes, {b}/.well-known/openid-configuration: the document is larger than 65536 bytes)",
            b = servers.base
        )
    );
}

#[tokio::test]
async fn item_16_b_an_endless_token_answer_is_cut_at_the_cap() {
    for status in [200, 400] {
        let endpoint = serve(move |_, _| Answer::Endless {
            status,
            content_type: "application/json",
            prefix: br#"{"access_token":""#.to_vec(),
            filler: vec![b'a'; 8192],
            total: 16 * MIB,
        })
        .await;
        let err = request_token(
            &reqwest::Client::new(),
            &format!("{}/token", endpoint.base),
            "grant_type=client_credentials",
            Some(("demo", "s3cret")),
            None,
            0,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, TokenError::Answer(FetchError::TooLarge(65536))),
            "{status}: {err}"
        );
        assert_eq!(
            err.to_string(),
            "the token endpoint's answer: the document is larger than 65536 bytes"
        );
    }
}

/// An MCP server that answers every POST with an SSE stream: `prefix`, then
/// `filler` for 16 MiB (four times the default cap).
async fn streaming_mcp_server(prefix: &'static [u8], filler: &'static [u8]) -> Server {
    serve(move |_, _| Answer::Endless {
        status: 200,
        content_type: "text/event-stream",
        prefix: prefix.to_vec(),
        filler: filler.to_vec(),
        total: 16 * MIB,
    })
    .await
}

#[tokio::test]
async fn item_16_c_an_endless_sse_line_ends_the_call_with_message_too_large() {
    let limit = mcp_auth_client::limits::MAX_MESSAGE_BYTES;
    // One line that never ends.
    let endless_line = streaming_mcp_server(b"data: ", &[b'x'; 8192]).await;
    // Lines that end, in an event that never does.
    let endless_event = streaming_mcp_server(
        b"data: ",
        b"0123456789012345678901234567890123456789012345678901234567890123\ndata: ",
    )
    .await;
    for server in [endless_line, endless_event] {
        let mut client = McpClient::new(format!("{}/mcp", server.base), None, None);
        let err = client.call("tools/list", json!({})).await.unwrap_err();
        assert!(
            matches!(err, CallError::MessageTooLarge(l) if l == limit),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the server sent a message larger than {limit} bytes; the response was not read further"
            )
        );
    }
}

#[tokio::test]
async fn item_16_c_a_json_answer_larger_than_the_cap_is_refused() {
    let server = serve(|_, _| Answer::Endless {
        status: 200,
        content_type: "application/json",
        prefix: br#"{"jsonrpc":"2.0","id":1,"result":{"x":""#.to_vec(),
        filler: vec![b'x'; 8192],
        total: MIB,
    })
    .await;
    let mut client =
        McpClient::new(format!("{}/mcp", server.base), None, None).with_max_message_bytes(1000);
    let err = client.call("tools/list", json!({})).await.unwrap_err();
    assert!(matches!(err, CallError::MessageTooLarge(1000)), "{err}");
}

#[tokio::test]
async fn item_16_c_a_call_keeps_only_the_latest_notifications_before_its_response() {
    let server = serve(|_, _| {
        let mut body = Vec::new();
        for n in 0..5000 {
            body.extend_from_slice(
                format!(
                    "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":{n}}}}}\n\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
        Answer::Body("text/event-stream", body)
    })
    .await;
    let mut client = McpClient::new(format!("{}/mcp", server.base), None, None);
    let outcome = client.call("tools/list", json!({})).await.unwrap();
    assert_eq!(outcome.response["result"], json!({}));
    let kept = mcp_auth_client::limits::MAX_KEPT_NOTIFICATIONS;
    assert_eq!(outcome.notifications.len(), kept);
    assert_eq!(outcome.notifications[0]["params"]["progress"], 5000 - kept);
    assert_eq!(outcome.notifications[kept - 1]["params"]["progress"], 4999);
}

#[cfg(feature = "rmcp")]
#[tokio::test]
async fn item_16_c_the_rmcp_transport_caps_sse_events_too() {
    use futures::StreamExt as _;
    use rmcp::transport::streamable_http_client::StreamableHttpClient as _;

    let server = serve(|_, _| Answer::Endless {
        status: 200,
        content_type: "text/event-stream",
        prefix: b"id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\ndata: "
            .to_vec(),
        filler: vec![b'x'; 8192],
        total: 16 * MIB,
    })
    .await;
    let uri = format!("{}/mcp", server.base);
    let client = mcp_auth_client::rmcp_transport::AuthorizedHttpClient::new(
        McpClient::new(&uri, None, None).with_max_message_bytes(64 * 1024),
    );
    let mut events = client
        .get_stream(
            uri.into(),
            None,
            None,
            None,
            std::collections::HashMap::new(),
        )
        .await
        .unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.id.as_deref(), Some("1"));
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "body error: the server sent an SSE event larger than 65536 bytes"
    );
    assert!(events.next().await.is_none());
}
