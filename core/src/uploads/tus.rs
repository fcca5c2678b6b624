//! The pure parts of the tus 1.0 client: header values, where an upload lives, and how big
//! the next chunk should be.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use lianxiao_protocol::{MAX_CHUNK_BYTES, meta};

pub(crate) const TUS_RESUMABLE: &str = "Tus-Resumable";
pub(crate) const UPLOAD_OFFSET: &str = "Upload-Offset";
pub(crate) const UPLOAD_LENGTH: &str = "Upload-Length";
pub(crate) const UPLOAD_METADATA: &str = "Upload-Metadata";
pub(crate) const UPLOAD_CHECKSUM: &str = "Upload-Checksum";
pub(crate) const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// tus checksum extension: the chunk did not match its checksum and was discarded.
pub(crate) const CHECKSUM_MISMATCH: u16 = 460;

/// `Upload-Metadata`: `key base64(value)` pairs, comma separated, empty values left out.
pub(crate) fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v.as_bytes())))
        .collect::<Vec<_>>()
        .join(",")
}

/// The metadata our server wants for one file.
/// `homework_id` is the upload row's subject: the homework, or for a recording the lesson.
pub(crate) fn upload_metadata(
    purpose: &str,
    homework_id: Option<&str>,
    kind: &str,
    file_name: &str,
    content_type: &str,
) -> String {
    let recording = purpose == lianxiao_protocol::UploadPurpose::Recording.as_str();
    let (homework_id, lesson_id) = match recording {
        true => ("", homework_id.unwrap_or("")),
        false => (homework_id.unwrap_or(""), ""),
    };
    encode_metadata(&[
        (meta::PURPOSE, purpose),
        (meta::HOMEWORK_ID, homework_id),
        (meta::LESSON_ID, lesson_id),
        (meta::KIND, kind),
        (meta::FILE_NAME, file_name),
        (meta::CONTENT_TYPE, content_type),
    ])
}

/// `Upload-Checksum` for a chunk with this sha256 digest.
pub(crate) fn checksum_header(digest: &[u8]) -> String {
    format!("sha256 {}", STANDARD.encode(digest))
}

#[cfg(test)]
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Where an upload lives, from the `Location` of its creation: absolute, rooted at the host,
/// or relative to the collection (`base` is `http://host:port`, no trailing slash).
pub(crate) fn resolve_location(base: &str, location: &str) -> String {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        format!(
            "{base}{}/{location}",
            lianxiao_protocol::UPLOADS_PATH.trim_end_matches('/')
        )
    }
}

/// The server's id of an upload: the last path segment of its URL.
pub(crate) fn server_id(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned()
}

pub(crate) const MIN_CHUNK: u64 = 64 * 1024;
pub(crate) const START_CHUNK: u64 = 256 * 1024;
pub(crate) const MAX_CHUNK: u64 = if 4 * 1024 * 1024 < MAX_CHUNK_BYTES {
    4 * 1024 * 1024
} else {
    MAX_CHUNK_BYTES
};

/// How long one PATCH should take on a steady link: long enough that the request's round
/// trip is a small part of it, short enough that a drop loses little.
const STEADY_SECS: f64 = 1.5;
/// Never below this, however often the link drops: the round trips would eat the link.
const SHORTEST_SECS: f64 = 0.25;
/// A floor for the measured cost of one request beyond its bytes (round trip, server work).
const MIN_OVERHEAD_SECS: f64 = 0.005;

/// Picks chunk sizes from what the link does. A chunk should take about `STEADY_SECS` on a
/// steady link. When the link drops, each drop wastes on average half a chunk (the server
/// discards a broken chunk), while each chunk costs one request's overhead `o`; with drops
/// every `m` seconds the waste `o/T + T/(2m)` is least at `T = sqrt(2·o·m)`, so a link that
/// drops often gets shorter chunks. Sizes stay within 64 KiB..4 MiB and at most double from
/// one chunk to the next (a link's speed is learnt, not assumed).
#[derive(Debug, Clone)]
pub(crate) struct ChunkSizer {
    size: u64,
    /// Bytes per second, smoothed.
    rate: Option<f64>,
    /// Seconds one request costs beyond its bytes, smoothed.
    overhead: f64,
    /// Seconds of sending between drops, smoothed; `None` until a drop was seen.
    between_drops: Option<f64>,
    /// Seconds of sending since the last drop.
    since_drop: f64,
}

impl Default for ChunkSizer {
    fn default() -> Self {
        ChunkSizer {
            size: START_CHUNK,
            rate: None,
            overhead: MIN_OVERHEAD_SECS,
            between_drops: None,
            since_drop: 0.0,
        }
    }
}

impl ChunkSizer {
    /// The size of the next chunk when `remaining` bytes are left.
    pub(crate) fn next(&self, remaining: u64) -> u64 {
        self.size.min(remaining)
    }

    pub(crate) fn link(&self) -> super::UploadLink {
        super::UploadLink {
            next_chunk: self.size,
            bytes_per_sec: self.rate.map(|r| r as u64),
            secs_between_drops: self.between_drops,
        }
    }

    /// How long a chunk should take now, in seconds.
    pub(crate) fn target_secs(&self) -> f64 {
        match self.between_drops {
            None => STEADY_SECS,
            Some(m) => {
                // A long quiet spell counts even before the next drop.
                let m = m.max(self.since_drop);
                (2.0 * self.overhead * m)
                    .sqrt()
                    .clamp(SHORTEST_SECS, STEADY_SECS)
            }
        }
    }

