//! Signed, expiring device tokens, in the format and with the algorithm of Azure IoT Hub's SAS
//! tokens, so that fleets and their tooling mint them as they already do:
//!
//! `SharedAccessSignature sr={resource}&sig={signature}&se={expiry}`, where `resource` names the
//! device (`{host}/devices/{id}`, any host, or `devices/{id}`), `expiry` is in seconds since the
//! epoch, and `signature` = base64(HMAC-SHA256(signing key, url-encoded resource + "\n" + expiry)).
//!
//! The signing key is what IoT Hub calls the device's key, base64: here the SHA-256 of the
//! device key, the one thing the server keeps of it (`KeyHash::signing_key`). A token proves
//! that its holder had the key (or its hash) when it was minted, until it expires; a new device
//! key makes every older token fail.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::form_urlencoded;

use crate::device::KeyHash;
use crate::ids::DeviceId;
use crate::validation::ValidationError;

/// What a device presents to be let in: its key, or a token signed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Key(KeyHash),
    Token(DeviceToken),
}

impl Credential {
    /// A token when it starts like one, else a key (checked against the device, not here).
    pub fn parse(presented: &str) -> Result<Self, ValidationError> {
        if DeviceToken::looks_like(presented) {
            DeviceToken::parse(presented).map(Self::Token)
        } else {
            Ok(Self::Key(KeyHash::of(presented)))
        }
    }
}

/// A device token as presented, parsed but not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken {
    resource: String,
    signature: Vec<u8>,
    expiry: i64,
}

/// Why a well-formed token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued for another device")]
    OtherDevice,
    #[error("the token's signature does not match the device's key")]
    BadSignature,
}

impl DeviceToken {
    pub const SCHEME: &'static str = "SharedAccessSignature";

    /// Whether `text` is meant as a token rather than a device key.
    pub fn looks_like(text: &str) -> bool {
        text.starts_with(Self::SCHEME)
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = |why: &str| ValidationError::new("token", why.to_owned());
        let fields = text
            .strip_prefix(Self::SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| invalid("must start with `SharedAccessSignature `"))?;
        let (mut resource, mut signature, mut expiry) = (None, None, None);
        for (name, value) in form_urlencoded::parse(fields.trim().as_bytes()) {
            let slot = match name.as_ref() {
                "sr" => &mut resource,
                "sig" => &mut signature,
                "se" => &mut expiry,
                // IoT Hub's policy name: a device token has none, and it is not signed.
                "skn" => continue,
                _ => return Err(invalid("has a field other than sr, sig, se and skn")),
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(invalid("names a field twice"));
            }
        }
        let (Some(resource), Some(signature), Some(expiry)) = (resource, signature, expiry) else {
            return Err(invalid("needs sr, sig and se"));
        };
        Ok(Self {
            signature: BASE64
                .decode(signature)
                .map_err(|_| invalid("sig must be base64"))?,
            expiry: expiry
                .parse()
                .map_err(|_| invalid("se must be seconds since the epoch"))?,
            resource,
        })
    }

    /// A token for `device`, valid until `expiry`, signed with the hash of its key.
    pub fn mint(
        resource_host: Option<&str>,
        device: &DeviceId,
        key: &KeyHash,
        expiry: i64,
    ) -> String {
        let resource = match resource_host {
            Some(host) => format!("{host}/devices/{device}"),
            None => format!("devices/{device}"),
        };
        let signature = BASE64.encode(sign(key, &resource, expiry));
        let fields: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("sr", &resource)
            .append_pair("sig", &signature)
            .append_pair("se", &expiry.to_string())
            .finish();
        format!("{} {fields}", Self::SCHEME)
    }

    /// Accepts the token for `device` with the key whose hash is `key`, at `now`.
    pub fn check(
        &self,
        device: &DeviceId,
        key: &KeyHash,
        now: DateTime<Utc>,
    ) -> Result<(), TokenRefusal> {
        let names_device = self
            .resource
            .strip_suffix(device.as_str())
            .is_some_and(|head| head == "devices/" || head.ends_with("/devices/"));
        if !names_device {
            return Err(TokenRefusal::OtherDevice);
        }
        let mac = signer(key, &self.resource, self.expiry);
        // Verified in constant time, by the MAC itself.
        mac.verify_slice(&self.signature)
            .map_err(|_| TokenRefusal::BadSignature)?;
        if self.expiry <= now.timestamp() {
            return Err(TokenRefusal::Expired);
        }
        Ok(())
    }
}

