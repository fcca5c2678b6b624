//! What an uploaded file really is. The content type a client declares is never what a file
//! is served as: its first bytes are matched against known signatures (the `infer` crate)
//! and against the kind the upload says it is. A "photo" that is HTML, a script or a PDF is a
//! mismatch, refused when it is handed in; bytes nothing recognises are kept, but only ever
//! served as `application/octet-stream`, as a download.

use lianxiao_protocol::WorkKind;

/// How much of a file is read to tell what it is (the longest signature `infer` reads is
/// well inside this).
pub const SNIFF_BYTES: usize = 8192;

/// What bytes nothing recognises are served as.
pub const UNKNOWN: &str = "application/octet-stream";

/// Raster pictures a phone shows as a photo (never SVG: it is a document that runs script).
const PHOTOS: [&str; 9] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heif",
    "image/avif",
    "image/bmp",
    "image/tiff",
    "image/jxl",
];

/// Containers a voice recording comes in besides the audio formats themselves (an M4A is
/// often an MP4 by its signature, a browser's recording a WebM).
const AUDIO_CONTAINERS: [&str; 5] = [
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/mpeg",
];

/// What `head` (a file's first bytes) is, as a MIME type, when anything recognises it.
/// Markup (HTML, XML, SVG) is recognised even where `infer`'s HTML list does not name its
/// first tag: a browser told nothing would render it.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if let Some(t) = infer::get(head) {
        return Some(t.mime_type());
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = text.trim_ascii_start();
    if text.starts_with(b"<") {
        return Some("text/html");
    }
    None
}

/// The type a file of `kind` is stored and served as, or `Err(found)` when its bytes are
/// something the kind is not.
pub fn check(kind: WorkKind, head: &[u8]) -> Result<&'static str, &'static str> {
    let found = sniff(head).unwrap_or(UNKNOWN);
    if fits(kind, found) {
        Ok(found)
    } else {
        Err(found)
    }
}

/// Whether a file found to be `mime` may be an upload of `kind`. Unrecognised bytes
/// ([`UNKNOWN`]) fit: they are only ever served as a download.
pub fn fits(kind: WorkKind, mime: &str) -> bool {
    mime == UNKNOWN
        || match kind {
            WorkKind::Photo => PHOTOS.contains(&mime),
            WorkKind::Audio => mime.starts_with("audio/") || AUDIO_CONTAINERS.contains(&mime),
            WorkKind::Video => mime.starts_with("video/"),
            // A document may be anything, but is only served as what it is when that is safe
            // to show (see `served`).
            WorkKind::File | WorkKind::Text => true,
        }
}

/// What a stored file is served as: `(content type, inline)`. Only media that fits its kind
/// is shown inline; anything else is a download, and markup is never served as markup.
pub fn served(kind: WorkKind, head: &[u8]) -> (&'static str, bool) {
    match check(kind, head) {
        Ok(t)
            if PHOTOS.contains(&t)
                || t.starts_with("audio/")
                || (t.starts_with("video/") && kind != WorkKind::Photo) =>
        {
            (t, kind != WorkKind::File)
        }
        Ok("application/pdf") => ("application/pdf", false),
        _ => (UNKNOWN, false),
    }
}

/// A `Content-Disposition` value naming the file (RFC 6266, the name percent-encoded as
/// RFC 5987 says, with an ASCII fallback).
pub fn disposition(inline: bool, file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let how = if inline { "inline" } else { "attachment" };
    format!("{how}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The first [`SNIFF_BYTES`] of a file (fewer when it is shorter).
pub async fn head_of(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64).read_to_end(&mut head).await?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0";

    #[test]
    fn markup_claiming_to_be_media_is_a_mismatch() {
        let page = b"<script>fetch('/v1/me')</script>";
        for kind in [WorkKind::Photo, WorkKind::Audio, WorkKind::Video] {
            assert_eq!(check(kind, page), Err("text/html"), "{kind:?}");
            assert_eq!(
                check(kind, b"\xEF\xBB\xBF  \n<svg onload=x>"),
                Err("text/html")
            );
        }
        assert_eq!(
            check(WorkKind::Photo, b"%PDF-1.7\n"),
            Err("application/pdf")
        );
        assert_eq!(check(WorkKind::Photo, PNG), Ok("image/png"));
        assert_eq!(check(WorkKind::Photo, JPEG), Ok("image/jpeg"));
        assert_eq!(
            check(WorkKind::Audio, b"ID3\x04\0\0\0\0\0\0"),
            Ok("audio/mpeg")
        );
        assert_eq!(check(WorkKind::Photo, b"\x01\x02\x03"), Ok(UNKNOWN));
    }

    #[test]
    fn documents_are_downloads_and_markup_is_never_served_as_markup() {
        assert_eq!(served(WorkKind::File, b"<html><body>"), (UNKNOWN, false));
        assert_eq!(
            served(WorkKind::File, b"%PDF-1.7\n"),
            ("application/pdf", false)
        );
        assert_eq!(served(WorkKind::File, PNG), ("image/png", false));
        assert_eq!(served(WorkKind::Photo, PNG), ("image/png", true));
        assert_eq!(served(WorkKind::Photo, b"<script>"), (UNKNOWN, false));
        assert_eq!(served(WorkKind::Photo, b"\x01\x02"), (UNKNOWN, false));
    }

    #[test]
    fn file_names_are_quoted_safely() {
        assert_eq!(
            disposition(false, "作业\"1\".pdf"),
            "attachment; filename=\"___1_.pdf\"; \
             filename*=UTF-8''%E4%BD%9C%E4%B8%9A%221%22.pdf"
        );
        assert!(disposition(true, "a.jpg").starts_with("inline;"));
    }
}
