//! File and upload refusals on the wire, tus statuses included.

use crate::error::{ApiError, ErrorCode};
use axum::http::StatusCode;
use roomy_app::FileError;
use roomy_core::FieldErrors;

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        let conflict = |code: ErrorCode, message: String| ApiError::Conflict {
            code,
            message,
            fields: FieldErrors::new(),
        };
        let unprocessable =
            |code: ErrorCode, message: String| ApiError::Unprocessable { code, message };
        let unavailable = |code: ErrorCode, message: &str| ApiError::Protocol {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            message: message.to_owned(),
        };
        match e {
            FileError::NotFound => ApiError::not_found(
                ErrorCode::FileNotFound,
                "no such file, or not shared with you",
            ),
            FileError::UploadNotFound => {
                ApiError::not_found(ErrorCode::UploadNotFound, "no such upload among yours")
            }
            FileError::UploadExpired => ApiError::gone(
                ErrorCode::UploadExpired,
                "this upload expired; start a new one",
            ),
            FileError::OffsetMismatch(at) => conflict(
                ErrorCode::OffsetMismatch,
                format!("the upload is at offset {at}"),
            ),
            FileError::Overflow(room) => ApiError::TooLarge {
                code: ErrorCode::UploadOverflow,
                message: format!("this upload has {room} bytes left; the chunk was refused"),
            },
            FileError::ChecksumMismatch => ApiError::Protocol {
                status: StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                code: ErrorCode::ChecksumMismatch,
                message: "the chunk does not match its Upload-Checksum; it was discarded".into(),
            },
            FileError::ChunkIncomplete => ApiError::BadRequest {
                code: ErrorCode::ChunkIncomplete,
                message: "the chunk was cut off before its end, so its checksum cannot be checked; it was discarded".into(),
            },
            FileError::FinishRacing => conflict(
                ErrorCode::UploadConflict,
                "another request is finishing this upload".into(),
            ),
            FileError::OffsetMoved => conflict(
                ErrorCode::UploadConflict,
                "another request moved this upload; HEAD it and resume".into(),
            ),
            FileError::QuotaExceeded { used, quota } => {
                roomy_store::StoreError::QuotaExceeded { used, quota }.into()
            }
            FileError::TooManyUploads(max) => roomy_store::StoreError::TooManyUploads(max).into(),
            FileError::TooLarge(max) => ApiError::TooLarge {
                code: ErrorCode::TooLarge,
                message: format!("files may be at most {max} bytes"),
            },
            FileError::Body(message) => ApiError::BadRequest {
                code: ErrorCode::InvalidMultipart,
                message,
            },
            FileError::NoThumbnail => ApiError::not_found(
                ErrorCode::NoThumbnail,
                "this file has no thumbnail (yet)",
            ),
            FileError::NoCover => {
                ApiError::not_found(ErrorCode::NoCover, "this video has no cover (yet)")
            }
            FileError::NotAVideo(mime) => unprocessable(
                ErrorCode::NotAVideo,
                format!("this file is {mime}, not a video"),
            ),
            FileError::InvalidFrame { field, reason } => ApiError::field(field, reason),
            FileError::NoFrame => unprocessable(
                ErrorCode::NoFrame,
                "the video has no frame there".into(),
            ),
            FileError::UnreadableVideo => unprocessable(
                ErrorCode::UnreadableVideo,
                "ffmpeg cannot read this video".into(),
            ),
            FileError::FfmpegUnavailable => unavailable(
                ErrorCode::FfmpegUnavailable,
                "this server cannot take video frames",
            ),
            FileError::FramesBusy => unavailable(
                ErrorCode::FramesBusy,
                "too many frames are being taken; try again",
            ),
            FileError::Store(e) => e.into(),
            e @ (FileError::Blob(_)
            | FileError::Spool(_)
            | FileError::Io(_)
            | FileError::Media(_)
            | FileError::Task(_)) => ApiError::internal(e),
        }
    }
}
