//! Content sniffing: what an upload is, judged from its first bytes.

use infer::MatcherType;

/// The content type judged from the first bytes (a declared type is never
/// trusted). [`sniff`] needs at most this many bytes and ignores the rest.
pub const SNIFF_LEN: usize = 8192;

/// The broad kind of an upload, which decides what the server may do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An image [`thumbnail`](crate::thumbnail) can decode: png, jpeg, gif or webp.
    Image,
    /// A video container; [`Ffmpeg::frame`](crate::Ffmpeg::frame) may find a cover in it.
    Video,
    /// An audio file.
    Audio,
    /// Anything else, including images we do not decode (bmp, tiff, heif...).
    Other,
}

/// The verdict of [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sniffed {
    /// The content type to store and serve. Never `text/html`,
    /// `image/svg+xml` or any other type a browser would run scripts in.
    pub mime: &'static str,
    /// The usual extension for that type, without the dot; `None` when unknown.
    pub ext: Option<&'static str>,
    /// The broad kind.
    pub kind: MediaKind,
}

/// What unknown binary content is served as.
const UNKNOWN: Sniffed = Sniffed {
    mime: "application/octet-stream",
    ext: None,
    kind: MediaKind::Other,
};

const TEXT: Sniffed = Sniffed {
    mime: "text/plain",
    ext: Some("txt"),
    kind: MediaKind::Other,
};

/// The image types `thumbnail` can decode (the workspace's `image` features).
const THUMBNAILABLE: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Judges what `head`, the first bytes of an upload, is.
///
/// Pass the first [`SNIFF_LEN`] bytes (or the whole file when shorter);
/// anything beyond is ignored, so the verdict does not depend on how much the
/// caller happened to read. Markup (HTML, XML, SVG) and scripts come back as
/// `text/plain` when they are UTF-8, otherwise as `application/octet-stream`.
pub fn sniff(head: &[u8]) -> Sniffed {
    let truncated = head.len() >= SNIFF_LEN;
    let head = &head[..head.len().min(SNIFF_LEN)];
    if let Some(found) = sniff_extra(head) {
        return found;
    }
    match infer::get(head) {
        // infer's text matchers are html, xml and shell scripts: exactly the
        // types that must never reach a browser as themselves.
        Some(t) if t.matcher_type() == MatcherType::Text => text_or_unknown(head, truncated),
        Some(t) => {
            let kind = match t.matcher_type() {
                MatcherType::Image if THUMBNAILABLE.contains(&t.mime_type()) => MediaKind::Image,
                MatcherType::Video => MediaKind::Video,
                MatcherType::Audio => MediaKind::Audio,
                _ => MediaKind::Other,
            };
            let ext = Some(t.extension()).filter(|_| t.mime_type() != UNKNOWN.mime);
            Sniffed {
                mime: t.mime_type(),
                ext,
                kind,
            }
        }
        None => text_or_unknown(head, truncated),
    }
}

/// Video containers infer misjudges or misses, as phones and browsers make them.
fn sniff_extra(head: &[u8]) -> Option<Sniffed> {
    // infer calls every Ogg file audio; a Theora stream's first packet
    // starts right after the 28-byte page header of a one-segment first page.
    if head.starts_with(b"OggS") && head.get(28..35) == Some(b"\x80theora") {
        return Some(Sniffed {
            mime: "video/ogg",
            ext: Some("ogv"),
            kind: MediaKind::Video,
        });
    }
    // 3GPP (older phones' recordings) has ISO-BMFF brands infer does not list.
    if head.get(4..8) == Some(b"ftyp") {
        match head.get(8..11) {
            Some(b"3gp") => {
                return Some(Sniffed {
                    mime: "video/3gpp",
                    ext: Some("3gp"),
                    kind: MediaKind::Video,
                });
            }
            Some(b"3g2") => {
                return Some(Sniffed {
                    mime: "video/3gpp2",
                    ext: Some("3g2"),
                    kind: MediaKind::Video,
                });
            }
            _ => {}
        }
    }
    None
}

/// `text/plain` for text-looking bytes, the unknown type otherwise.
fn text_or_unknown(head: &[u8], truncated: bool) -> Sniffed {
    if looks_like_text(head, truncated) {
        TEXT
    } else {
        UNKNOWN
    }
}

