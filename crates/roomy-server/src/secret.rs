//! The token signing secret: from configuration when given (clusters share
//! one), else generated once per installation and kept in the data folder,
//! readable by its owner only. There is no built-in default secret.

use rand::RngCore;
use roomy_core::Config;
use std::{
    fs::OpenOptions,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

/// File name of the generated secret inside the data folder.
pub const FILE: &str = "jwt-secret";

/// Bytes of a generated secret.
const LEN: usize = 32;

/// The configured secret, or the one kept in `data_dir` (created if absent).
pub fn load_or_create(config: &Config) -> io::Result<Vec<u8>> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    let path = config.data_dir.join(FILE);
    match create(&path) {
        Ok(secret) => Ok(secret),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e),
    }
}

fn create(path: &Path) -> io::Result<Vec<u8>> {
    let mut secret = vec![0u8; LEN];
    rand::rng().fill_bytes(&mut secret);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(hex::encode(&secret).as_bytes())?;
    f.sync_all()?;
    Ok(secret)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)?;
    match hex::decode(text.trim()) {
        Ok(b) if b.len() >= LEN => Ok(b),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a valid secret (64+ hex digits)", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let first = load_or_create(&config).expect("create");
        let second = load_or_create(&config).expect("read");
        assert_eq!(first, second);
        assert_eq!(first.len(), LEN);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