    /// A chunk of `bytes` was confirmed `elapsed` after its request started.
    pub(crate) fn chunk_sent(&mut self, bytes: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(0.001);
        self.since_drop += secs;
        // A short last chunk says little about the link.
        if bytes < MIN_CHUNK / 2 {
            return;
        }
        let sample = bytes as f64 / secs;
        let rate = match self.rate {
            Some(r) => 0.5 * r + 0.5 * sample,
            None => sample,
        };
        self.rate = Some(rate);
        self.resize(Some(bytes));
    }

    /// The connection broke (or stalled) after `elapsed` of sending.
    pub(crate) fn dropped(&mut self, elapsed: Duration) {
        let interval = self.since_drop + elapsed.as_secs_f64();
        self.since_drop = 0.0;
        self.between_drops = Some(match self.between_drops {
            Some(m) => 0.5 * m + 0.5 * interval,
            None => interval,
        });
        self.resize(None);
    }

    /// A request without a body (HEAD) took `elapsed`: what a request costs beyond its bytes.
    pub(crate) fn round_trip(&mut self, elapsed: Duration) {
        let sample = elapsed.as_secs_f64().max(MIN_OVERHEAD_SECS);
        self.overhead = 0.5 * self.overhead + 0.5 * sample;
    }

    fn resize(&mut self, last: Option<u64>) {
        let Some(rate) = self.rate else {
            return;
        };
        let want = (rate * self.target_secs()) as u64;
        let ceiling = match last {
            Some(last) => last.max(self.size).saturating_mul(2),
            None => u64::MAX,
        };
        self.size = want.min(ceiling).clamp(MIN_CHUNK, MAX_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_pairs_without_empty_values() {
        let m = upload_metadata("submission", None, "photo", "作业.jpg", "image/jpeg");
        let pairs: Vec<&str> = m.split(',').collect();
        assert_eq!(pairs.len(), 4, "{m}");
        assert_eq!(pairs[0], "purpose c3VibWlzc2lvbg==");
        assert_eq!(pairs[1], "kind cGhvdG8=");
        let name = pairs[2].strip_prefix("name ").unwrap();
        assert_eq!(STANDARD.decode(name).unwrap(), "作业.jpg".as_bytes());
        assert!(pairs[3].starts_with("content_type "));
        let m = upload_metadata("submission", Some("hw1"), "photo", "a", "b");
        assert!(m.contains("homework_id aHcx"), "{m}");
    }

    #[test]
    fn checksum_is_named_and_base64() {
        let h = checksum_header(&sha256(b"abc"));
        assert_eq!(h, "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    }

    #[test]
    fn locations_resolve_and_name_the_upload() {
        let base = "http://h:1";
        assert_eq!(
            resolve_location(base, "/v1/uploads/abc"),
            "http://h:1/v1/uploads/abc"
        );
        assert_eq!(
            resolve_location(base, "http://other/v1/uploads/abc"),
            "http://other/v1/uploads/abc"
        );
        assert_eq!(resolve_location(base, "abc"), "http://h:1/v1/uploads/abc");
        assert_eq!(server_id("http://h:1/v1/uploads/abc"), "abc");
        assert_eq!(server_id("http://h:1/v1/uploads/abc/?x=1"), "abc");
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn chunks_start_small_and_grow_at_most_twofold_toward_the_steady_duration() {
        let mut s = ChunkSizer::default();
        assert_eq!(s.next(u64::MAX), START_CHUNK);
        assert_eq!(s.next(1000), 1000);
        // A 10 Mbit/s link: 1.25 MB/s.
        let rate = 1_250_000.0;
        let mut sizes = vec![];
        for _ in 0..8 {
            let size = s.next(u64::MAX);
            sizes.push(size);
            s.chunk_sent(size, secs(size as f64 / rate));
        }
        assert_eq!(sizes[1], 2 * START_CHUNK, "{sizes:?}");
        assert_eq!(sizes[2], 4 * START_CHUNK, "{sizes:?}");
        let last = *sizes.last().unwrap() as f64 / rate;
        assert!((1.4..=1.6).contains(&last), "{sizes:?}: {last}s");
    }

    #[test]
    fn chunks_stay_within_bounds() {
        let mut s = ChunkSizer::default();
        for _ in 0..20 {
            // 1 Gbit/s.
            let size = s.next(u64::MAX);
            s.chunk_sent(size, secs(size as f64 / 125_000_000.0));
        }
        assert_eq!(s.next(u64::MAX), MAX_CHUNK);
        for _ in 0..20 {
            // 64 kbit/s.
            let size = s.next(u64::MAX);
            s.chunk_sent(size, secs(size as f64 / 8_000.0));
        }
        assert_eq!(s.next(u64::MAX), MIN_CHUNK);
    }

    #[test]
    fn a_link_that_drops_often_gets_shorter_chunks() {
        let rate = 1_250_000.0;
        let mut s = ChunkSizer::default();
        for _ in 0..8 {
            let size = s.next(u64::MAX);
            s.chunk_sent(size, secs(size as f64 / rate));
        }
        let steady = s.next(u64::MAX);
        s.round_trip(secs(0.01));
        // Drops every 5 s of sending.
        for _ in 0..4 {
            s.dropped(secs(0.5));
            let mut spent = 0.5;
            while spent < 5.0 {
                let size = s.next(u64::MAX);
                let t = size as f64 / rate;
                s.chunk_sent(size, secs(t));
                spent += t;
            }
        }
        s.dropped(secs(0.2));
        let dropping = s.next(u64::MAX);
        let t = dropping as f64 / rate;
        assert!(dropping < steady / 3, "{dropping} vs {steady}");
        assert!((0.25..=0.5).contains(&t), "{t}s");
        // A long quiet spell brings the steady size back.
        for _ in 0..300 {
            let size = s.next(u64::MAX);
            s.chunk_sent(size, secs(size as f64 / rate));
        }
        assert_eq!(s.next(u64::MAX), steady);
    }
}
