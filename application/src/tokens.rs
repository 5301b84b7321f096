//! Bearer secrets (session tokens, reset tokens): 256 random bits, shown once, stored only
//! as their SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::user::TokenHash;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new secret and its hash.
pub fn new_token() -> (String, TokenHash) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a secret.
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &TokenHash, b: &TokenHash) -> bool {
    a.0.as_bytes().ct_eq(b.0.as_bytes()).into()
}

/// Whether a string can be one of our tokens (43 URL-safe base64 characters).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_and_hashed() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a, b);
        assert!(looks_like_token(&a));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(ha, hash_token(&a));
        assert!(hashes_equal(&ha, &hash_token(&a)));
        assert!(!hashes_equal(&ha, &hb));
        assert_eq!(ha.0.len(), 64);
    }
}
