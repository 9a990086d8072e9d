//! The proxy's own tests: the headers it forwards, and what an unusable or
//! proxied upstream client means for a call and for readiness.

use http_body_util::BodyExt as _;

use super::*;

#[test]
fn identity_headers_are_recognized_however_they_are_spelled() {
    for name in [
        "x-mcp-auth-subject",
        "x_mcp_auth_subject",
        "x-mcp-auth_scope",
        "x_mcp-auth-issuer",
    ] {
        assert!(has_identity_prefix(name, IDENTITY_PREFIX), "{name}");
    }
    for name in ["x-mcp-aut", "x-mcp-authorization", "mcp-session-id"] {
        assert!(!has_identity_prefix(name, IDENTITY_PREFIX), "{name}");
    }
    assert!(has_identity_prefix("x-who-subject", "x_who_"));
}

#[test]
fn the_presentation_goes_upstream_only_with_forward_token() {
    let mut incoming = HeaderMap::new();
    for name in [
        "authorization",
        "signature",
        "signature-input",
        "dpop",
        "content-digest",
        "mcp-method",
    ] {
        incoming.insert(HeaderName::from_static(name), HeaderValue::from_static("x"));
    }
    let upstream = Upstream::new("http://127.0.0.1:9/mcp".parse().unwrap());
    let names = |h: &HeaderMap| {
        let mut n: Vec<String> = h.keys().map(|k| k.as_str().to_owned()).collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&forwarded_headers(&incoming, &upstream)),
        ["content-digest", "mcp-method"]
    );
    let upstream = upstream.forward_token(true);
    assert_eq!(
        names(&forwarded_headers(&incoming, &upstream)).len(),
        6,
        "all of them with forward_token"
    );
}

/// Every hop-by-hop field, named as a peer's parser names it, stays out of what goes
/// upstream and of the answer the client gets; the rest passes both ways.
#[test]
fn hop_by_hop_fields_are_left_out_both_ways() {
    let hop_by_hop = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ];
    let mut incoming = HeaderMap::new();
    for name in hop_by_hop.iter().chain(&["mcp-method", "x-kept"]) {
        let parsed = HeaderName::from_bytes(name.to_ascii_uppercase().as_bytes()).unwrap();
        incoming.append(parsed, HeaderValue::from_static("x"));
    }
    let names = |h: &HeaderMap| {
        let mut n: Vec<String> = h.keys().map(|k| k.as_str().to_owned()).collect();
        n.sort();
        n
    };
    let upstream = Upstream::new("http://127.0.0.1:9/mcp".parse().unwrap());
    assert_eq!(
        names(&forwarded_headers(&incoming, &upstream)),
        ["mcp-method", "x-kept"]
    );
    let mut answer = incoming.clone();
    remove_hop_by_hop(&mut answer);
    assert_eq!(names(&answer), ["mcp-method", "x-kept"]);
    // What `Connection` lists is this connection's too (RFC 9110 §7.6.1), in either
    // direction, however it is spelled and spaced.
    incoming.append(
        header::CONNECTION,
        HeaderValue::from_static("X-Private ,x-other"),
    );
    incoming.append(header::CONNECTION, HeaderValue::from_static("close"));
    for name in ["x-private", "x-other"] {
        incoming.insert(HeaderName::from_static(name), HeaderValue::from_static("x"));
    }
    assert_eq!(
        names(&forwarded_headers(&incoming, &upstream)),
        ["mcp-method", "x-kept"]
    );
    remove_hop_by_hop(&mut incoming);
    assert_eq!(names(&incoming), ["mcp-method", "x-kept"]);
}

/// An [`Upstream`] whose client goes through `proxy`, as when the environment
/// names it (the environment is the process's: tests do not set it).
fn upstream_through(proxy: &str, upstream: &str) -> Upstream {
    let mut built = Upstream::new(upstream.parse().unwrap());
    let intercept = upstream_client::tests::through(proxy, &built.url);
    built.client = UpstreamClient::new(
        &built.url,
        intercept,
        upstream_client::Connecting::new(POOL_IDLE_TIMEOUT),
    );
    built
}

