#![no_main]
//! `WWW-Authenticate` parsing (a client reads what any server sends) on arbitrary bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::WWW_AUTHENTICATE, value);
        let _ = mcp_auth_client::parse_challenges(&headers);
    }
});
