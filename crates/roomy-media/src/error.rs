//! The one error type of the crate.

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The image is larger than the limits allow (pixel count, side length
    /// or memory), judged from its header before decoding.
    #[error("image too large: {width}x{height}")]
    TooManyPixels {
        /// Width the image declares.
        width: u32,
        /// Height the image declares.
        height: u32,
    },
    /// The bytes cannot be decoded: not a supported format, or corrupt.
    #[error("unsupported or corrupt media: {0}")]
    Unsupported(String),
    /// A frame request parameter is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The parameter's name as the client sends it (`t`, `w`, `h`, `f`).
        field: &'static str,
        /// What is wrong with it, fit to show the client.
        reason: String,
    },
    /// The ffmpeg program is not installed (or not executable) where configured.
    #[error("ffmpeg is not available")]
    FfmpegMissing,
    /// The file has no video frame at the requested time: the time is past
    /// the end, or the file has no video stream.
    #[error("no frame at the requested time")]
    NoFrame,
    /// ffmpeg did not finish before its deadline and was killed.
    #[error("ffmpeg ran past its deadline")]
    Timeout,
    /// ffmpeg wrote more than the output cap and was killed.
    #[error("ffmpeg output exceeded its cap")]
    OutputTooLarge,
    /// Reading the file or talking to the child process failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
