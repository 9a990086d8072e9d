//! The compact JWS serialization (RFC 7515 §7.1) as mcp-auth reads it from other
//! parties (DPoP proofs, workload assertions): three base64url parts, decoded, and
//! the signing input ([`split_compact`]), or the parts left to decode one by one
//! ([`split_segments`]); and a strict JSON object reader that refuses a member repeated
//! at any depth, so that no reader taking "the last of two" sees other claims than
//! the ones checked. Size caps are the caller's (each format has its own), checked
//! before calling these.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A compact JWS, split and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactJws<'a> {
    /// The decoded JOSE header (bytes of a JSON object, not yet checked).
    pub header: Vec<u8>,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: what the signature covers.
    pub signing_input: &'a str,
}

/// Which part of a compact JWS is not base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsPart {
    /// The JOSE header.
    Header,
    /// The payload.
    Payload,
    /// The signature.
    Signature,
}

impl JwsPart {
    /// `header`, `payload` or `signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        }
    }
}

/// Why a value is not a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactJwsError {
    /// Not three dot-separated parts.
    #[error("not three dot-separated parts")]
    NotThreeParts,
    /// A part is not unpadded base64url.
    #[error("the {} is not base64url", .0.as_str())]
    NotBase64url(JwsPart),
}

/// Splits `jws` (already trimmed and size-checked by the caller) into its three
/// decoded parts.
pub fn split_compact(jws: &str) -> Result<CompactJws<'_>, CompactJwsError> {
    let segments = split_segments(jws)?;
    Ok(CompactJws {
        header: segments.decode(JwsPart::Header)?,
        payload: segments.decode(JwsPart::Payload)?,
        signature: segments.decode(JwsPart::Signature)?,
        signing_input: segments.signing_input(),
    })
}

/// A compact JWS split at its two dots, nothing decoded: for a reader that may not
/// need every part decoded (a DPoP proof whose header was checked before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactSegments<'a> {
    /// `BASE64URL(header) '.' BASE64URL(payload)`.
    signing_input: &'a str,
    /// Where the payload's segment starts in `signing_input` (after the first dot).
    payload_start: usize,
    /// The signature's segment.
    signature: &'a str,
}

impl<'a> CompactSegments<'a> {
    /// `BASE64URL(header) '.' BASE64URL(payload)`: what the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The header's base64url segment.
    pub fn header(&self) -> &'a str {
        &self.signing_input[..self.payload_start - 1]
    }

    /// The payload's base64url segment.
    pub fn payload(&self) -> &'a str {
        &self.signing_input[self.payload_start..]
    }

    /// The signature's base64url segment.
    pub fn signature(&self) -> &'a str {
        self.signature
    }

    /// The part `which`, decoded.
    pub fn decode(&self, which: JwsPart) -> Result<Vec<u8>, CompactJwsError> {
        let segment = match which {
            JwsPart::Header => self.header(),
            JwsPart::Payload => self.payload(),
            JwsPart::Signature => self.signature,
        };
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| CompactJwsError::NotBase64url(which))
    }
}

/// Splits `jws` at its dots: exactly two, or [`CompactJwsError::NotThreeParts`]. The
/// dots are found once each (`memchr`), and nothing is decoded (issue 18).
pub fn split_segments(jws: &str) -> Result<CompactSegments<'_>, CompactJwsError> {
    let bytes = jws.as_bytes();
    let first = memchr::memchr(b'.', bytes).ok_or(CompactJwsError::NotThreeParts)?;
    let second = memchr::memchr(b'.', &bytes[first + 1..])
        .map(|i| first + 1 + i)
        .ok_or(CompactJwsError::NotThreeParts)?;
    if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
        return Err(CompactJwsError::NotThreeParts);
    }
    // Both dots are ASCII: every slice below is on a character boundary.
    Ok(CompactSegments {
        signing_input: &jws[..second],
        payload_start: first + 1,
        signature: &jws[second + 1..],
    })
}

