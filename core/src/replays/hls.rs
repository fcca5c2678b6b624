//! The HLS side of a download: reading the server's media playlist (video on demand, signed
//! URIs) and writing the local one that points at the files on the phone.

use m3u8_rs::MediaPlaylist;

use crate::{Error, Result};

/// The local playlist's file name inside a download's directory.
pub(crate) const LOCAL_PLAYLIST: &str = "index.m3u8";

fn unsupported(what: &str) -> Error {
    Error::Validation {
        field: Some("rendition".into()),
        message: format!("this replay cannot be downloaded: {what}"),
    }
}

/// A media playlist the downloader can copy: finished (video on demand), whole segments,
/// no encryption, no separate initialisation section.
pub(crate) fn parse(text: &[u8]) -> Result<MediaPlaylist> {
    let playlist = m3u8_rs::parse_media_playlist_res(text).map_err(|_| Error::Server {
        status: 200,
        message: "the media playlist is not valid HLS".into(),
    })?;
    if !playlist.end_list {
        return Err(unsupported("the playlist is not finished"));
    }
    for s in &playlist.segments {
        if s.key.is_some() {
            return Err(unsupported("encrypted segments"));
        }
        if s.map.is_some() || s.byte_range.is_some() {
            return Err(unsupported("segments in one file"));
        }
    }
    if playlist.segments.is_empty() {
        return Err(unsupported("the playlist has no segments"));
    }
    Ok(playlist)
}

/// A segment's URI without its signature (the query), which changes with every ticket.
fn unsigned(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// The playlist with its URIs unsigned: stored with the download, so a later read (with a
/// new signature) can tell whether it is still the same media.
pub(crate) fn shape(playlist: &MediaPlaylist) -> Result<String> {
    let mut copy = playlist.clone();
    for s in &mut copy.segments {
        s.uri = unsigned(&s.uri).to_owned();
    }
    write(&copy)
}

/// The local file of segment `seq` (counted from 0 in the playlist), keeping the extension
/// the server used so players recognise the container.
pub(crate) fn segment_file(seq: usize, uri: &str) -> String {
    let path = unsigned(uri);
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("ts");
    format!("seg_{seq:05}.{ext}")
}

/// The playlist pointing at the local files, ready for the platform player.
pub(crate) fn local_playlist(playlist: &MediaPlaylist) -> Result<String> {
    let mut copy = playlist.clone();
    for (seq, s) in copy.segments.iter_mut().enumerate() {
        s.uri = segment_file(seq, &s.uri);
    }
    copy.playlist_type = Some(m3u8_rs::MediaPlaylistType::Vod);
    write(&copy)
}

fn write(playlist: &MediaPlaylist) -> Result<String> {
    let mut out = Vec::new();
    playlist
        .write_to(&mut out)
        .map_err(|_| Error::Internal("could not write a playlist".into()))?;
    String::from_utf8(out).map_err(|_| Error::Internal("could not write a playlist".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n\
        #EXTINF:2.000000,\nseg_0.ts?u=a&exp=9&sig=ff\n\
        #EXTINF:2.000000,\nseg_1.ts?u=a&exp=9&sig=ff\n\
        #EXTINF:0.500000,\nseg_2.ts?u=a&exp=9&sig=ff\n#EXT-X-ENDLIST\n";

    #[test]
    fn the_local_playlist_points_at_local_files_and_keeps_durations() {
        let playlist = parse(SIGNED.as_bytes()).unwrap();
        let local = local_playlist(&playlist).unwrap();
        assert!(local.contains("seg_00000.ts\n"), "{local}");
        assert!(local.contains("seg_00002.ts\n"), "{local}");
        assert!(!local.contains("sig="), "{local}");
        assert!(local.contains("#EXT-X-ENDLIST"), "{local}");
        let again = parse(local.as_bytes()).unwrap();
        assert_eq!(again.segments.len(), 3);
        assert!((again.segments[2].duration - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_new_signature_is_the_same_shape_and_other_media_is_not() {
        let a = parse(SIGNED.as_bytes()).unwrap();
        let b = parse(SIGNED.replace("sig=ff", "sig=00").as_bytes()).unwrap();
        assert_eq!(shape(&a).unwrap(), shape(&b).unwrap());
        let c = parse(SIGNED.replace("0.500000", "1.500000").as_bytes()).unwrap();
        assert_ne!(shape(&a).unwrap(), shape(&c).unwrap());
    }

    #[test]
    fn only_finished_plain_playlists_are_downloaded() {
        let live = SIGNED.replace("#EXT-X-ENDLIST\n", "");
        assert!(matches!(
            parse(live.as_bytes()),
            Err(Error::Validation { .. })
        ));
        let encrypted = SIGNED.replace(
            "#EXTINF:2.000000,\nseg_0",
            "#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2.000000,\nseg_0",
        );
        assert!(matches!(
            parse(encrypted.as_bytes()),
            Err(Error::Validation { .. })
        ));
        assert!(parse(b"not a playlist").is_err());
    }

    #[test]
    fn segment_files_keep_a_sane_extension() {
        assert_eq!(segment_file(3, "seg_3.ts?u=1"), "seg_00003.ts");
        assert_eq!(segment_file(0, "a/b/part.m4s"), "seg_00000.m4s");
        assert_eq!(segment_file(1, "noext?x=1.ts"), "seg_00001.ts");
        assert_eq!(segment_file(1, "dir.v2/name"), "seg_00001.ts");
        assert_eq!(segment_file(2, "x.a/b.../"), "seg_00002.ts");
    }
}
