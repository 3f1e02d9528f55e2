//! Video cover frames: one frame of a stored video, taken by ffmpeg.

use crate::MediaError;
use crate::process::{self, Finished};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The latest time a frame may be asked for: 24 hours, in milliseconds.
pub const MAX_FRAME_AT_MS: u64 = 24 * 60 * 60 * 1000;

/// The largest width or height a frame may be asked for (4K UHD).
pub const MAX_FRAME_SIDE: u32 = 3840;

/// The only demuxers ffmpeg may use: common video containers (names as
/// `ffmpeg -demuxers` lists them; a demuxer is allowed when any of its
/// comma-separated names is here). Playlist and concat demuxers (hls,
/// concat, image2...) would open other files the upload names; they are not
/// on the list.
const VIDEO_DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,ogg";

/// How much of ffmpeg's standard error is kept for the error message.
const STDERR_CAP: usize = 4096;

/// The image format of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FrameFormat {
    /// Lossless, larger.
    Png,
    /// JPEG: the default, a fraction of the size.
    #[default]
    Jpg,
}

impl FrameFormat {
    /// Parses `png`, `jpg` or `jpeg` (any case).
    pub fn parse(raw: &str) -> Result<Self, MediaError> {
        if raw.eq_ignore_ascii_case("png") {
            Ok(Self::Png)
        } else if raw.eq_ignore_ascii_case("jpg") || raw.eq_ignore_ascii_case("jpeg") {
            Ok(Self::Jpg)
        } else {
            Err(invalid("f", "must be png, jpg or jpeg"))
        }
    }

    /// The content type of frames in this format.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpg => "image/jpeg",
        }
    }

    /// The usual file extension, without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpg => "jpg",
        }
    }

    /// ffmpeg's encoder for the format.
    fn codec(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpg => "mjpeg",
        }
    }
}

/// Which frame to take and how to shape it.
///
/// Build it with [`parse`](Self::parse) from query parameters, or directly
/// and check it with [`validate`](Self::validate); [`Ffmpeg::frame`]
/// validates it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameRequest {
    /// Where in the video, in milliseconds from the start; at most [`MAX_FRAME_AT_MS`].
    pub at_ms: u64,
    /// The frame's width in 1..=[`MAX_FRAME_SIDE`]. Alone, the height follows
    /// the aspect ratio; with `height`, the frame is stretched to both.
    pub width: Option<u32>,
    /// The frame's height in 1..=[`MAX_FRAME_SIDE`], like `width`.
    pub height: Option<u32>,
    /// The image format.
    pub format: FrameFormat,
}

impl FrameRequest {
    /// Parses the query parameters `t` (milliseconds), `w`, `h` (pixels) and
    /// `f` (`png`, `jpg`, `jpeg`). Absent ones take the defaults: the first
    /// frame, the video's own size, JPEG. Numbers are plain decimal digits.
    pub fn parse(
        t: Option<&str>,
        w: Option<&str>,
        h: Option<&str>,
        f: Option<&str>,
    ) -> Result<Self, MediaError> {
        let req = Self {
            at_ms: t.map(|t| digits("t", t)).transpose()?.unwrap_or(0),
            width: w.map(|w| side("w", w)).transpose()?,
            height: h.map(|h| side("h", h)).transpose()?,
            format: f.map(FrameFormat::parse).transpose()?.unwrap_or_default(),
        };
        req.validate()?;
        Ok(req)
    }

    /// Checks the ranges: `at_ms` ≤ 24 h, `width` and `height` in 1..=3840.
    pub fn validate(&self) -> Result<(), MediaError> {
        if self.at_ms > MAX_FRAME_AT_MS {
            return Err(invalid(
                "t",
                format!("must be at most {MAX_FRAME_AT_MS} ms"),
            ));
        }
        for (field, value) in [("w", self.width), ("h", self.height)] {
            if value.is_some_and(|v| !(1..=MAX_FRAME_SIDE).contains(&v)) {
                return Err(invalid(field, format!("must be 1 to {MAX_FRAME_SIDE}")));
            }
        }
        Ok(())
    }