/// Whether the JOSE header of the compact JWS `jws` has a `crit` member, whatever its
/// value, or cannot be read. RFC 7515 §4.1.11: a recipient refuses a `crit` naming an
/// extension it does not understand, and mcp-auth understands none; `"crit": null`,
/// which readers that take `null` for "absent" let through, is no valid `crit` either
/// (it must be a non-empty array). For headers read by such a reader (`jsonwebtoken`'s
/// `Header`); an unreadable one counts as having it, so that the caller refuses it.
pub fn header_has_crit(jws: &str) -> bool {
    /// The `crit` member alone, present with any value.
    #[derive(serde::Deserialize)]
    struct Crit {
        #[serde(default, deserialize_with = "present")]
        crit: Option<de::IgnoredAny>,
    }
    let segment = jws.split('.').next().unwrap_or_default();
    let Ok(header) = URL_SAFE_NO_PAD.decode(segment) else {
        return true;
    };
    serde_json::from_slice::<Crit>(&header).map_or(true, |h| h.crit.is_some())
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option`: `Some` for a
/// member that is present, `null` included, where serde's `Option` makes `null` `None`.
pub fn present<'de, D: Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `bytes` as a JSON object with no member repeated at any depth (compared after
/// unescaping), or `None`.
pub fn strict_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<NoDuplicates>(bytes).ok()?;
    match serde_json::from_slice(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Reads any JSON value and fails on an object member repeated (after unescaping).
struct NoDuplicates;

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated object members")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("a member is repeated"));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_crit_member_is_found_whatever_its_value() {
        let jws = |header: &str| format!("{}.e30.c2ln", super::URL_SAFE_NO_PAD.encode(header));
        use base64::Engine as _;
        for (header, has) in [
            (r#"{"alg":"EdDSA","kid":"crit"}"#, false),
            (r#"{"alg":"EdDSA","crit":["b64"],"b64":false}"#, true),
            (r#"{"alg":"EdDSA","crit":null}"#, true),
            (r#"{"alg":"EdDSA","crit":[]}"#, true),
            (r#"{"alg":"EdDSA","crit":1,"crit":2}"#, true),
            (r#"{"alg":"EdDSA""#, true),
        ] {
            assert_eq!(super::header_has_crit(&jws(header)), has, "{header}");
        }
        assert!(super::header_has_crit("not base64!.e30.c2ln"));
    }

    use super::*;

    #[test]
    fn a_compact_jws_splits_into_decoded_parts_and_its_signing_input() {
        let jws = split_compact("e30.e30.AQI").unwrap();
        assert_eq!(jws.header, b"{}");
        assert_eq!(jws.payload, b"{}");
        assert_eq!(jws.signature, [1, 2]);
        assert_eq!(jws.signing_input, "e30.e30");
    }

    #[test]
    fn two_or_four_parts_are_not_a_compact_jws() {
        for not_three in ["", "a", "a.b", "a.b.c.d", "...", "a.b.c."] {
            assert_eq!(
                split_compact(not_three),
                Err(CompactJwsError::NotThreeParts),
                "{not_three:?}"
            );
            assert_eq!(
                split_segments(not_three),
                Err(CompactJwsError::NotThreeParts),
                "{not_three:?}"
            );
        }
    }

    #[test]
    fn the_segments_are_the_parts_between_the_dots() {
        let segments = split_segments("hé.pay.sig").unwrap();
        assert_eq!(segments.header(), "hé");
        assert_eq!(segments.payload(), "pay");
        assert_eq!(segments.signature(), "sig");
        assert_eq!(segments.signing_input(), "hé.pay");
        let empty = split_segments("..").unwrap();
        assert_eq!(
            (empty.header(), empty.payload(), empty.signature()),
            ("", "", "")
        );
        assert_eq!(empty.signing_input(), ".");
    }

    #[test]
    fn a_part_that_is_not_base64url_is_named() {
        assert_eq!(
            split_compact("e30.e3+.AQI"),
            Err(CompactJwsError::NotBase64url(JwsPart::Payload))
        );
        assert_eq!(
            split_compact("e30=.e30.AQI"),
            Err(CompactJwsError::NotBase64url(JwsPart::Header))
        );
    }

    #[test]
    fn a_member_repeated_at_any_depth_or_escaped_is_refused() {
        assert!(strict_object(br#"{"a":1,"b":{"c":2}}"#).is_some());
        assert!(strict_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(strict_object(br#"{"a":{"c":1,"c":2}}"#).is_none());
        assert!(strict_object(br#"{"sub":"x","s\u0075b":"y"}"#).is_none());
        assert!(strict_object(b"[1]").is_none());
    }
}
