//! Image thumbnails, with the decompression-bomb guard in front of the decoder.

use crate::MediaError;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, ImageReader, Limits,
    metadata::Orientation,
};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// The longest side of a source image [`thumbnail`] accepts, whatever the
/// pixel budget: the largest jpeg and gif can hold, far beyond any camera,
/// and it stops a 1-pixel-high strip from passing as a small image.
pub const MAX_SOURCE_SIDE: u32 = 65_535;

/// JPEG quality of thumbnails: small files without visible blocking at 320 px.
const JPEG_QUALITY: u8 = 80;

/// How large an image [`thumbnail`] accepts and how large a thumbnail it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbLimits {
    /// The thumbnail fits in `max_side` × `max_side`.
    pub max_side: u32,
    /// Images with more pixels than this (width × height, as the header
    /// declares) are refused before decoding.
    pub max_pixels: u64,
    /// The most bytes the decoder may allocate, the decoded image included.
    pub max_alloc: u64,
}

impl Default for ThumbLimits {
    /// 320 px thumbnails of images up to 32 megapixels, decoded in at most 512 MiB.
    fn default() -> Self {
        Self {
            max_side: 320,
            max_pixels: 32_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

/// An encoded thumbnail.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// `"image/jpeg"`, or `"image/png"` when the image has transparent pixels.
    pub mime: &'static str,
    /// The thumbnail's width.
    pub width: u32,
    /// The thumbnail's height.
    pub height: u32,
    /// The source image's width as displayed (after its EXIF orientation).
    pub source_width: u32,
    /// The source image's height as displayed (after its EXIF orientation).
    pub source_height: u32,
}

impl std::fmt::Debug for Thumbnail {
    // The bytes would drown everything else in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("bytes", &self.bytes.len())
            .field("mime", &self.mime)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("source_width", &self.source_width)
            .field("source_height", &self.source_height)
            .finish()
    }
}

/// Makes a thumbnail of the png, jpeg, gif or webp image at `path`.
///
/// Blocking (file reads and CPU): call it from `spawn_blocking`.
///
/// The format is judged from the content, never from the file name. The
/// header is read first and an image over `max_pixels` (or over
/// [`MAX_SOURCE_SIDE`] on a side) is refused with
/// [`MediaError::TooManyPixels`] before a single pixel is decoded; the
/// decoder then runs under `image::Limits` (sides and `max_alloc`). The
/// thumbnail keeps the aspect ratio within `max_side` × `max_side`, is never
/// larger than the source, follows the EXIF orientation, and is a JPEG
/// unless some pixel is transparent, then a PNG. Animated images give their
/// first frame.
pub fn thumbnail(path: &Path, limits: &ThumbLimits) -> Result<Thumbnail, MediaError> {
    let mut reader = ImageReader::new(BufReader::new(File::open(path)?));
    // Sides are not limited yet: the decoder would refuse with no dimensions
    // to report. max_alloc bounds the header's own buffers (png text chunks).
    reader.limits(alloc_limits(limits));
    let reader = reader.with_guessed_format()?;
    if reader.format().is_none() {
        return Err(MediaError::Unsupported(
            "not a png, jpeg, gif or webp image".into(),
        ));
    }
    let mut decoder = reader.into_decoder().map_err(decode_error)?;

    let (width, height) = decoder.dimensions();
    let too_large = || MediaError::TooManyPixels { width, height };
    if u64::from(width) * u64::from(height) > limits.max_pixels
        || width > MAX_SOURCE_SIDE
        || height > MAX_SOURCE_SIDE
    {
        return Err(too_large());
    }
    let limited = |e: ImageError| match e {
        ImageError::Limits(_) => too_large(),
        e => decode_error(e),
    };
    let mut decode_limits = alloc_limits(limits);
    decode_limits.max_image_width = Some(MAX_SOURCE_SIDE);
    decode_limits.max_image_height = Some(MAX_SOURCE_SIDE);
    // As ImageReader::decode does: the output buffer counts against max_alloc.
    decode_limits
        .reserve(decoder.total_bytes())
        .map_err(limited)?;
    decoder.set_limits(decode_limits).map_err(limited)?;

    // A broken EXIF block costs the rotation, not the thumbnail.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(limited)?;

    let swaps = swaps_axes(orientation);
    let (source_width, source_height) = if swaps {
        (height, width)
    } else {
        (width, height)
    };
    let (thumb_width, thumb_height) = fit(source_width, source_height, limits.max_side);
    let (raw_width, raw_height) = if swaps {
        (thumb_height, thumb_width)
    } else {
        (thumb_width, thumb_height)
    };
    // Resize before orienting: rotating the full-size image would need a
    // second full-size buffer.
    let mut small = if (raw_width, raw_height) == (width, height) {
        image
    } else {
        image.thumbnail_exact(raw_width, raw_height)
    };
    small.apply_orientation(orientation);

    let (bytes, mime) = encode(&small)?;
    Ok(Thumbnail {
        bytes,
        mime,
        width: small.width(),
        height: small.height(),
        source_width,
        source_height,
    })
}

fn alloc_limits(limits: &ThumbLimits) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = None;
    l.max_image_height = None;
    l.max_alloc = Some(limits.max_alloc);
    l
}