/// Valid UTF-8 without the bytes that mark binary data.
///
/// The binary bytes are the WHATWG mime-sniffing set (NUL and the C0
/// controls other than tab, newlines, form feed and escape). When the head was
/// cut at [`SNIFF_LEN`], a character split by the cut does not count against it.
fn looks_like_text(head: &[u8], truncated: bool) -> bool {
    let is_binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F);
    if head.iter().any(is_binary) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // error_len() None: the input ended inside a character.
        Err(e) => truncated && e.error_len().is_none(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(4, 4, image::Rgba([10, 20, 30, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    fn assert_sniff(head: &[u8], mime: &str, ext: Option<&str>, kind: MediaKind) {
        let s = sniff(head);
        assert_eq!((s.mime, s.ext, s.kind), (mime, ext, kind), "{s:?}");
    }

    #[test]
    fn thumbnailable_images_are_images() {
        use image::ImageFormat::*;
        assert_sniff(&encoded(Png), "image/png", Some("png"), MediaKind::Image);
        assert_sniff(&encoded(Jpeg), "image/jpeg", Some("jpg"), MediaKind::Image);
        assert_sniff(&encoded(Gif), "image/gif", Some("gif"), MediaKind::Image);
        assert_sniff(&encoded(WebP), "image/webp", Some("webp"), MediaKind::Image);
    }

    #[test]
    fn other_images_keep_their_type_but_are_not_images() {
        let bmp = b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00";
        assert_sniff(bmp, "image/bmp", Some("bmp"), MediaKind::Other);
        let tiff = b"II\x2a\x00\x08\x00\x00\x00\x00\x00";
        assert_sniff(tiff, "image/tiff", Some("tif"), MediaKind::Other);
    }

    #[test]
    fn videos() {
        // The first box of an ffmpeg-made mp4 (brand isom).
        let mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free";
        assert_sniff(mp4, "video/mp4", Some("mp4"), MediaKind::Video);

        // EBML header with DocType "webm"; infer looks within the first 256 bytes.
        let mut webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02".to_vec();
        webm.resize(300, 0);
        assert_sniff(&webm, "video/webm", Some("webm"), MediaKind::Video);

        let threegp = b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x02\x00isom";
        assert_sniff(threegp, "video/3gpp", Some("3gp"), MediaKind::Video);

        let mut theora = b"OggS\x00\x02".to_vec();
        theora.resize(28, 0);
        theora.extend_from_slice(b"\x80theora\x03\x02\x01");
        assert_sniff(&theora, "video/ogg", Some("ogv"), MediaKind::Video);

        let mut vorbis = b"OggS\x00\x02".to_vec();
        vorbis.resize(28, 0);
        vorbis.extend_from_slice(b"\x01vorbis\x00\x00\x00\x00");
        assert_sniff(&vorbis, "audio/ogg", Some("ogg"), MediaKind::Audio);
    }

    #[test]
    fn documents_and_archives_are_other() {
        assert_sniff(
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
            "application/pdf",
            Some("pdf"),
            MediaKind::Other,
        );
        assert_sniff(
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
            "application/zip",
            Some("zip"),
            MediaKind::Other,
        );
    }

    #[test]
    fn text_is_plain_text() {
        assert_sniff(
            "hello, wörld\r\n\ttabbed\n".as_bytes(),
            "text/plain",
            Some("txt"),
            MediaKind::Other,
        );
        assert_sniff(
            b"#!/bin/sh\nrm -rf /\n",
            "text/plain",
            Some("txt"),
            MediaKind::Other,
        );
        assert_sniff(b"", "text/plain", Some("txt"), MediaKind::Other);
    }

    #[test]
    fn markup_is_never_served_as_markup() {
        let html: &[&[u8]] = &[
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
            b"  <html><body onload=alert(1)>",
            b"<script>alert(1)</script>",
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
        ];
        for head in html {
            assert_sniff(head, "text/plain", Some("txt"), MediaKind::Other);
        }
        // Markup that is not UTF-8 (Latin-1 é) is opaque bytes, still not markup.
        assert_sniff(
            b"<html><body>caf\xe9</body></html>",
            "application/octet-stream",
            None,
            MediaKind::Other,
        );
    }

    #[test]
    fn binary_is_unknown() {
        // A fixed pseudo-random sequence (xorshift), so the test is deterministic.
        let mut x: u32 = 0x9e37_79b9;
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        assert_sniff(&bytes, "application/octet-stream", None, MediaKind::Other);
        assert_sniff(
            b"abc\0def",
            "application/octet-stream",
            None,
            MediaKind::Other,
        );
        assert_sniff(
            b"abc\x01def",
            "application/octet-stream",
            None,
            MediaKind::Other,
        );
    }

    #[test]
    fn only_the_first_sniff_len_bytes_count() {
        // A character split by the cut is still text.
        let mut text = "a".repeat(SNIFF_LEN - 1).into_bytes();
        text.extend_from_slice("é and more".as_bytes());
        assert_eq!(sniff(&text).mime, "text/plain");
        // A NUL past the cut is not looked at.
        let mut late_nul = vec![b'a'; SNIFF_LEN];
        late_nul.push(0);
        assert_eq!(sniff(&late_nul).mime, "text/plain");
        // A short head ending inside a character is not valid text.
        assert_eq!(sniff(b"caf\xc3").mime, "application/octet-stream");
    }
}