/// Never the signature: tokens are credentials.
impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceToken({}, expires {})", self.resource, self.expiry)
    }
}

fn signer(key: &KeyHash, resource: &str, expiry: i64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    let encoded: String = form_urlencoded::byte_serialize(resource.as_bytes()).collect();
    mac.update(encoded.as_bytes());
    mac.update(b"\n");
    mac.update(expiry.to_string().as_bytes());
    mac
}

fn sign(key: &KeyHash, resource: &str, expiry: i64) -> Vec<u8> {
    signer(key, resource, expiry)
        .finalize()
        .into_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> DeviceId {
        DeviceId::parse(id).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    /// A token built by hand from IoT Hub's documented algorithm (the Python sample of "Control
    /// access to IoT Hub with SAS tokens"), for resource `hub.example/devices/pump-1`, expiry
    /// 1900000000 and signing key base64(SHA-256("wsk_test")), computed with Python's hmac.
    const DOCUMENTED: &str = "SharedAccessSignature sr=hub.example%2Fdevices%2Fpump-1\
        &sig=HzmDK2rROKclTpfm%2FmMJnb39HoiAUqnH1aJ2otGZ4i8%3D&se=1900000000";

    #[test]
    fn a_minted_token_is_accepted_until_it_expires() {
        let key = KeyHash::of("wsk_test");
        let token = DeviceToken::mint(Some("hub.example"), &device("pump-1"), &key, 1_900_000_000);
        assert_eq!(token, DOCUMENTED);
        let parsed = DeviceToken::parse(&token).unwrap();
        assert_eq!(
            parsed.check(&device("pump-1"), &key, at(1_899_999_999)),
            Ok(())
        );
        assert_eq!(
            parsed.check(&device("pump-1"), &key, at(1_900_000_000)),
            Err(TokenRefusal::Expired)
        );
    }

    #[test]
    fn a_token_fails_for_another_device_another_key_or_a_changed_field() {
        let key = KeyHash::of("wsk_test");
        let token = DeviceToken::mint(None, &device("pump-1"), &key, 1_900_000_000);
        let parsed = DeviceToken::parse(&token).unwrap();
        let now = at(1_800_000_000);
        assert_eq!(
            parsed.check(&device("pump-2"), &key, now),
            Err(TokenRefusal::OtherDevice)
        );
        // A device whose id ends like another's is still another device.
        assert_eq!(
            parsed.check(&device("1"), &key, now),
            Err(TokenRefusal::OtherDevice)
        );
        assert_eq!(
            parsed.check(&device("pump-1"), &KeyHash::of("wsk_other"), now),
            Err(TokenRefusal::BadSignature)
        );
        let later = token.replace("se=1900000000", "se=1900000001");
        assert_eq!(
            DeviceToken::parse(&later)
                .unwrap()
                .check(&device("pump-1"), &key, now),
            Err(TokenRefusal::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_name_what_is_wrong() {
        for (text, why) in [
            ("Bearer x", "must start with"),
            (
                "SharedAccessSignature sr=devices%2Fa&se=1",
                "needs sr, sig and se",
            ),
            ("SharedAccessSignature sr=a&sig=AA==&se=soon", "se must be"),
            (
                "SharedAccessSignature sr=a&sig=***&se=1",
                "sig must be base64",
            ),
            ("SharedAccessSignature sr=a&sr=b&sig=AA==&se=1", "twice"),
            ("SharedAccessSignature sr=a&sig=AA==&se=1&x=y", "other than"),
        ] {
            let e = DeviceToken::parse(text).unwrap_err();
            assert_eq!(e.field, "token");
            assert!(e.message.contains(why), "{text}: {}", e.message);
        }
    }
}