/// Whether the orientation turns the image a quarter, swapping width and height.
fn swaps_axes(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The size within `max_side` × `max_side` with the aspect ratio of
/// `width` × `height`, never larger than the source and never 0 on a side.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let max_side = max_side.max(1);
    let long = width.max(height);
    if long <= max_side {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long);
        // scaled <= max_side, so it fits in u32.
        u32::try_from(scaled).unwrap_or(max_side).max(1)
    };
    (scale(width), scale(height))
}

/// PNG when any pixel is transparent, JPEG otherwise.
fn encode(image: &DynamicImage) -> Result<(Vec<u8>, &'static str), MediaError> {
    let mut out = Vec::new();
    if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        // An alpha channel alone says nothing: screenshots are RGBA yet opaque.
        if rgba.pixels().any(|p| p[3] < u8::MAX) {
            PngEncoder::new(&mut out)
                .write_image(
                    rgba.as_raw(),
                    rgba.width(),
                    rgba.height(),
                    ExtendedColorType::Rgba8,
                )
                .map_err(decode_error)?;
            return Ok((out, "image/png"));
        }
    }
    let rgb = image.to_rgb8();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(decode_error)?;
    Ok((out, "image/jpeg"))
}

fn decode_error(e: ImageError) -> MediaError {
    match e {
        // A file cut short is a corrupt image, not a failing disk.
        ImageError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            MediaError::Io(io)
        }
        e => MediaError::Unsupported(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use image::{GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
    use std::path::PathBuf;

    fn write(
        dir: &tempfile::TempDir,
        name: &str,
        image: DynamicImage,
        format: ImageFormat,
    ) -> PathBuf {
        let path = dir.path().join(name);
        image.save_with_format(&path, format).unwrap();
        path
    }

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        })
    }

    fn decode(thumb: &Thumbnail) -> DynamicImage {
        image::load_from_memory(&thumb.bytes).unwrap()
    }

    #[test]
    fn transparent_png_stays_png() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbaImage::from_fn(800, 600, |x, _| {
            Rgba([200, 10, 10, if x < 400 { 0 } else { 255 }])
        });
        let path = write(
            &dir,
            "upload",
            DynamicImage::ImageRgba8(img),
            ImageFormat::Png,
        );
        let t = thumbnail(&path, &ThumbLimits::default()).unwrap();
        assert_eq!(t.mime, "image/png");
        assert_eq!((t.width, t.height), (320, 240));
        assert_eq!((t.source_width, t.source_height), (800, 600));
        let back = decode(&t);
        assert_eq!(back.dimensions(), (320, 240));
        assert_eq!(back.to_rgba8().get_pixel(10, 10)[3], 0);
        assert_eq!(back.to_rgba8().get_pixel(310, 10)[3], 255);
    }

    #[test]
    fn opaque_rgba_png_becomes_jpeg() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbaImage::from_pixel(640, 640, Rgba([1, 2, 3, 255]));
        let path = write(
            &dir,
            "opaque.png",
            DynamicImage::ImageRgba8(img),
            ImageFormat::Png,
        );
        let t = thumbnail(&path, &ThumbLimits::default()).unwrap();
        assert_eq!((t.mime, t.width, t.height), ("image/jpeg", 320, 320));
        assert_eq!(decode(&t).dimensions(), (320, 320));
    }

    #[test]
    fn jpeg_stays_jpeg_whatever_the_file_is_called() {
        let dir = tempfile::tempdir().unwrap();
        // The name lies; the content decides.
        let path = write(
            &dir,
            "photo.png",
            DynamicImage::ImageRgb8(gradient(1000, 500)),
            ImageFormat::Jpeg,
        );
        let t = thumbnail(&path, &ThumbLimits::default()).unwrap();
        assert_eq!((t.mime, t.width, t.height), ("image/jpeg", 320, 160));
        assert_eq!(&t.bytes[..3], b"\xff\xd8\xff");
        assert_eq!(decode(&t).dimensions(), (320, 160));
    }

    #[test]
    fn gif_and_webp_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let img = DynamicImage::ImageRgba8(RgbaImage::from_pixel(400, 100, Rgba([0, 90, 0, 255])));
        for (name, format) in [("g", ImageFormat::Gif), ("w", ImageFormat::WebP)] {
            let path = write(&dir, name, img.clone(), format);
            let t = thumbnail(&path, &ThumbLimits::default()).unwrap();
            assert_eq!(
                (t.mime, t.width, t.height),
                ("image/jpeg", 320, 80),
                "{format:?}"
            );
        }
    }

    #[test]
    fn wide_and_tall_images_keep_their_aspect() {
        let dir = tempfile::tempdir().unwrap();
        let wide = write(
            &dir,
            "wide",
            DynamicImage::ImageRgb8(gradient(3000, 100)),
            ImageFormat::Png,
        );
        let t = thumbnail(&wide, &ThumbLimits::default()).unwrap();
        assert_eq!((t.width, t.height), (320, 11));
        let strip = write(
            &dir,
            "strip",
            DynamicImage::ImageRgb8(gradient(5000, 1)),
            ImageFormat::Png,
        );
        let t = thumbnail(&strip, &ThumbLimits::default()).unwrap();
        assert_eq!((t.width, t.height), (320, 1));
        let tall = write(
            &dir,
            "tall",
            DynamicImage::ImageRgb8(gradient(90, 900)),
            ImageFormat::Png,
        );
        let t = thumbnail(&tall, &ThumbLimits::default()).unwrap();
        assert_eq!((t.width, t.height), (32, 320));
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "small",
            DynamicImage::ImageRgb8(gradient(40, 30)),
            ImageFormat::Png,
        );
        let t = thumbnail(&path, &ThumbLimits::default()).unwrap();
        assert_eq!(
            (t.width, t.height, t.source_width, t.source_height),
            (40, 30, 40, 30)
        );
        assert_eq!(decode(&t).dimensions(), (40, 30));
    }

    #[test]
    fn fit_rounds_and_never_reaches_zero() {
        assert_eq!(fit(800, 600, 320), (320, 240));
        assert_eq!(fit(320, 320, 320), (320, 320));
        assert_eq!(fit(100_000, 1, 320), (320, 1));
        assert_eq!(fit(65_535, 65_535, 320), (320, 320));
        assert_eq!(fit(10, 10, 0), (1, 1));
    }

    #[test]
    fn exif_orientation_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        // 200×100, red left half, blue right half.
        let img = RgbImage::from_fn(200, 100, |x, _| {
            if x < 100 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        // A big-endian TIFF block with one IFD entry: Orientation (0x0112) = 6,
        // "rotate 90° clockwise to display".
        let exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00";
        let path = dir.path().join("rotated.jpg");
        let mut file = std::fs::File::create(&path).unwrap();
        let mut encoder = JpegEncoder::new_with_quality(&mut file, 90);
        encoder.set_exif_metadata(exif.to_vec()).unwrap();
        encoder.encode_image(&img).unwrap();
        drop(file);

        let limits = ThumbLimits {
            max_side: 50,
            ..ThumbLimits::default()
        };
        let t = thumbnail(&path, &limits).unwrap();
        assert_eq!((t.source_width, t.source_height), (100, 200));
        assert_eq!((t.width, t.height), (25, 50));
        let back = decode(&t).to_rgb8();
        // Turned clockwise, the left (red) half is on top.
        let top = back.get_pixel(12, 5);
        let bottom = back.get_pixel(12, 45);
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");
    }

    /// A real 1×1 PNG whose header then claims `width` × `height`: the IDAT
    /// holds one pixel, so only a guard before decoding can answer quickly
    /// and without allocating width × height bytes.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        DynamicImage::ImageLuma8(image::GrayImage::new(1, 1))
            .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        // Signature (8), IHDR length (4), "IHDR" (4), width, height.
        assert_eq!(&bytes[12..16], b"IHDR");
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn pixel_bomb_is_refused_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb");
        std::fs::write(&path, png_claiming(100_000, 100_000)).unwrap();
        let start = std::time::Instant::now();
        let err = thumbnail(&path, &ThumbLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::TooManyPixels {
                    width: 100_000,
                    height: 100_000
                }
            ),
            "{err:?}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));

        // Within the pixel budget but longer than any real image on one side.
        std::fs::write(&path, png_claiming(1_000_000, 1)).unwrap();
        let err = thumbnail(&path, &ThumbLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::TooManyPixels {
                    width: 1_000_000,
                    height: 1
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn max_pixels_is_inclusive_and_max_alloc_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "p",
            DynamicImage::ImageRgb8(gradient(100, 100)),
            ImageFormat::Png,
        );
        let exact = ThumbLimits {
            max_pixels: 10_000,
            ..ThumbLimits::default()
        };
        assert!(thumbnail(&path, &exact).is_ok());
        let under = ThumbLimits {
            max_pixels: 9_999,
            ..ThumbLimits::default()
        };
        assert!(matches!(
            thumbnail(&path, &under),
            Err(MediaError::TooManyPixels {
                width: 100,
                height: 100
            })
        ));
        // 100 × 100 RGB needs 30,000 bytes.
        let tight = ThumbLimits {
            max_alloc: 20_000,
            ..ThumbLimits::default()
        };
        let err = thumbnail(&path, &tight).unwrap_err();
        assert!(matches!(err, MediaError::TooManyPixels { .. }), "{err:?}");
    }

    #[test]
    fn garbage_and_other_formats_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.png");
        std::fs::write(
            &path,
            b"this is not an image at all, whatever its name says",
        )
        .unwrap();
        let err = thumbnail(&path, &ThumbLimits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Unsupported(_)), "{err:?}");

        // A valid BMP: a format the build does not decode.
        let bmp = b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x04\x00\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00";
        std::fs::write(&path, bmp).unwrap();
        let err = thumbnail(&path, &ThumbLimits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Unsupported(_)), "{err:?}");

        // A png cut in the middle of its pixel data.
        let full = write(
            &dir,
            "full",
            DynamicImage::ImageRgb8(gradient(200, 200)),
            ImageFormat::Png,
        );
        let bytes = std::fs::read(&full).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = thumbnail(&path, &ThumbLimits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Unsupported(_)), "{err:?}");
    }

    #[test]
    fn a_missing_file_is_io() {
        let dir = tempfile::tempdir().unwrap();
        let err = thumbnail(&dir.path().join("nope"), &ThumbLimits::default()).unwrap_err();
        assert!(
            matches!(err, MediaError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
    }
}