    /// The `-ss` argument: seconds with millisecond fraction.
    fn seek(&self) -> String {
        format!("{}.{:03}", self.at_ms / 1000, self.at_ms % 1000)
    }

    /// The `scale` filter for the requested size, if any (`-2`: keep the
    /// aspect ratio, rounded to an even number as video encoders like).
    fn scale(&self) -> Option<String> {
        match (self.width, self.height) {
            (Some(w), Some(h)) => Some(format!("scale={w}:{h}")),
            (Some(w), None) => Some(format!("scale={w}:-2")),
            (None, Some(h)) => Some(format!("scale=-2:{h}")),
            (None, None) => None,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> MediaError {
    MediaError::InvalidRequest {
        field,
        reason: reason.into(),
    }
}

/// A non-negative decimal integer: digits only (no sign, spaces or exponent).
fn digits(field: &'static str, raw: &str) -> Result<u64, MediaError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, "must be a whole number"));
    }
    raw.parse().map_err(|_| invalid(field, "is too large"))
}

fn side(field: &'static str, raw: &str) -> Result<u32, MediaError> {
    let v = digits(field, raw)?;
    u32::try_from(v).map_err(|_| invalid(field, format!("must be 1 to {MAX_FRAME_SIDE}")))
}

/// The ffmpeg program and the bounds every run of it keeps to.
#[derive(Debug)]
pub struct Ffmpeg {
    program: PathBuf,
    deadline: Duration,
    max_output_bytes: usize,
    available: OnceCell<bool>,
}

impl Ffmpeg {
    /// `program` is a path or a bare name looked up in `PATH`; every run is
    /// killed after `deadline`, or as soon as it writes more than
    /// `max_output_bytes`.
    pub fn new(program: PathBuf, deadline: Duration, max_output_bytes: usize) -> Self {
        Self {
            program,
            deadline,
            max_output_bytes,
            available: OnceCell::new(),
        }
    }

    /// Whether the program runs at all (`ffmpeg -version` succeeds).
    ///
    /// Asked once, then remembered: installing ffmpeg later takes a restart.
    /// The server runs without ffmpeg; videos then have no cover.
    pub async fn available(&self) -> bool {
        *self
            .available
            .get_or_init(|| async {
                let mut cmd = self.command();
                cmd.arg("-version");
                // -version prints a few KiB of build configuration.
                let done = process::run(cmd, self.deadline, 64 * 1024, STDERR_CAP).await;
                matches!(done, Ok(Finished { status, .. }) if status.success())
            })
            .await
    }

    /// One frame of a local video file the server stored; never a URL.
    ///
    /// `input` is made absolute and handed to ffmpeg as `file:<path>`, so no
    /// part of it is read as another protocol; ffmpeg may open only local
    /// files (`-protocol_whitelist file`) through the demuxers of common video
    /// containers, so a playlist or concat file cannot make it read anything
    /// else. Errors: [`MediaError::NoFrame`] when the time is past the end or
    /// the file has no video stream, [`MediaError::Unsupported`] when ffmpeg
    /// cannot read it (the message has the input path replaced by `input`),
    /// [`MediaError::Timeout`], [`MediaError::OutputTooLarge`],
    /// [`MediaError::FfmpegMissing`].
    pub async fn frame(&self, input: &Path, req: &FrameRequest) -> Result<Vec<u8>, MediaError> {
        req.validate()?;
        let input = std::path::absolute(input)?;
        // Answer "no such file" as such, not as whatever ffmpeg would print.
        if !tokio::fs::metadata(&input).await?.is_file() {
            return Err(MediaError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let mut cmd = self.command();
        cmd.args(frame_args(&input, req));
        let done = process::run(cmd, self.deadline, self.max_output_bytes, STDERR_CAP).await?;
        if !done.status.success() {
            return Err(failure(&done, &input));
        }
        if done.stdout.is_empty() {
            // ffmpeg succeeds with no output when the seek lands past the end.
            return Err(MediaError::NoFrame);
        }
        Ok(done.stdout)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        // FFREPORT in the server's environment would make ffmpeg write log
        // files into the working directory.
        cmd.env_remove("FFREPORT");
        cmd
    }
}

/// ffmpeg's arguments for one frame of `input` (absolute) as `req` asks.
fn frame_args(input: &Path, req: &FrameRequest) -> Vec<OsString> {
    let mut file = OsString::from("file:");
    file.push(input);
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        // Input options: they must come before -i.
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        VIDEO_DEMUXERS,
        "-ss",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(req.seek().into());
    args.push("-i".into());
    args.push(file);
    args.extend(["-map", "0:v:0", "-frames:v", "1"].map(OsString::from));
    if let Some(scale) = req.scale() {
        args.extend(["-vf".into(), scale.into()]);
    }
    if req.format == FrameFormat::Jpg {
        // mjpeg's default quantiser gives visibly blocky covers.
        args.extend(["-q:v", "3"].map(OsString::from));
    }
    args.extend(["-f", "image2pipe", "-c:v", req.format.codec(), "pipe:1"].map(OsString::from));
    args
}

/// The error for a failed ffmpeg run.
fn failure(done: &Finished, input: &Path) -> MediaError {
    let stderr = &done.stderr;
    // ffmpeg's words when the input has no video stream to map.
    if stderr.contains("matches no streams") || stderr.contains("does not contain any stream") {
        return MediaError::NoFrame;
    }
    // ffmpeg names the input in its messages; the path is the server's business.
    let mut file = String::from("file:");
    file.push_str(&input.to_string_lossy());
    let message = stderr
        .replace(&file, "input")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if message.is_empty() {
        MediaError::Unsupported(format!("ffmpeg failed ({})", done.status))
    } else {
        MediaError::Unsupported(message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;
    use std::sync::Once;

    fn field_of(err: MediaError) -> &'static str {
        match err {
            MediaError::InvalidRequest { field, .. } => field,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn parse_defaults_and_values() {
        assert_eq!(
            FrameRequest::parse(None, None, None, None).unwrap(),
            FrameRequest::default()
        );
        let req = FrameRequest::parse(Some("1500"), Some("320"), None, Some("PNG")).unwrap();
        assert_eq!(
            req,
            FrameRequest {
                at_ms: 1500,
                width: Some(320),
                height: None,
                format: FrameFormat::Png
            }
        );
        let req =
            FrameRequest::parse(Some("86400000"), Some("3840"), Some("1"), Some("jpeg")).unwrap();
        assert_eq!(
            (req.at_ms, req.width, req.height, req.format),
            (86_400_000, Some(3840), Some(1), FrameFormat::Jpg)
        );
    }

    #[test]
    fn parse_rejects_out_of_range_and_malformed() {
        let t = |v| field_of(FrameRequest::parse(Some(v), None, None, None).unwrap_err());
        for bad in [
            "86400001",
            "-1",
            "+5",
            " 5",
            "1.5",
            "1e3",
            "",
            "99999999999999999999999",
        ] {
            assert_eq!(t(bad), "t", "{bad:?}");
        }
        let w = |v| field_of(FrameRequest::parse(None, Some(v), None, None).unwrap_err());
        for bad in ["0", "3841", "abc", "", "4294967296"] {
            assert_eq!(w(bad), "w", "{bad:?}");
        }
        assert_eq!(
            field_of(FrameRequest::parse(None, None, Some("0"), None).unwrap_err()),
            "h"
        );
        for bad in ["gif", "", "png "] {
            assert_eq!(
                field_of(FrameRequest::parse(None, None, None, Some(bad)).unwrap_err()),
                "f"
            );
        }
        let built = FrameRequest {
            width: Some(0),
            ..FrameRequest::default()
        };
        assert_eq!(field_of(built.validate().unwrap_err()), "w");
    }

    #[test]
    fn arguments_keep_ffmpeg_to_local_video_files() {
        let req = FrameRequest {
            at_ms: 1_005,
            width: Some(200),
            height: None,
            format: FrameFormat::Png,
        };
        let args: Vec<String> = frame_args(Path::new("/data/media/-x.mp4"), &req)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let at = |s: &str| args.iter().position(|a| a == s).unwrap();
        let i = at("-i");
        assert_eq!(args[i + 1], "file:/data/media/-x.mp4");
        assert!(at("-protocol_whitelist") < i && args[at("-protocol_whitelist") + 1] == "file");
        assert!(at("-format_whitelist") < i && args[at("-format_whitelist") + 1] == VIDEO_DEMUXERS);
        assert!(at("-ss") < i && args[at("-ss") + 1] == "1.005");
        assert!(at("-nostdin") < i);
        assert_eq!(args[at("-vf") + 1], "scale=200:-2");
        assert_eq!(args[at("-c:v") + 1], "png");
        assert_eq!(args.last().unwrap(), "pipe:1");
        assert!(
            !VIDEO_DEMUXERS
                .split(',')
                .any(|d| ["hls", "concat", "image2", "lavfi"].contains(&d))
        );

        let scale = |w, h| {
            FrameRequest {
                width: w,
                height: h,
                ..FrameRequest::default()
            }
            .scale()
        };
        assert_eq!(scale(None, Some(90)).unwrap(), "scale=-2:90");
        assert_eq!(scale(Some(160), Some(90)).unwrap(), "scale=160:90");
        assert_eq!(scale(None, None), None);
        assert_eq!(
            FrameRequest {
                at_ms: 7,
                ..FrameRequest::default()
            }
            .seek(),
            "0.007"
        );
    }

    // ------------------------------------------------------------ with ffmpeg

    const REQUIRE_VAR: &str = "ROOMY_TEST_REQUIRE_SERVICES";
    static SKIP_NOTICE: Once = Once::new();

    /// The ffmpeg on `PATH`, or `None` (skip) when there is none.
    fn ffmpeg_or_skip() -> Option<Ffmpeg> {
        let found = std::process::Command::new("ffmpeg")
            .arg("-version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(Ffmpeg::new(
                "ffmpeg".into(),
                Duration::from_secs(30),
                16 * 1024 * 1024,
            ));
        }
        if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
            panic!("ffmpeg is not on PATH but {REQUIRE_VAR}=1: the ffmpeg tests must run");
        }
        SKIP_NOTICE.call_once(|| {
            // Straight to the terminal: the test harness captures eprintln!.
            let _ = writeln!(
                std::io::stderr(),
                "note: ffmpeg tests skipped (ffmpeg not found)"
            );
        });
        None
    }

    /// A 2-second 320×240 test-pattern video, made by ffmpeg itself.
    fn sample_video(dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let path = dir.path().join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=duration=2:size=320x240:rate=10")
            .args(["-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    fn req(
        at_ms: u64,
        width: Option<u32>,
        height: Option<u32>,
        format: FrameFormat,
    ) -> FrameRequest {
        FrameRequest {
            at_ms,
            width,
            height,
            format,
        }
    }

    #[tokio::test]
    async fn frames_have_the_requested_size_and_format() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        assert!(ff.available().await);
        let dir = tempfile::tempdir().unwrap();
        let video = sample_video(&dir, "x.mp4");
        let cases = [
            (
                req(500, Some(160), None, FrameFormat::Png),
                image::ImageFormat::Png,
                (160, 120),
            ),
            (
                req(500, Some(160), None, FrameFormat::Jpg),
                image::ImageFormat::Jpeg,
                (160, 120),
            ),
            (
                req(500, Some(100), Some(50), FrameFormat::Jpg),
                image::ImageFormat::Jpeg,
                (100, 50),
            ),
            (
                req(500, None, Some(60), FrameFormat::Png),
                image::ImageFormat::Png,
                (80, 60),
            ),
            (
                req(0, None, None, FrameFormat::Png),
                image::ImageFormat::Png,
                (320, 240),
            ),
        ];
        for (r, format, size) in cases {
            let bytes = ff.frame(&video, &r).await.unwrap();
            assert_eq!(image::guess_format(&bytes).unwrap(), format, "{r:?}");
            let img = image::load_from_memory(&bytes).unwrap();
            assert_eq!((img.width(), img.height()), size, "{r:?}");
        }
    }

    #[tokio::test]
    async fn a_name_that_looks_like_an_option_or_a_url() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let video = sample_video(&dir, "-i http:x.mkv");
        let bytes = ff
            .frame(&video, &req(100, Some(32), None, FrameFormat::Png))
            .await
            .unwrap();
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 32);
    }

    #[tokio::test]
    async fn past_the_end_is_no_frame() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let video = sample_video(&dir, "x.mp4");
        let err = ff
            .frame(&video, &req(5_000, None, None, FrameFormat::Png))
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::NoFrame), "{err:?}");
    }

