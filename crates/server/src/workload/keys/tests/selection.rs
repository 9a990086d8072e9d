//! WIF §7.3 step 7 without a network: which keys are usable, and which one key is
//! chosen (WIF-AS-10, WIF-AS-12). `jwks_file` entries never fetch.

use super::*;
use crate::workload::keys::select::{select_key, set_keys};

use JwsAlgorithm::{EdDsa, Es256, Es384, Ps256, Rs256};

fn pick(set: &Value, kid: Option<&str>, alg: JwsAlgorithm) -> Option<VerifyingKey> {
    select_key(set_keys(set), false, kid, alg)
}

fn usable_count(jwk: &Value, alg: JwsAlgorithm) -> usize {
    usable_keys(&jwks(std::slice::from_ref(jwk)), false, alg).len()
}

#[test]
fn wif_as_12_kid_selects_the_one_key_with_that_kid() {
    let a = signing(Es256, "a");
    let b = signing(Es256, "b");
    let set = jwks(&[public(&a), public(&b)]);
    assert_is(&pick(&set, Some("b"), Es256).expect("b"), &b);
    assert_is(&pick(&set, Some("a"), Es256).expect("a"), &a);
    assert!(pick(&set, Some("c"), Es256).is_none());
}

#[test]
fn wif_as_12_without_kid_the_only_usable_key_for_alg_is_used() {
    let ec = signing(Es256, "ec");
    let rsa = signing(Rs256, "rsa");
    let set = jwks(&[public(&ec), public(&rsa)]);
    assert_is(&pick(&set, None, Es256).expect("EC key"), &ec);
    assert_is(&pick(&set, None, Rs256).expect("RSA key"), &rsa);
    assert!(pick(&set, None, Es384).is_none());
}

#[test]
fn wif_as_12_two_usable_keys_without_kid_are_ambiguous() {
    let set = jwks(&[public(&signing(Es256, "a")), public(&signing(Es256, "b"))]);
    assert!(pick(&set, None, Es256).is_none());
}

#[test]
fn wif_as_12_two_usable_keys_with_one_kid_are_ambiguous() {
    let set = jwks(&[public(&signing(Es256, "a")), public(&signing(Es256, "a"))]);
    assert!(pick(&set, Some("a"), Es256).is_none());
}

#[test]
fn wif_as_12_an_unusable_key_does_not_make_the_choice_ambiguous() {
    let good = signing(Es256, "a");
    let enc = public_with(&signing(Es256, "a"), &json!({"use": "enc"}));
    let set = jwks(&[enc, public(&good)]);
    assert_is(
        &pick(&set, Some("a"), Es256).expect("the signing key"),
        &good,
    );
    assert_is(&pick(&set, None, Es256).expect("the signing key"), &good);
}

#[test]
fn wif_as_12_a_key_alg_must_equal_the_header_alg() {
    let rsa = signing(Rs256, "rsa");
    // The key says RS256: not for PS256, although the type fits.
    assert_eq!(usable_count(&public(&rsa), Rs256), 1);
    assert_eq!(usable_count(&public(&rsa), Ps256), 0);
    // Without `alg`, every algorithm of its type.
    let bare = public_with(&rsa, &json!({}));
    assert_eq!(usable_count(&bare, Ps256), 1);
    assert_eq!(usable_count(&bare, Rs256), 1);
    // A declared `alg` of another type, or unknown, is never usable.
    assert_eq!(
        usable_count(&public_with(&rsa, &json!({"alg": "ES256"})), Rs256),
        0
    );
    assert_eq!(
        usable_count(&public_with(&rsa, &json!({"alg": "RS384"})), Rs256),
        0
    );
    assert_eq!(
        usable_count(&public_with(&rsa, &json!({"alg": 7})), Rs256),
        0
    );
}