/// A port nothing listens on (another test could take it in the meantime: unlikely).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A SOCKS proxy cannot be used (the gateway refuses to start with one; an
/// embedder that starts anyway gets this): never ready, and every call a fixed
/// 502 that sends nothing anywhere.
#[tokio::test]
async fn behind_an_unusable_proxy_the_upstream_is_never_ready_and_each_call_is_a_502() {
    use tower::ServiceExt as _;
    let listening = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listening.local_addr().unwrap().port();
    let socks = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socks_port = socks.local_addr().unwrap().port();
    let upstream = upstream_through(
        &format!("socks5://127.0.0.1:{socks_port}"),
        &format!("http://127.0.0.1:{port}/mcp"),
    );
    assert!(upstream.proxy().is_err());
    assert!(!upstream.reachable().await);
    let call = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        ))
        .unwrap();
    let response = unprotected_router("/mcp", Arc::new(upstream))
        .oneshot(call)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], -32603);
    assert_eq!(body["error"]["message"], "the MCP server is unreachable");
    // A connection made would be waiting in the listener's backlog by now.
    for (name, listener) in [("upstream", &listening), ("proxy", &socks)] {
        let nothing = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(nothing.is_err(), "the {name} was dialed");
    }
}

/// Behind an HTTP proxy, readiness dials the proxy (the first hop), not the
/// upstream, whose port is closed here.
#[tokio::test]
async fn readiness_behind_a_proxy_dials_the_proxy() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let upstream_port = closed_port().await;
    let upstream = upstream_through(
        &format!("http://127.0.0.1:{proxy_port}"),
        &format!("http://127.0.0.1:{upstream_port}/mcp"),
    );
    let expected = format!("http://127.0.0.1:{proxy_port}");
    assert_eq!(upstream.proxy(), Ok(Some(expected.as_str())));
    assert!(upstream.reachable().await);
    let dialed = tokio::time::timeout(Duration::from_secs(1), proxy.accept()).await;
    assert!(matches!(dialed, Ok(Ok(_))), "the proxy was not dialed");
    drop(proxy);
    assert!(!upstream.reachable().await, "the proxy is gone");
    // Directly (whatever proxy the environment names), the same closed upstream is
    // not ready either.
    let mut direct = Upstream::new(
        format!("http://127.0.0.1:{upstream_port}/mcp")
            .parse()
            .unwrap(),
    );
    direct.client = UpstreamClient::new(
        &direct.url,
        None,
        upstream_client::Connecting::new(POOL_IDLE_TIMEOUT),
    );
    assert!(!direct.reachable().await);
}

/// A resource's path is a URL's path, matched literally: segments that were route
/// syntax in axum 0.7 (`:name`, `*rest`) start a gateway that checks and serves that
/// exact path, and its metadata, rather than stopping it.
#[tokio::test]
async fn a_resource_path_with_colon_and_star_segments_is_served_literally() {
    use tower::ServiceExt as _;

    let resource = "http://127.0.0.1:9/:v1/*";
    let config = crate::ResourceConfig::new(resource, "https://as.example").unwrap();
    let tokens = crate::token::AccessTokenCache::new(
        "https://as.example",
        resource,
        &mcp_auth_core::Jwks::default(),
    );
    let verifier = Arc::new(ResourceVerifier::new(
        config,
        tokens,
        Arc::new(mcp_auth_core::MemoryReplayCache::new()),
    ));
    let upstream = Arc::new(Upstream::new("http://127.0.0.1:9/mcp".parse().unwrap()));
    let router = gateway_router(verifier, upstream);
    let send = |method: &str, path: &str| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:9")
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(request)
    };
    let r = send("POST", "/:v1/*").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    for other in ["/v1/x", "/:v1/x", "/:v1"] {
        let r = send("POST", other).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{other}");
    }
    let r = send("GET", "/.well-known/oauth-protected-resource/:v1/*")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