    #[tokio::test]
    async fn non_videos_fail_quickly() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("image.mp4");
        image::RgbImage::new(8, 8)
            .save_with_format(&png, image::ImageFormat::Png)
            .unwrap();
        let text = dir.path().join("notes.mp4");
        std::fs::write(&text, "just some text\n").unwrap();
        // A concat list naming the real video: reading it would open another file.
        sample_video(&dir, "real.mp4");
        let concat = dir.path().join("list.mp4");
        std::fs::write(&concat, "ffconcat version 1.0\nfile real.mp4\n").unwrap();
        let playlist = dir.path().join("list.m3u8");
        std::fs::write(
            &playlist,
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nreal.mp4\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        for path in [&png, &text, &concat, &playlist] {
            let start = std::time::Instant::now();
            let err = ff.frame(path, &FrameRequest::default()).await.unwrap_err();
            assert!(
                matches!(err, MediaError::Unsupported(_) | MediaError::NoFrame),
                "{path:?}: {err:?}"
            );
            assert!(start.elapsed() < Duration::from_secs(5), "{path:?}");
            if let MediaError::Unsupported(message) = err {
                assert!(!message.contains(dir.path().to_str().unwrap()), "{message}");
            }
        }
    }

    #[tokio::test]
    async fn audio_only_is_no_frame() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let audio = dir.path().join("a.ogg");
        let status = std::process::Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=duration=1",
            ])
            .arg(&audio)
            .status()
            .unwrap();
        assert!(status.success());
        let err = ff
            .frame(&audio, &FrameRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::NoFrame), "{err:?}");
    }

    #[tokio::test]
    async fn deadline_and_output_cap() {
        let Some(_) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let video = sample_video(&dir, "x.mp4");
        let hasty = Ffmpeg::new("ffmpeg".into(), Duration::from_millis(1), 16 * 1024 * 1024);
        let err = hasty
            .frame(&video, &FrameRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::Timeout), "{err:?}");
        let cramped = Ffmpeg::new("ffmpeg".into(), Duration::from_secs(30), 100);
        let err = cramped
            .frame(&video, &req(0, None, None, FrameFormat::Png))
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::OutputTooLarge), "{err:?}");
    }

    #[tokio::test]
    async fn missing_input_is_io() {
        let Some(ff) = ffmpeg_or_skip() else { return };
        let dir = tempfile::tempdir().unwrap();
        let err = ff
            .frame(&dir.path().join("nope.mp4"), &FrameRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, MediaError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        let err = ff
            .frame(dir.path(), &FrameRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::Io(_)), "{err:?}");
    }

    #[test]
    fn futures_are_send_for_the_server() {
        fn send<T: Send>(_: &T) {}
        let ff = Ffmpeg::new("ffmpeg".into(), Duration::from_secs(1), 1);
        let req = FrameRequest::default();
        send(&ff.available());
        send(&ff.frame(Path::new("x.mp4"), &req));
    }

    // Needs no ffmpeg: the point is what happens without one.
    #[tokio::test]
    async fn missing_program() {
        let dir = tempfile::tempdir().unwrap();
        let ff = Ffmpeg::new(dir.path().join("no-ffmpeg"), Duration::from_secs(5), 1024);
        assert!(!ff.available().await);
        let input = dir.path().join("x.mp4");
        std::fs::write(&input, b"\x00\x00\x00\x20ftypisom").unwrap();
        let err = ff
            .frame(&input, &FrameRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::FfmpegMissing), "{err:?}");
    }
}