#[test]
fn wif_as_12_the_key_type_must_fit_alg() {
    let p256 = public_with(&signing(Es256, "p256"), &json!({}));
    let p384 = public_with(&signing(Es384, "p384"), &json!({}));
    let ed = public_with(&signing(EdDsa, "ed"), &json!({}));
    let rsa = public_with(&signing(Rs256, "rsa"), &json!({}));
    for (jwk, fits) in [
        (&p256, Es256),
        (&p384, Es384),
        (&ed, EdDsa),
        (&rsa, Rs256),
        (&rsa, Ps256),
    ] {
        assert_eq!(usable_count(jwk, fits), 1, "{jwk} fits {fits:?}");
    }
    for (jwk, alg) in [
        (&p384, Es256),
        (&p256, Es384),
        (&p256, EdDsa),
        (&ed, Es256),
        (&rsa, Es256),
        (&p256, Rs256),
        (&ed, Ps256),
    ] {
        assert_eq!(usable_count(jwk, alg), 0, "{jwk} does not fit {alg:?}");
    }
    // Ed25519 (fully specified) is outside WIF §7.2's list.
    assert_eq!(usable_count(&ed, JwsAlgorithm::Ed25519), 0);
}

/// A 1024-bit RSA modulus (`openssl genrsa 1024`): RFC 7518 §3.3 wants 2048.
const RSA_1024_N: &str = "w1-or0s7bfIWr3ay8xEUYIPIFpnXmWQcs86JXFXZP0LlVHfkpRRACDURaqiS2aV_0luTqTKuDk9Gs_0IYl8p6WWZZyYE012db-d-wBiB-32DySrjB9d7IoLbHTrsrrpohu_5bj_VO38Ogkh5vZY5ZJF2tmqf2Etb663q3S2gkyE";

#[test]
fn wif_as_12_rsa_keys_below_2048_bits_are_not_used() {
    let small = json!({"kty": "RSA", "kid": "small", "n": RSA_1024_N, "e": "AQAB"});
    assert_eq!(usable_count(&small, Rs256), 0);
    let set = jwks(&[small]);
    assert!(pick(&set, Some("small"), Rs256).is_none());
    assert!(pick(&set, None, Rs256).is_none());
}

#[test]
fn private_and_symmetric_keys_are_never_used() {
    let key = signing(Es256, "a");
    let private = serde_json::to_value(key.to_private_jwk().expect("private JWK")).expect("JSON");
    assert!(private.get("d").is_some());
    assert_eq!(usable_count(&private, Es256), 0);
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let jwk = public_with(&key, &json!({ member: "AQAB" }));
        assert_eq!(usable_count(&jwk, Es256), 0, "with {member}");
    }
    let oct = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256"});
    for alg in [Es256, Rs256, EdDsa] {
        assert_eq!(usable_count(&oct, alg), 0);
    }
}

#[test]
fn use_must_be_absent_or_sig() {
    let key = signing(Es256, "a");
    assert_eq!(
        usable_count(&public_with(&key, &json!({"use": "sig"})), Es256),
        1
    );
    assert_eq!(usable_count(&public_with(&key, &json!({})), Es256), 1);
    for other in [json!("enc"), json!("jwt-svid"), json!("SIG"), json!(true)] {
        let jwk = public_with(&key, &json!({ "use": other }));
        assert_eq!(usable_count(&jwk, Es256), 0, "use {other}");
    }
}

#[test]
fn key_ops_must_be_absent_or_contain_verify() {
    let key = signing(Es256, "a");
    for (ops, usable) in [
        (json!(["verify"]), 1),
        (json!(["sign", "verify"]), 1),
        (json!(["sign"]), 0),
        (json!(["encrypt", "wrapKey"]), 0),
        (json!([]), 0),
        (json!("verify"), 0),
    ] {
        let jwk = public_with(&key, &json!({ "key_ops": ops }));
        assert_eq!(usable_count(&jwk, Es256), usable, "key_ops {ops}");
    }
}

#[test]
fn malformed_keys_are_skipped_not_fatal() {
    let good = signing(Es256, "good");
    let set = jwks(&[
        json!("not a key"),
        json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "EC", "crv": "P-256", "kid": 5}),
        public(&good),
    ]);
    assert_is(&pick(&set, None, Es256).expect("the good key"), &good);
    assert!(usable_keys(&json!({"keys": "none"}), false, Es256).is_empty());
    assert!(usable_keys(&json!([]), false, Es256).is_empty());
}

#[test]
fn a_chosen_key_is_fixed_to_the_header_alg() {
    let signer = signing(Ps256, "rsa");
    let rsa = public_with(&signer, &json!({}));
    let keys = usable_keys(&jwks(&[rsa]), false, Ps256);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].algorithm(), Some(Algorithm::Jws(Ps256)));
    assert_eq!(keys[0].kid(), Some("rsa"));
    // And it verifies what the issuer signed.
    let alg = Algorithm::Jws(Ps256);
    let signature = signer.sign(alg, b"header.claims").expect("signature");
    assert_eq!(keys[0].verify(alg, b"header.claims", &signature), Ok(true));
    assert_eq!(keys[0].verify(alg, b"header.other", &signature), Ok(false));
}

