#![no_main]
//! The gateway's Bearer access token check (`mcp_auth_resource::token::AccessTokenCache::
//! verify`: the unverified `iss` that picks the issuer's keys, then RFC 9068 and RFC 8725
//! through `mcp_auth_core::TokenVerifier`, then the `cnf` key) on arbitrary bytes. Every
//! `Authorization: Bearer` value of every anonymous caller reaches it.
//!
//! The first byte chooses how the rest becomes a token:
//! - `0`: the rest is the token (UTF-8), as a caller sends it: base64url, the JOSE
//!   header, the issuer's keys and the signature refuse it;
//! - `1`: the rest is `<JOSE header JSON>\n<claims JSON>`, signed with the trusted
//!   issuer's own key (EdDSA), so the header and claims checks are reached;
//! - anything else: the rest is the claims JSON under the header the issuer uses
//!   (`alg: EdDSA`, `typ: at+jwt`, its `kid`), signed the same way.
//!
//! Never panics. A token accepted was signed by the trusted key (its `kid` fixed as `k`)
//! under `EdDSA`, with `typ` `at+jwt` and no `crit` member (not even `null`), and has not
//! expired; and the claims every policy reads (`VerifiedToken::all_claims`, the signed
//! JSON object) say what the checked claims say, `cnf` included: a repeated member, an
//! escape or a type that made the two readers see different claims would fail here.
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;
use mcp_auth_core::{AsSigningKey, Confirmation, Jwks};
use mcp_auth_httpsig::{Algorithm, JwsAlgorithm};
use mcp_auth_resource::token::AccessTokenCache;
use serde_json::Value;

const ISSUER: &str = "https://as.example";
const AUDIENCE: &str = "https://mcp.example/mcp";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    key: AsSigningKey,
    /// The same key, to sign any header and payload.
    raw: mcp_auth_httpsig::SigningKey,
    cache: AccessTokenCache,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // A new key for each process, under a `kid` the seeds can name.
        let pem = AsSigningKey::generate(JwsAlgorithm::EdDsa)
            .and_then(|key| key.to_pkcs8_pem())
            .expect("a key");
        let key = AsSigningKey::from_pkcs8_pem(JwsAlgorithm::EdDsa, &pem, Some("k".into()))
            .expect("the key");
        let raw = mcp_auth_httpsig::SigningKey::from_pem(&pem).expect("the same key");
        let jwks = Jwks {
            keys: vec![key.public_jwk()],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let cache = runtime.block_on(async { AccessTokenCache::new(ISSUER, AUDIENCE, &jwks) });
        Fixture {
            runtime,
            key,
            raw,
            cache,
        }
    })
}

/// `header` and `claims` as a compact JWS signed with the trusted key.
fn signed(f: &Fixture, header: &[u8], claims: &[u8]) -> String {
    let mut jws = B64.encode(header);
    jws.push('.');
    B64.encode_string(claims, &mut jws);
    let signature = f
        .raw
        .sign(Algorithm::Jws(JwsAlgorithm::EdDsa), jws.as_bytes())
        .expect("an Ed25519 signature");
    jws.push('.');
    B64.encode_string(signature, &mut jws);
    jws
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let (token, header) = match mode {
        0 => match std::str::from_utf8(rest) {
            Ok(token) => (token.to_owned(), None),
            Err(_) => return,
        },
        1 => {
            let Some(at) = rest.iter().position(|&b| b == b'\n') else {
                return;
            };
            let (header, claims) = (&rest[..at], &rest[at + 1..]);
            (signed(f, header, claims), Some(header))
        }
        _ => {
            let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.key.kid()});
            let header = serde_json::to_vec(&header).expect("JSON");
            (signed(f, &header, rest), None)
        }
    };
    let Ok(verified) = f.runtime.block_on(f.cache.verify(&token, NOW)) else {
        return;
    };
    if let Some(header) = header {
        let header: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
        assert_eq!(header["alg"], "EdDSA", "accepted under another alg: {header}");
        assert_eq!(header["kid"], f.key.kid(), "accepted under another kid: {header}");
        let typ = header["typ"].as_str().expect("an accepted header has a typ");
        assert!(
            typ.eq_ignore_ascii_case("at+jwt") || typ == "application/at+jwt",
            "accepted with typ {typ}"
        );
        assert!(header.get("crit").is_none(), "accepted with crit: {header}");
    }
    let claims = &verified.claims;
    // `LEEWAY` (5 s) past `exp` is still accepted, not a second more.
    assert!(claims.exp.saturating_add(5) > NOW, "accepted after exp {}", claims.exp);
    let all = verified
        .all_claims
        .as_object()
        .expect("the signed claims are an object");
    let text = |name: &str| all.get(name).and_then(Value::as_str);
    assert_eq!(text("iss"), Some(ISSUER), "{all:?}");
    assert_eq!(text("sub"), Some(claims.sub.as_str()), "{all:?}");
    assert_eq!(text("jti"), Some(claims.jti.as_str()), "{all:?}");
    assert_eq!(text("client_id"), Some(claims.client_id.as_str()), "{all:?}");
    assert_eq!(text("scope").unwrap_or(""), claims.scope, "{all:?}");
    assert_eq!(all.get("exp").and_then(Value::as_i64), Some(claims.exp), "{all:?}");
    match all.get("aud") {
        Some(Value::String(aud)) => assert_eq!(aud, AUDIENCE),
        Some(Value::Array(auds)) => assert!(auds.iter().any(|a| a == AUDIENCE), "{all:?}"),
        other => panic!("accepted with aud {other:?}"),
    }
    let cnf = all
        .get("cnf")
        .filter(|c| !c.is_null())
        .map(|c| serde_json::from_value::<Confirmation>(c.clone()).expect("an accepted cnf"));
    assert_eq!(cnf, claims.cnf, "{all:?}");
});
