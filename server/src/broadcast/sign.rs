//! Signed, expiring HLS URLs: `?u=<viewer>&exp=<unix secs>&sig=<hex>` where `sig` is
//! HMAC-SHA256, with a secret kept in the database, over the lesson's HLS directory
//! (`/v1/hls/<lesson>/`), the viewer and the expiry. One signature opens the lesson's
//! playlists and segments, so the server appends it to every entry of the playlists it
//! serves; another lesson, viewer or expiry does not match it.

use sha2::{Digest, Sha256};

/// The query a player sends with every HLS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsGrant {
    pub user_id: String,
    /// Unix seconds.
    pub expires: i64,
    pub sig: String,
}

impl HlsGrant {
    pub fn query(&self) -> String {
        format!("u={}&exp={}&sig={}", self.user_id, self.expires, self.sig)
    }
}

/// Where a lesson's HLS files are served, the scope a signature covers.
pub fn scope(lesson_id: &str) -> String {
    format!("/v1/hls/{lesson_id}/")
}

#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(<redacted>)")
    }
}

impl UrlSigner {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        UrlSigner {
            secret: secret.into(),
        }
    }

    fn mac(&self, scope: &str, user_id: &str, expires: i64) -> String {
        let message = format!("{scope}\n{user_id}\n{expires}");
        hex::encode(hmac_sha256(&self.secret, message.as_bytes()))
    }

    pub fn grant(&self, lesson_id: &str, user_id: &str, expires: i64) -> HlsGrant {
        self.grant_in(&scope(lesson_id), user_id, expires)
    }

    /// A grant for the files under another path (a replay's, `/v1/replays/<id>/hls/`).
    pub fn grant_in(&self, scope: &str, user_id: &str, expires: i64) -> HlsGrant {
        HlsGrant {
            user_id: user_id.to_owned(),
            expires,
            sig: self.mac(scope, user_id, expires),
        }
    }

    /// The grant is ours, for this lesson, and not expired at `now_secs`.
    pub fn verify(&self, lesson_id: &str, grant: &HlsGrant, now_secs: i64) -> bool {
        self.verify_in(&scope(lesson_id), grant, now_secs)
    }

    /// The grant is ours, for this path, and not expired at `now_secs`.
    pub fn verify_in(&self, scope: &str, grant: &HlsGrant, now_secs: i64) -> bool {
        let expected = self.mac(scope, &grant.user_id, grant.expires);
        constant_time_eq(expected.as_bytes(), grant.sig.as_bytes()) && now_secs < grant.expires
    }
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_replay_grant_opens_its_replay_only() {
        let signer = UrlSigner::new("secret");
        let g = signer.grant_in("/v1/replays/R1/hls/", "u1", 1000);
        assert!(signer.verify_in("/v1/replays/R1/hls/", &g, 999));
        assert!(!signer.verify_in("/v1/replays/R2/hls/", &g, 0));
        assert!(!signer.verify("R1", &g, 0), "not a lesson's HLS");
    }

    #[test]
    fn a_grant_opens_its_lesson_until_it_expires_and_nothing_else() {
        let signer = UrlSigner::new("secret");
        let g = signer.grant("L1", "u1", 1000);
        assert!(signer.verify("L1", &g, 999));
        assert!(!signer.verify("L1", &g, 1000), "expired");
        assert!(!signer.verify("L2", &g, 0), "another lesson");
        let mut other = g.clone();
        other.user_id = "u2".into();
        assert!(!signer.verify("L1", &other, 0), "another viewer");
        let mut later = g.clone();
        later.expires = 5000;
        assert!(!signer.verify("L1", &later, 0), "a stretched expiry");
        assert!(
            !UrlSigner::new("other").verify("L1", &g, 0),
            "another secret"
        );
    }
}
