//! What Roomy does with uploaded bytes.
//!
//! Everything here treats the upload as hostile:
//!
//! - [`sniff`] judges the content type from the first bytes; the type a
//!   client declares is never asked. It never answers `text/html` or
//!   `image/svg+xml`, so a stored file can never be rendered as a page.
//! - [`sanitize_filename`] turns a client's file name into something to show
//!   and to put in [`content_disposition`]; it is never used as a path.
//! - [`thumbnail`] refuses decompression bombs from the image header, before
//!   any pixel is decoded, and decodes only png, jpeg, gif and webp.
//! - [`Ffmpeg::frame`] takes one frame of a stored video in a child process
//!   with a deadline, bounded output, and input restricted to local files of
//!   common video containers.
//!
//! The crate knows nothing of HTTP, storage or the rest of Roomy.

mod cover;
mod error;
mod name;
mod process;
mod sniff;
mod thumb;

pub use cover::{Ffmpeg, FrameFormat, FrameRequest, MAX_FRAME_AT_MS, MAX_FRAME_SIDE};
pub use error::MediaError;
pub use name::{MAX_FILENAME_BYTES, content_disposition, sanitize_filename};
pub use sniff::{MediaKind, SNIFF_LEN, Sniffed, sniff};
pub use thumb::{MAX_SOURCE_SIDE, ThumbLimits, Thumbnail, thumbnail};
