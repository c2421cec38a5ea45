//! The `X-Hub-Signature-256` header: HMAC-SHA256 over the exact raw request body, keyed with the
//! app secret. Verification compares in constant time and happens before any parsing.

use hmac::digest::Key;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The header value's prefix before the hex digest.
const PREFIX: &str = "sha256=";

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header (or an empty one).
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex characters.
    #[error("malformed X-Hub-Signature-256 header: expected \"sha256=\" and 64 hex characters")]
    Malformed,
    /// Well formed, but not the HMAC of this body under the configured app secret.
    #[error("X-Hub-Signature-256 does not match the body (wrong app secret or altered body)")]
    Mismatch,
}

/// Verifies `X-Hub-Signature-256: sha256=<hex>` over the exact raw body, constant time.
///
/// Hex digits may be upper or lower case; whitespace around the header value is ignored.
///
/// # Errors
/// [`SignatureError::Missing`] without a header, [`SignatureError::Malformed`] when it is not
/// `sha256=` plus 64 hex characters, [`SignatureError::Mismatch`] when the digest differs.
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(PREFIX)
        .filter(|h| h.len() == 64)
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = keyed(app_secret);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// `sha256=<hex>` for a body (used by the simulator and tests).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = keyed(app_secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// An HMAC-SHA256 keyed with `secret`, built without a fallible call: the key block is prepared
/// as RFC 2104 prescribes (keys longer than the 64-byte block are hashed first, then
/// zero-padded), which is exactly what `new_from_slice` does, minus its `Result`.
fn keyed(secret: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    let hashed;
    let key: &[u8] = if secret.len() > block.len() {
        hashed = Sha256::digest(secret);
        &hashed
    } else {
        secret
    };
    for (slot, byte) in block.iter_mut().zip(key) {
        *slot = *byte;
    }
    <HmacSha256 as hmac::digest::KeyInit>::new(&block)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn good_signature_verifies() {
        let header = sign(SECRET, BODY);
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), 7 + 64);
        assert_eq!(verify_signature(SECRET, BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let header = sign(SECRET, BODY);
        let tampered = br#"{"object":"whatsapp_business_account","entry":[{}]}"#;
        assert_eq!(
            verify_signature(SECRET, tampered, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let header = sign(b"another-secret", BODY);
        assert_eq!(
            verify_signature(SECRET, BODY, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_header() {
        assert_eq!(
            verify_signature(SECRET, BODY, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(SECRET, BODY, Some("  ")),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn malformed_headers() {
        let good = sign(SECRET, BODY);
        let hex_part = good.trim_start_matches("sha256=");
        for bad in [
            hex_part.to_string(),                   // no prefix
            format!("sha1={hex_part}"),             // wrong algorithm
            format!("sha256={}", &hex_part[..63]),  // too short
            format!("sha256={hex_part}0"),          // too long
            format!("sha256={}g", &hex_part[..63]), // not hex
            "sha256=".to_string(),
        ] {
            assert_eq!(
                verify_signature(SECRET, BODY, Some(&bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let good = sign(SECRET, BODY);
        let upper = format!(
            "sha256={}",
            good.trim_start_matches("sha256=").to_uppercase()
        );
        assert_ne!(upper, good);
        assert_eq!(verify_signature(SECRET, BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn matches_the_library_for_short_empty_and_long_keys() {
        // The hand-prepared key block must equal hmac's own `new_from_slice` for every length,
        // including keys longer than the 64-byte block (which HMAC hashes first).
        for secret in [&b""[..], b"k", &[7u8; 64], &[9u8; 65], &[0xaau8; 131]] {
            let mut reference = HmacSha256::new_from_slice(secret).unwrap();
            reference.update(BODY);
            let expected = format!("sha256={}", hex::encode(reference.finalize().into_bytes()));
            assert_eq!(sign(secret, BODY), expected, "key length {}", secret.len());
        }
    }

    #[test]
    fn rfc4231_test_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
