//! `X-Hub-Signature-256`: the HMAC-SHA256 of the raw body under the webhook
//! secret, checked in constant time before anything parses the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// Why a delivery's signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// Not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// Valid form, wrong value.
    #[error("signature does not match the body")]
    Mismatch,
}

/// Checks `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the raw
/// body) of a body held whole. The server checks bodies as they stream in,
/// with [`SignatureVerifier`].
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let mut verifier = SignatureVerifier::new(secret, header)?;
    verifier.update(body);
    verifier.verify()
}

/// `X-Hub-Signature-256` checked over a body that arrives in pieces: the
/// header's form before the first byte is read (a request without a
/// signature is refused at once), its value after the last.
pub struct SignatureVerifier {
    mac: Hmac<Sha256>,
    expected: Vec<u8>,
}

impl SignatureVerifier {
    /// Starts a check against `header`; `Missing` or `Malformed` when no
    /// body could ever match it.
    pub fn new(secret: &[u8], header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex = header
            .trim()
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed)?;
        let expected = decode_hex(hex).ok_or(SignatureError::Malformed)?;
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
        Ok(Self { mac, expected })
    }

    /// Feeds the next piece of the body.
    pub fn update(&mut self, piece: &[u8]) {
        self.mac.update(piece);
    }

    /// Whether the body fed so far is the one signed. `verify_slice`
    /// compares in constant time, so the answer's timing says nothing about
    /// how much of a forged signature was right.
    pub fn verify(self) -> Result<(), SignatureError> {
        self.mac
            .verify_slice(&self.expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// The signature GitHub would send for `body` (tests and benchmarks sign
/// their deliveries with it).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!(
        "sha256={}",
        crate::engine::fingerprint::hex(&mac.finalize().into_bytes())
    )
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_test_vector_verifies() {
        // docs.github.com, "Validating webhook deliveries", test values.
        let secret = b"It's a Secret to Everybody";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            verify_signature(secret, b"Hello, World!", Some(header)),
            Ok(())
        );
        assert_eq!(sign(secret, b"Hello, World!"), header);
        assert_eq!(
            verify_signature(secret, b"Hello, World?", Some(header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(secret, b"x", None),
            Err(SignatureError::Missing)
        );
        let mut streamed = SignatureVerifier::new(secret, Some(header)).expect("well-formed");
        for piece in [&b"Hello"[..], b"", b", ", b"World!"] {
            streamed.update(piece);
        }
        assert_eq!(streamed.verify(), Ok(()), "pieces hash as the whole");
        for bad in ["sha1=abc", "sha256=zz", "sha256=", "757107ea"] {
            assert_eq!(
                verify_signature(secret, b"x", Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
