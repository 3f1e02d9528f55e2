//! Where files live.

use std::fmt;
use std::path::PathBuf;

/// Where files live: a local directory or a bucket of an object store.
#[derive(Clone, PartialEq, Eq)]
pub enum BlobConfig {
    /// A directory on local disk (created if missing).
    Fs {
        /// The directory holding every object.
        root: PathBuf,
    },
    /// An S3 (or S3-compatible) bucket, addressed path-style.
    S3 {
        /// The service url, e.g. `http://127.0.0.1:9000`; `None` means AWS's
        /// endpoint for `region`.
        endpoint: Option<String>,
        /// The bucket; it must exist.
        bucket: String,
        /// The signing region, e.g. `us-east-1`.
        region: String,
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
    },
    /// An Alibaba Cloud OSS bucket.
    Oss {
        /// The service url, e.g. `https://oss-cn-hangzhou.aliyuncs.com`.
        endpoint: String,
        /// The bucket; it must exist.
        bucket: String,
        /// The access key id.
        access_key_id: String,
        /// The access key secret.
        access_key_secret: String,
    },
}

// By hand: the secrets must never reach a log.
impl fmt::Debug for BlobConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobConfig::Fs { root } => f.debug_struct("Fs").field("root", root).finish(),
            BlobConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key: _,
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .finish(),
            BlobConfig::Oss {
                endpoint,
                bucket,
                access_key_id,
                access_key_secret: _,
            } => f
                .debug_struct("Oss")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("access_key_id", access_key_id)
                .field("access_key_secret", &"<redacted>")
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let s3 = BlobConfig::S3 {
            endpoint: None,
            bucket: "b".into(),
            region: "r".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "s3cret-value".into(),
        };
        let oss = BlobConfig::Oss {
            endpoint: "https://e".into(),
            bucket: "b".into(),
            access_key_id: "AKID".into(),
            access_key_secret: "s3cret-value".into(),
        };
        for c in [s3, oss] {
            let text = format!("{c:?}");
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("AKID"), "{text}");
        }
    }
}
