//! Client-supplied file names, made safe to store, show and send back.

use std::fmt::Write as _;

/// The longest name [`sanitize_filename`] returns, in bytes (the common file
/// system limit, so a user who saves the download keeps the whole name).
pub const MAX_FILENAME_BYTES: usize = 255;

/// What a name with nothing usable left becomes.
const FALLBACK: &str = "file";

/// The longest extension (dot included) kept when a long name is shortened.
const MAX_KEPT_EXT_BYTES: usize = 16;

/// A client-supplied file name made safe to store and show.
///
/// Strips any directory part (after the last `/` or `\`), NUL and control
/// characters, bidirectional and other invisible formatting controls (so
/// `invoice\u{202E}fdp.exe` cannot pose as a pdf), collapses runs of dots
/// (no `..` is left), drops leading dots and surrounding whitespace, and
/// limits the result to [`MAX_FILENAME_BYTES`] on a character boundary,
/// keeping a short extension. Falls back to `"file"` when nothing is left.
///
/// The server never uses the result as a path; it is only shown and put in
/// [`content_disposition`].
pub fn sanitize_filename(raw: &str) -> String {
    let visible: String = raw.chars().filter(|&c| !is_hidden_control(c)).collect();
    // Both separators: a Windows client sends `C:\Users\me\a.txt`.
    let base = visible.rsplit(['/', '\\']).next().unwrap_or_default();

    let mut name = String::with_capacity(base.len());
    for c in base.chars() {
        if !(c == '.' && name.ends_with('.')) {
            name.push(c);
        }
    }
    let name = name.trim_start_matches(|c: char| c == '.' || c.is_whitespace());
    let name = truncate_keeping_ext(name.trim_end(), MAX_FILENAME_BYTES);
    if name.is_empty() {
        FALLBACK.to_owned()
    } else {
        name
    }
}

/// Control characters and the invisible format characters that change how a
/// name reads: bidi marks, embeddings, overrides and isolates, the zero-width
/// space and word joiner, line and paragraph separators, the byte-order mark.
/// The zero-width (non-)joiners stay: emoji sequences and several scripts
/// need them.
fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Cuts `name` to at most `max` bytes on a character boundary, cutting the
/// stem rather than a short extension so the file still opens with the right
/// program.
fn truncate_keeping_ext(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_KEPT_EXT_BYTES => &name[dot..],
        _ => "",
    };
    let stem = floor_char_boundary(&name[..name.len() - ext.len()], max - ext.len());
    // A stem cut after a space or a dot would leave "name .jpg" or "name..jpg".
    let stem = stem.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{ext}")
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn floor_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `Content-Disposition` header value for a download of `name`.
///
/// `attachment` (or `inline` when `inline` is true), then `filename="…"`, an
/// ASCII fallback for old clients in which quotes, backslashes, `%`,
/// controls and non-ASCII characters are replaced by `_`, then
/// `filename*=UTF-8''…`, the exact name percent-encoded (RFC 5987/8187),
/// which every current browser prefers. Pass a name from
/// [`sanitize_filename`]; whatever `name` holds, the value is one valid
/// header line.
pub fn content_disposition(name: &str, inline: bool) -> String {
    let disposition = if inline { "inline" } else { "attachment" };
    // `%` too: some clients percent-decode the plain parameter (RFC 6266 appendix D).
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if is_attr_char(b) {
            encoded.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// RFC 8187 `attr-char`: what may stand unencoded in an extended parameter.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn directory_parts_are_dropped() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("..\\..\\win.ini"), "win.ini");
        assert_eq!(sanitize_filename("/abs/path.txt"), "path.txt");
        assert_eq!(sanitize_filename("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_filename("%2e%2e/x"), "x");
        assert_eq!(sanitize_filename("dir/"), "file");
    }

    #[test]
    fn dots_never_form_dot_dot() {
        assert_eq!(sanitize_filename("...."), "file");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename(".bashrc"), "bashrc");
        assert_eq!(sanitize_filename(". . .hidden"), "hidden");
        assert_eq!(sanitize_filename("a..b...txt"), "a.b.txt");
        assert!(!sanitize_filename("x.\u{202E}.y").contains(".."));
    }

    #[test]
    fn controls_are_removed() {
        assert_eq!(sanitize_filename("a\0b.txt"), "ab.txt");
        assert_eq!(sanitize_filename("line\r\nbreak\t.txt"), "linebreak.txt");
        assert_eq!(sanitize_filename("bell\u{7}\u{9b}.txt"), "bell.txt");
        // "invoice<RLO>fdp.exe" displays as "invoiceexe.pdf".
        assert_eq!(
            sanitize_filename("invoice\u{202E}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(
            sanitize_filename("\u{2066}a\u{2069}\u{200B}b\u{200F}\u{FEFF}.png"),
            "ab.png"
        );
        // The joiner inside an emoji sequence is part of the name.
        assert_eq!(sanitize_filename("👩\u{200D}💻.png"), "👩\u{200D}💻.png");
    }

    #[test]
    fn blank_names_fall_back() {
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("   "), "file");
        assert_eq!(sanitize_filename("\0\u{202E}"), "file");
        assert_eq!(sanitize_filename("  spaced name.txt  "), "spaced name.txt");
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.jpeg", "日本語".repeat(100));
        let name = sanitize_filename(&long);
        assert!(name.len() <= MAX_FILENAME_BYTES, "{}", name.len());
        assert!(
            name.ends_with("語.jpeg") || name.ends_with("本.jpeg") || name.ends_with("日.jpeg")
        );
        // 3-byte characters: 250 bytes of stem hold 83 of them.
        assert_eq!(name.len(), 83 * 3 + ".jpeg".len());

        let no_ext = "é".repeat(200);
        let name = sanitize_filename(&no_ext);
        assert_eq!(name, "é".repeat(127));

        // A long "extension" is just more name.
        let long_ext = format!("a.{}", "b".repeat(300));
        assert_eq!(sanitize_filename(&long_ext).len(), MAX_FILENAME_BYTES);

        // A cut right after a dot must not make "..".
        let dotted = format!("{}.{}.png", "a".repeat(250), "b".repeat(10));
        let name = sanitize_filename(&dotted);
        assert_eq!(name, format!("{}.png", "a".repeat(250)));

        // Exactly at the limit: untouched.
        let exact = "x".repeat(MAX_FILENAME_BYTES);
        assert_eq!(sanitize_filename(&exact), exact);
    }

    #[test]
    fn content_disposition_escapes() {
        assert_eq!(
            content_disposition("report.pdf", false),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        assert_eq!(
            content_disposition("a \"quoted\" \\name\\.txt", true),
            "inline; filename=\"a _quoted_ _name_.txt\"; \
             filename*=UTF-8''a%20%22quoted%22%20%5Cname%5C.txt"
        );
        assert_eq!(
            content_disposition("naïve 日本.png", false),
            "attachment; filename=\"na_ve __.png\"; \
             filename*=UTF-8''na%C3%AFve%20%E6%97%A5%E6%9C%AC.png"
        );
        assert_eq!(
            content_disposition("100%25;x\r\ny.txt", false),
            "attachment; filename=\"100_25;x__y.txt\"; filename*=UTF-8''100%2525%3Bx%0D%0Ay.txt"
        );
    }
}
