//! Random secrets for tokens that were not configured.

use base64::Engine;
use rand::RngCore;

/// A 256-bit random token, URL-safe so it can sit in a URL fragment.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
