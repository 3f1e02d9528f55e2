//! Running a child process that must not hang, flood or outlive its caller.

use crate::MediaError;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// What a finished child left behind.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The start of standard error (at most the cap given to [`run`]), lossily decoded.
    pub stderr: String,
}

/// Runs `cmd` with no standard input, standard output read up to
/// `max_stdout` bytes and the first `max_stderr` bytes of standard error kept.
///
/// The child is killed when it writes more than `max_stdout` bytes
/// ([`MediaError::OutputTooLarge`]), when `deadline` passes
/// ([`MediaError::Timeout`]), and when the returned future is dropped
/// (`kill_on_drop`). A program that cannot be started because it does not
/// exist or may not be executed is [`MediaError::FfmpegMissing`].
pub(crate) async fn run(
    mut cmd: Command,
    deadline: Duration,
    max_stdout: usize,
    max_stderr: usize,
) -> Result<Finished, MediaError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => MediaError::FfmpegMissing,
        _ => MediaError::Io(e),
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let outcome = tokio::time::timeout(deadline, async {
        // Both pipes at once: a child blocked writing to a full stderr pipe
        // would never finish its stdout.
        let (stdout, stderr) = tokio::try_join!(
            read_capped(stdout, max_stdout),
            read_head(stderr, max_stderr)
        )?;
        let status = child.wait().await?;
        Ok::<_, MediaError>(Finished {
            status,
            stdout,
            stderr,
        })
    })
    .await;
    match outcome {
        Ok(Ok(finished)) => Ok(finished),
        Ok(Err(e)) => {
            // Kill now rather than at drop, so the child stops writing at once.
            let _ = child.start_kill();
            Err(e)
        }
        Err(_elapsed) => {
            let _ = child.start_kill();
            Err(MediaError::Timeout)
        }
    }
}

/// Everything `pipe` gives until end of file, or `OutputTooLarge` as soon as
/// it passes `max` bytes.
async fn read_capped(
    pipe: Option<impl AsyncRead + Unpin>,
    max: usize,
) -> Result<Vec<u8>, MediaError> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut buf = Vec::new();
    // One byte past the cap tells "exactly max" from "more than max".
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    pipe.take(limit).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(MediaError::OutputTooLarge);
    }
    Ok(buf)
}

/// The first `max` bytes of `pipe`; the rest is read and thrown away so the
/// child never blocks on a full pipe.
async fn read_head(pipe: Option<impl AsyncRead + Unpin>, max: usize) -> Result<String, MediaError> {
    let Some(mut pipe) = pipe else {
        return Ok(String::new());
    };
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX);
    (&mut pipe).take(limit).read_to_end(&mut buf).await?;
    tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    #[tokio::test]
    async fn collects_both_pipes() {
        let done = run(
            sh("printf out; printf err >&2; exit 3"),
            Duration::from_secs(10),
            3,
            100,
        )
        .await
        .unwrap();
        assert_eq!(done.stdout, b"out");
        assert_eq!(done.stderr, "err");
        assert_eq!(done.status.code(), Some(3));
    }

    #[tokio::test]
    async fn stderr_is_bounded_but_drained() {
        // 1 MiB of stderr: more than a pipe holds, so the child only ends
        // if the rest is drained.
        let done = run(
            sh("head -c 1048576 /dev/zero | tr '\\0' x >&2; printf done"),
            Duration::from_secs(10),
            100,
            16,
        )
        .await
        .unwrap();
        assert_eq!(done.stderr, "x".repeat(16));
        assert_eq!(done.stdout, b"done");
    }

    #[tokio::test]
    async fn output_past_the_cap_kills() {
        let start = std::time::Instant::now();
        let err = run(sh("yes"), Duration::from_secs(10), 1000, 100)
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::OutputTooLarge), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn deadline_kills() {
        let start = std::time::Instant::now();
        let err = run(sh("sleep 30"), Duration::from_millis(100), 100, 100)
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::Timeout), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_program() {
        let err = run(
            Command::new("/nonexistent/roomy-no-such-program"),
            Duration::from_secs(1),
            1,
            1,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, MediaError::FfmpegMissing), "{err:?}");
    }
}
