//! DBeaver's credential store, `.dbeaver/credentials-config.json`: the user
//! and password of every saved connection, as JSON encrypted with
//! AES-128-CBC (PKCS#7 padding) under a key every copy of DBeaver ships,
//! the first 16 bytes of the file being the IV. Encrypted under a public
//! key is not protected: whoever has the file has the passwords, so a
//! committed store with a saved password is reported like one in clear.
//!
//! The file is binary, so it reaches the secrets analyzer as bytes
//! ([`crate::engine::Content::Sealed`]), at most [`MAX_SEALED_BYTES`] of them
//! (a store with hundreds of connections is a few kilobytes).

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use serde_json::Value;

/// The most bytes of a store that are decrypted; a larger file stays an
/// ordinary binary file.
pub const MAX_SEALED_BYTES: usize = 64 * 1024;

/// DBeaver's default key for its credential store
/// (`babb4a9f774ab853c96c2d653dfe544a`), public in DBeaver's sources and
/// documentation. It is what makes the store readable by anyone.
const DBEAVER_KEY: [u8; 16] = [
    0xba, 0xbb, 0x4a, 0x9f, 0x77, 0x4a, 0xb8, 0x53, 0xc9, 0x6c, 0x2d, 0x65, 0x3d, 0xfe, 0x54, 0x4a,
];

/// JSON values visited at most in a decrypted store: a bound on hostile
/// nesting and size beyond what the size limit already gives.
const MAX_NODES: usize = 20_000;

/// Why a store could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealedError {
    /// Shorter than an IV and one block: the file's length.
    #[error("{0} bytes is too short for an IV and one encrypted block")]
    TooShort(usize),
    /// The ciphertext is cut: its length.
    #[error("{0} bytes after the IV is not a whole number of 16-byte blocks")]
    NotBlocks(usize),
    /// Another key, or damaged bytes.
    #[error("it does not decrypt with DBeaver's default key (wrong padding)")]
    Padding,
    /// Decrypted, but not DBeaver's JSON: the parser's message.
    #[error("the decrypted text is not JSON ({0})")]
    NotJson(String),
}

/// Whether `path` is DBeaver's credential store (in a `.dbeaver` folder).
pub fn is_dbeaver_store(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower == ".dbeaver/credentials-config.json"
        || lower.ends_with("/.dbeaver/credentials-config.json")
}

/// The store's plaintext: the IV is the first block, the rest is the
/// ciphertext.
pub fn decrypt(bytes: &[u8]) -> Result<Vec<u8>, SealedError> {
    if bytes.len() < 32 {
        return Err(SealedError::TooShort(bytes.len()));
    }
    let (iv, body) = bytes.split_at(16);
    if body.len() % 16 != 0 {
        return Err(SealedError::NotBlocks(body.len()));
    }
    // Both lengths are 16 here; `new_from_slices` checks them anyway.
    let decryptor = cbc::Decryptor::<aes::Aes128>::new_from_slices(&DBEAVER_KEY, iv)
        .map_err(|_| SealedError::Padding)?;
    decryptor
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .map_err(|_| SealedError::Padding)
}

/// The non-empty `password` values of a decrypted store, by connection id
/// (DBeaver keeps them as `{"<connection>": {"#connection": {"user": …,
/// "password": …}}}`; any depth is read, within [`MAX_NODES`]).
pub fn passwords(plain: &[u8]) -> Result<Vec<String>, SealedError> {
    let value: Value =
        serde_json::from_slice(plain).map_err(|e| SealedError::NotJson(e.to_string()))?;
    let mut found = Vec::new();
    let mut stack = vec![&value];
    let mut visited = 0;
    while let Some(node) = stack.pop() {
        visited += 1;
        if visited > MAX_NODES {
            break;
        }
        match node {
            Value::Object(map) => {
                // Reversed onto the stack so children are read in key order.
                for (key, child) in map.iter().rev() {
                    match child {
                        Value::String(text) if key == "password" && !text.is_empty() => {
                            found.push(text.clone());
                        }
                        _ => stack.push(child),
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter().rev()),
            _ => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockEncryptMut;

    fn seal(json: &str, iv: [u8; 16]) -> Vec<u8> {
        let encryptor = cbc::Encryptor::<aes::Aes128>::new_from_slices(&DBEAVER_KEY, &iv)
            .expect("key and IV are 16 bytes");
        let mut out = iv.to_vec();
        out.extend(encryptor.encrypt_padded_vec_mut::<Pkcs7>(json.as_bytes()));
        out
    }

    #[test]
    fn the_key_is_dbeavers_published_default() {
        let hex: String = DBEAVER_KEY.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "babb4a9f774ab853c96c2d653dfe544a");
    }

    #[test]
    fn a_store_decrypts_and_its_non_empty_passwords_are_found() {
        let json = r##"{"postgres-jdbc-18f":{"#connection":{"user":"app","password":"Tq7vN2mXr9Lk"}},
                      "mysql8-1a0":{"#connection":{"user":"ro","password":""}},
                      "oracle-2b1":{"#connection":{"user":"etl","password":"Zp4wQ8sHc1Jd"}}}"##;
        let sealed = seal(json, *b"0123456789abcdef");
        let plain = decrypt(&sealed).expect("decrypts");
        assert_eq!(plain, json.as_bytes());
        assert_eq!(
            passwords(&plain).expect("json"),
            vec!["Zp4wQ8sHc1Jd".to_owned(), "Tq7vN2mXr9Lk".to_owned()]
        );
    }

    #[test]
    fn corrupt_stores_say_why() {
        assert_eq!(decrypt(&[7; 20]), Err(SealedError::TooShort(20)));
        assert_eq!(decrypt(&[7; 40]), Err(SealedError::NotBlocks(24)));
        let mut sealed = seal(r#"{"a":{"password":"x"}}"#, [3; 16]);
        // Another key's ciphertext: the last block's padding is wrong.
        let last = sealed.len() - 1;
        sealed[last] ^= 0x5a;
        assert_eq!(decrypt(&sealed), Err(SealedError::Padding));
        let not_json = seal("user=app password=x", [4; 16]);
        let plain = decrypt(&not_json).expect("decrypts");
        assert!(matches!(passwords(&plain), Err(SealedError::NotJson(_))));
    }

    #[test]
    fn the_store_is_found_by_its_folder_and_name() {
        assert!(is_dbeaver_store(".dbeaver/credentials-config.json"));
        assert!(is_dbeaver_store(
            "tools/db/.dbeaver/credentials-config.json"
        ));
        assert!(!is_dbeaver_store("credentials-config.json"));
        assert!(!is_dbeaver_store(".dbeaver/data-sources.json"));
    }
}
