//! Photos are shrunk on the phone before they are sent: a 12-megapixel photo of a worksheet
//! is 4 MB, the same page at 1600 px on the long side is a few hundred KB and still legible.

use std::path::Path;

use image::{ImageFormat, ImageReader, codecs::jpeg::JpegEncoder, imageops::FilterType};

use crate::{Error, Result};

/// Longest side after downscaling, by default.
pub const DEFAULT_MAX_PHOTO_PX: u32 = 1600;
const JPEG_QUALITY: u8 = 82;

/// Writes `src` to `dest` as a JPEG whose longest side is at most `max_px`. A photo that is
/// already small enough and already a JPEG is copied as it is. Returns the bytes written.
pub fn downscale(src: &Path, dest: &Path, max_px: u32) -> Result<u64> {
    let reader = ImageReader::open(src)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| invalid(format!("cannot read the photo: {}", e.kind())))?;
    let format = reader.format();
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| invalid(format!("not a photo this app can read: {e}")))?;
    if w.max(h) <= max_px && format == Some(ImageFormat::Jpeg) {
        return std::fs::copy(src, dest).map_err(io);
    }
    let image = ImageReader::open(src)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| invalid(format!("cannot read the photo: {}", e.kind())))?
        .decode()
        .map_err(|e| invalid(format!("not a photo this app can read: {e}")))?;
    let image = if w.max(h) > max_px {
        image.resize(max_px, max_px, FilterType::Triangle)
    } else {
        image
    };
    let file = std::fs::File::create(dest).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    image
        .to_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        .map_err(|e| Error::Internal(format!("cannot encode the photo: {e}")))?;
    drop(out);
    Ok(std::fs::metadata(dest).map_err(io)?.len())
}

fn invalid(message: String) -> Error {
    Error::Validation {
        field: Some("path".into()),
        message,
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Storage(format!("cannot copy the file: {}", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        img.save(path).unwrap();
    }

    #[test]
    fn large_photo_is_shrunk_to_the_limit_and_becomes_a_jpeg() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("a.png"), dir.path().join("a.jpg"));
        write_png(&src, 3000, 1000);
        let size = downscale(&src, &dest, 1600).unwrap();
        assert!(size > 0);
        let out = ImageReader::open(&dest)
            .unwrap()
            .with_guessed_format()
            .unwrap();
        assert_eq!(out.format(), Some(ImageFormat::Jpeg));
        assert_eq!(out.into_dimensions().unwrap(), (1600, 533));
    }

    #[test]
    fn small_jpeg_is_copied_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (png, src, dest) = (
            dir.path().join("s.png"),
            dir.path().join("s.jpg"),
            dir.path().join("o.jpg"),
        );
        write_png(&png, 100, 80);
        downscale(&png, &src, 1600).unwrap();
        downscale(&src, &dest, 1600).unwrap();
        assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&dest).unwrap());
    }

    #[test]
    fn not_a_photo_is_a_validation_error() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("x.jpg");
        std::fs::write(&src, b"this is not a picture").unwrap();
        let err = downscale(&src, &dir.path().join("y.jpg"), 1600).unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    }
}