#[test]
fn wif_as_10_bundle_keys_need_use_jwt_svid_and_a_kid() {
    let svid = signing(Es256, "svid");
    let with_use = |key: &SigningKey, use_: &str| public_with(key, &json!({ "use": use_ }));
    let set = jwks(&[
        with_use(&svid, "jwt-svid"),
        // No kid: ignored (JWT-SVID §6.2).
        public_with(
            &signing(Es256, "x"),
            &json!({"use": "jwt-svid", "kid": null}),
        ),
        // X.509-SVID roots and plain keys: ignored.
        with_use(&signing(Es256, "x509"), "x509-svid"),
        with_use(&signing(Es256, "sig"), "sig"),
        public_with(&signing(Es256, "bare"), &json!({})),
    ]);
    let keys = usable_keys(&set, true, Es256);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid(), Some("svid"));
    assert_is(
        &select_key(set_keys(&set), true, None, Es256).expect("one key"),
        &svid,
    );
    assert!(select_key(set_keys(&set), true, Some("sig"), Es256).is_none());
    // The same set as a plain JWK Set: `jwt-svid` is not `sig`.
    let plain = usable_keys(&set, false, Es256);
    let kids: Vec<_> = plain.iter().map(|k| k.kid()).collect();
    assert_eq!(kids, [Some("sig"), Some("bare")]);
}

#[tokio::test]
async fn a_jwks_file_never_fetches() {
    let key = signing(EdDsa, "file");
    let entry = EntryKeys::new(
        "file",
        KeySource::JwksFile(jwks(&[public(&key), public(&signing(Es256, "other"))])),
    );
    // A guard that would refuse any loopback URL: nothing is fetched anyway.
    let fetch = GuardedFetch::new(false);
    for now in [T0, T0 + 10 * 86_400] {
        let found = entry.select(&fetch, now, Some("file"), EdDsa).await;
        assert_is(&found.expect("the file's key"), &key);
        assert_eq!(
            entry.select(&fetch, now, Some("new"), EdDsa).await.err(),
            Some(KeyLookupError::NoUsableKey)
        );
    }
    let empty = EntryKeys::new("empty", KeySource::JwksFile(json!({"nokeys": []})));
    assert_eq!(
        empty.select(&fetch, T0, None, Es256).await.err(),
        Some(KeyLookupError::NoUsableKey)
    );
}

#[test]
fn discovery_locations() {
    let urls = |issuer| discovery_urls(issuer).expect(issuer);
    assert_eq!(
        urls("https://oidc.example"),
        (
            "https://oidc.example/.well-known/openid-configuration".to_owned(),
            "https://oidc.example/.well-known/oauth-authorization-server".to_owned()
        )
    );
    assert_eq!(
        urls("https://idp.example/tenant/a/"),
        (
            "https://idp.example/tenant/a/.well-known/openid-configuration".to_owned(),
            "https://idp.example/.well-known/oauth-authorization-server/tenant/a".to_owned()
        )
    );
    assert_eq!(
        urls("https://idp.example:8443/t").1,
        "https://idp.example:8443/.well-known/oauth-authorization-server/t"
    );
    for bad in [
        "not a url",
        "https://idp.example/?q=1",
        "https://idp.example/#f",
        "urn:x",
    ] {
        assert_eq!(discovery_urls(bad), None, "{bad}");
    }
}

#[test]
fn d8_cache_lifetime_is_clamped() {
    assert_eq!(cache_ttl(None, None), 300);
    assert_eq!(cache_ttl(Some(0), None), 60);
    assert_eq!(cache_ttl(Some(59), None), 60);
    assert_eq!(cache_ttl(Some(600), None), 600);
    assert_eq!(cache_ttl(Some(3601), None), 3600);
    assert_eq!(cache_ttl(Some(u64::MAX), None), 3600);
    assert_eq!(cache_ttl(Some(600), Some(120)), 120);
    assert_eq!(cache_ttl(Some(120), Some(600)), 120);
    assert_eq!(cache_ttl(None, Some(90)), 90);
    assert_eq!(cache_ttl(None, Some(5)), 60);
}
