//! Files: tus uploads (core, creation, checksum, termination, expiration),
//! one-request uploads, limits, names, downloads with Range and their
//! access rules, thumbnails, video covers and media messages.
//!
//! Jobs (thumbnails, covers, expiry) are run by hand through `run_due`
//! here (`job_workers = 0`), so every test knows when they ran; the live
//! runner has its own test at the end.

use crate::backend_tests;
use crate::harness::{Login, RawResp, TestApp};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::Method;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

pub(crate) fn adjust(c: &mut roomy_core::Config) {
    c.job_workers = 0;
    c.upload_expiry_secs = 60;
    c.max_upload_bytes = 8 * MIB as u64;
    c.user_quota_bytes = 12 * MIB as u64;
}

backend_tests!(with super::adjust;
    tus_protocol_rules,
    resume_after_a_cut_connection,
    termination_and_strangers,
    abandoned_uploads_expire,
    limits_and_quota,
    names_never_become_paths,
    downloads_follow_room_membership,
    media_messages,
    thumbnails_and_pixel_bombs,
    video_covers,
    interrupted_finishes_are_completed,
    chunks_past_the_length_are_refused_whole,
    media_tokens_read_files_and_nothing_else,
);

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn create(app: &TestApp, who: &Login, len: usize, name: &str) -> RawResp {
    let meta = format!(
        "filename {},filetype {}",
        STANDARD.encode(name),
        STANDARD.encode("text/html")
    );
    app.send_raw(
        app.request(Method::POST, "/api/v1/uploads", Some(&who.token))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", len.to_string())
            .header("upload-metadata", meta),
    )
    .await
}

async fn patch(
    app: &TestApp,
    who: &Login,
    location: &str,
    offset: usize,
    bytes: &[u8],
    checksum: Option<String>,
) -> RawResp {
    let mut req = app
        .request(Method::PATCH, location, Some(&who.token))
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec());
    if let Some(c) = checksum {
        req = req.header("upload-checksum", c);
    }
    app.send_raw(req).await
}

async fn head(app: &TestApp, who: &Login, location: &str) -> RawResp {
    app.send_raw(
        app.request(Method::HEAD, location, Some(&who.token))
            .header("tus-resumable", "1.0.0"),
    )
    .await
}

fn offset(r: &RawResp) -> usize {
    r.header("upload-offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Upload-Offset: {} {:?}", r.status, r.headers))
}

fn sha1_header(bytes: &[u8]) -> String {
    format!("sha1 {}", STANDARD.encode(Sha1::digest(bytes)))
}

/// A new upload's `Location`, asserting it was created.
async fn started(app: &TestApp, who: &Login, len: usize, name: &str) -> String {
    let created = create(app, who, len, name).await;
    assert_eq!(created.status, 201, "{:?}", created);
    created.header("location").expect("location").to_owned()
}

/// The upload (and file) id at the end of a `Location`.
fn id_of(location: &str) -> i64 {
    location
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("id in location")
}

/// A finished tus upload of `bytes`; the file's id.
async fn tus_upload(app: &TestApp, who: &Login, name: &str, bytes: &[u8]) -> i64 {
    let location = started(app, who, bytes.len(), name).await;
    if !bytes.is_empty() {
        let r = patch(app, who, &location, 0, bytes, Some(sha1_header(bytes))).await;
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    }
    id_of(&location)
}

/// A one-request upload.
pub(crate) async fn simple_upload(app: &TestApp, who: &Login, name: &str, bytes: &[u8]) -> RawResp {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("file", part);
    app.send_raw(
        app.request(Method::POST, "/api/v1/files", Some(&who.token))
            .multipart(form),
    )
    .await
}

async fn meta(app: &TestApp, who: &Login, id: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/files/{id}/meta"), Some(&who.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

pub(crate) async fn run_jobs(app: &TestApp) -> usize {
    app.state.app.run_due_jobs().await.expect("jobs run")
}

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// A real 1×1 PNG whose header then claims `side`×`side` pixels: a
/// decompression bomb as far as any decoder that trusts headers knows.
fn pixel_bomb(side: u32) -> Vec<u8> {
    let mut bytes = png(1, 1);
    // IHDR data starts after the 8-byte signature, length and type.
    bytes[16..20].copy_from_slice(&side.to_be_bytes());
    bytes[20..24].copy_from_slice(&side.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn tus_protocol_rules(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bob = app.user("bob_0001").await;
    let opts = app
        .send_raw(app.request(Method::OPTIONS, "/api/v1/uploads", None))
        .await;
    assert_eq!(opts.status, 204);
    assert_eq!(opts.header("tus-version"), Some("1.0.0"));
    let ext = opts.header("tus-extension").expect("extensions");
    for e in ["creation", "checksum", "termination", "expiration"] {
        assert!(ext.contains(e), "{ext}");
    }
    assert_eq!(opts.header("tus-max-size"), Some("8388608"));
    assert!(
        opts.header("tus-checksum-algorithm")
            .expect("algos")
            .contains("sha1")
    );

    // Another protocol version: 412 naming the one spoken.
    let other = app
        .send_raw(
            app.request(Method::POST, "/api/v1/uploads", Some(&alice.token))
                .header("tus-resumable", "0.2.2")
                .header("upload-length", "10"),
        )
        .await;
    other.assert_error(412, "tus_version_unsupported");
    assert_eq!(other.header("tus-version"), Some("1.0.0"));
    let no_length = app
        .send_raw(
            app.request(Method::POST, "/api/v1/uploads", Some(&alice.token))
                .header("tus-resumable", "1.0.0"),
        )
        .await;
    no_length.assert_error(400, "length_required");

    let created = create(&app, &alice, 10, "notes.txt").await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("tus-resumable"), Some("1.0.0"));
    assert!(
        created
            .header("upload-expires")
            .is_some_and(|e| e.ends_with("GMT"))
    );
    let loc = created.header("location").expect("location").to_owned();
    assert!(loc.starts_with("/api/v1/uploads/"), "{loc}");
    let h = head(&app, &alice, &loc).await;
    assert_eq!((h.status, offset(&h)), (200, 0));
    assert_eq!(h.header("upload-length"), Some("10"));
    assert_eq!(h.header("cache-control"), Some("no-store"));

    let wrong_type = app
        .send_raw(
            app.request(Method::PATCH, &loc, Some(&alice.token))
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", "0")
                .header("content-type", "application/json")
                .body("hello"),
        )
        .await;
    wrong_type.assert_error(415, "unsupported_media_type");
    patch(&app, &alice, &loc, 3, b"hello", None)
        .await
        .assert_error(409, "offset_mismatch");
    // A corrupted chunk is discarded: 460 and the offset stays.
    let bad = patch(&app, &alice, &loc, 0, b"hello", Some(sha1_header(b"jello"))).await;
    bad.assert_error(460, "checksum_mismatch");
    assert_eq!(offset(&head(&app, &alice, &loc).await), 0);
    patch(
        &app,
        &alice,
        &loc,
        0,
        b"hello",
        Some("md5 XUFAKrxLKna5cZ2REBfFkg==".into()),
    )
    .await
    .assert_error(400, "checksum_algorithm_unsupported");
    let ok = patch(&app, &alice, &loc, 0, b"hello", Some(sha1_header(b"hello"))).await;
    assert_eq!((ok.status, offset(&ok)), (204, 5));
    // Strangers see no upload at all.
    assert_eq!(head(&app, &bob, &loc).await.status, 404);
    patch(&app, &bob, &loc, 5, b"world", None)
        .await
        .assert_error(404, "upload_not_found");
    let sha256 = format!("sha256 {}", STANDARD.encode(Sha256::digest(b"world")));
    let last = patch(&app, &alice, &loc, 5, b"world", Some(sha256)).await;
    assert_eq!((last.status, offset(&last)), (204, 10));

    // The finished upload is the file with the same id.
    let id = id_of(&loc);
    let file = meta(&app, &alice, id).await;
    assert_eq!(file["id"], id);
    assert_eq!(file["name"], "notes.txt");
    assert_eq!(file["size"], 10);
    // Sniffed from the bytes; the declared text/html is not trusted.
    assert_eq!(file["mime"], "text/plain");
    assert_eq!(file["sha256"], sha256_hex(b"helloworld"));
    assert_eq!(file["url"], format!("/api/v1/files/{id}"));
    let done = head(&app, &alice, &loc).await;
    assert_eq!((done.status, offset(&done)), (200, 10));
    let dl = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{id}"),
            Some(&alice.token),
        ))
        .await;
    assert_eq!(dl.body, b"helloworld");
}

async fn resume_after_a_cut_connection(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bytes = data(3 * MIB);
    let loc = started(&app, &alice, bytes.len(), "big.bin").await;
    // Promise the whole file, send a third, and go silent.
    let mut sock = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head_text = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        alice.token,
        bytes.len()
    );
    sock.write_all(head_text.as_bytes()).await.expect("write");
    sock.write_all(&bytes[..MIB]).await.expect("write");
    sock.flush().await.expect("flush");
    // The connection goes silent, as a cut one does before the server can
    // tell. Resume as a tus client does: HEAD (which stops a request still
    // writing and answers the durable offset), then PATCH from there, and
    // ask again when overtaken. The silent request may reach its handler
    // at any point, even after the resume finished: it is answered 409 or
    // a partial offset, never moves the upload backwards, and costs a
    // client at most two more rounds.
    let mut resumed = None;
    for _ in 0..4 {
        let at = offset(&head(&app, &alice, &loc).await);
        assert!(at <= bytes.len(), "offset {at} beyond the length");
        let rest = patch(&app, &alice, &loc, at, &bytes[at..], None).await;
        match rest.status {
            409 => continue,
            204 if offset(&rest) < bytes.len() => continue,
            204 => {
                resumed = Some(at);
                break;
            }
            other => panic!("resume answered {other}"),
        }
    }
    assert!(resumed.is_some(), "the upload could not be resumed");
    // The silent request is answered too (so its handler is done) and
    // reports no more than it made durable.
    let answer = read_head(&mut sock).await;
    assert!(
        answer.starts_with("HTTP/1.1 204") || answer.starts_with("HTTP/1.1 409"),
        "the cut request was answered {answer:?}"
    );
    drop(sock);
    let id = id_of(&loc);
    assert_eq!(meta(&app, &alice, id).await["sha256"], sha256_hex(&bytes));
    assert!(app.state.app.files.locks.is_empty(), "upload locks leak");
}

/// Reads a response head from a raw connection, bounded in time and size.
async fn read_head(sock: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 16 * 1024 {
            match sock.read(&mut buf).await.expect("read") {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), read)
        .await
        .expect("the cut request was never answered");
    String::from_utf8_lossy(&got).into_owned()
}

async fn termination_and_strangers(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bob = app.user("bob_0001").await;
    let loc = started(&app, &alice, 6 * MIB, "big.bin").await;
    patch(&app, &alice, &loc, 0, &data(1000), None).await;
    let id = id_of(&loc);
    let part = app.config.effective_upload_dir().join(format!("{id}.part"));
    assert!(part.exists());
    // Within the 12 MiB quota, 6 MiB are reserved: another 7 MiB do not fit.
    create(&app, &alice, 7 * MIB, "more.bin")
        .await
        .assert_error(413, "quota_exceeded");
    let delete = |who: &Login| {
        app.request(Method::DELETE, &loc, Some(&who.token))
            .header("tus-resumable", "1.0.0")
    };
    app.send_raw(delete(&bob))
        .await
        .assert_error(404, "upload_not_found");
    assert_eq!(app.send_raw(delete(&alice)).await.status, 204);
    assert_eq!(head(&app, &alice, &loc).await.status, 404);
    assert!(!part.exists(), "terminated bytes remain");
    // The reservation is released.
    assert_eq!(create(&app, &alice, 7 * MIB, "more.bin").await.status, 201);
    app.send_raw(delete(&alice))
        .await
        .assert_error(404, "upload_not_found");
}

async fn abandoned_uploads_expire(app: TestApp) {
    let alice = app.user("alice_01").await;
    let stale = started(&app, &alice, 100, "a.bin").await;
    let live = started(&app, &alice, 100, "b.bin").await;
    patch(&app, &alice, &stale, 0, &data(10), None).await;
    app.clock.advance(time::Duration::seconds(30));
    // A chunk keeps an upload alive for another expiry period.
    patch(&app, &alice, &live, 0, &data(10), None).await;
    app.clock.advance(time::Duration::seconds(31));
    patch(&app, &alice, &stale, 10, &data(10), None)
        .await
        .assert_error(410, "upload_expired");
    assert!(run_jobs(&app).await >= 2);
    let dir = app.config.effective_upload_dir();
    let id = id_of;
    assert!(
        !dir.join(format!("{}.part", id(&stale))).exists(),
        "expired bytes remain"
    );
    assert_eq!(head(&app, &alice, &stale).await.status, 404);
    assert!(dir.join(format!("{}.part", id(&live))).exists());
    assert_eq!(offset(&head(&app, &alice, &live).await), 10);
    // Its check was moved to its new expiry, and then it goes too.
    app.clock.advance(time::Duration::seconds(30));
    assert!(run_jobs(&app).await >= 1);
    assert_eq!(head(&app, &alice, &live).await.status, 404);
    assert!(!dir.join(format!("{}.part", id(&live))).exists());
}

/// A complete upload whose finish never ran (a crash after its last chunk
/// was made durable, or after its bytes moved into storage) is finished by
/// the next HEAD or PATCH, with the file it was going to be.
async fn interrupted_finishes_are_completed(app: TestApp) {
    use roomy_core::{Clock, FileId};
    let alice = app.user("alice_01").await;
    let files = &app.state.app.files;
    let later = app.clock.now() + time::Duration::hours(1);
    let upload_at = |loc: &str| FileId(id_of(loc));

    // Stopped after the offset moved: nothing prepared.
    let loc = started(&app, &alice, 10, "a.txt").await;
    let id = upload_at(&loc);
    std::fs::write(files.spool.path(id), b"0123456789").expect("write");
    assert!(
        app.state
            .app
            .store
            .advance_upload(id, 0, 10, later)
            .await
            .expect("advance")
    );
    let h = head(&app, &alice, &loc).await;
    assert_eq!((h.status, offset(&h)), (200, 10));
    let file = meta(&app, &alice, id.0).await;
    assert_eq!(
        (file["name"].as_str(), file["size"].as_i64()),
        (Some("a.txt"), Some(10))
    );
    assert_eq!(file["sha256"], sha256_hex(b"0123456789"));

    // Stopped after the bytes moved into storage.
    let loc = started(&app, &alice, 5, "b.txt").await;
    let id = upload_at(&loc);
    std::fs::write(files.spool.path(id), b"abcde").expect("write");
    assert!(
        app.state
            .app
            .store
            .advance_upload(id, 0, 5, later)
            .await
            .expect("advance")
    );
    let key = roomy_blob::ObjectKey::generate("files", app.clock.now(), Some("txt"));
    let prepared = roomy_store::Prepared {
        key: key.as_str().to_owned(),
        sha256: sha256_hex(b"abcde"),
        mime: "text/plain".into(),
        media: roomy_store::MediaClass::Other,
    };
    assert!(
        app.state
            .app
            .store
            .prepare_upload(id, &prepared)
            .await
            .expect("prepare")
    );
    files
        .blob
        .ingest_file(&key, &files.spool.path(id))
        .await
        .expect("ingest");
    let done = patch(&app, &alice, &loc, 5, b"", None).await;
    assert_eq!((done.status, offset(&done)), (204, 5));
    let dl = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{}", id.0),
            Some(&alice.token),
        ))
        .await;
    assert_eq!(dl.body, b"abcde");
    assert_eq!(
        meta(&app, &alice, id.0).await["sha256"],
        sha256_hex(b"abcde")
    );
}

/// A chunk longer than what the upload has left is refused whole, also
/// when no Content-Length announced it (chunked encoding).
async fn chunks_past_the_length_are_refused_whole(app: TestApp) {
    use tokio::io::AsyncReadExt;
    let alice = app.user("alice_01").await;
    let loc = started(&app, &alice, 5, "a.txt").await;
    patch(&app, &alice, &loc, 0, b"too long", None)
        .await
        .assert_error(413, "upload_overflow");
    let mut sock = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n",
        app.addr, alice.token
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut answer = String::new();
    sock.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("upload_overflow"), "{answer}");
    assert_eq!(offset(&head(&app, &alice, &loc).await), 0);
    let ok = patch(&app, &alice, &loc, 0, b"abcde", None).await;
    assert_eq!((ok.status, offset(&ok)), (204, 5));
}

/// Every stored object sits at `<prefix>/<yyyymmdd>/<ms>_<12 hex>[.ext]`.
fn assert_only_generated_keys(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let parts: Vec<&str> = rel.split('/').collect();
            assert_eq!(parts.len(), 3, "unexpected object {rel}");
            assert!(["files", "thumbs", "covers"].contains(&parts[0]), "{rel}");
            assert!(
                parts[1].len() == 8 && parts[1].bytes().all(|b| b.is_ascii_digit()),
                "{rel}"
            );
            let (stem, _ext) = parts[2].split_once('.').unwrap_or((parts[2], ""));
            let (ms, rand) = stem.split_once('_').expect("ts_rand");
            assert!(ms.bytes().all(|b| b.is_ascii_digit()), "{rel}");
            assert!(
                rand.len() == 12 && rand.bytes().all(|b| b.is_ascii_hexdigit()),
                "{rel}"
            );
        }
    }
}

async fn limits_and_quota(app: TestApp) {
    let alice = app.user("alice_01").await;
    create(&app, &alice, 9 * MIB, "huge.bin")
        .await
        .assert_error(413, "too_large");
    simple_upload(&app, &alice, "huge.bin", &data(8 * MIB + 100 * 1024))
        .await
        .assert_error(413, "too_large");
    let created = create(&app, &alice, 8 * MIB, "big.bin").await;
    assert_eq!(created.status, 201);
    create(&app, &alice, 5 * MIB, "more.bin")
        .await
        .assert_error(413, "quota_exceeded");
    simple_upload(&app, &alice, "more.bin", &data(5 * MIB))
        .await
        .assert_error(413, "quota_exceeded");
    let ok = simple_upload(&app, &alice, "small.bin", &data(1000)).await;
    assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
    let files_root = app.config.data_dir.join("files");
    assert_only_generated_keys(&files_root);
    let count = walk_count(&files_root);
    assert_eq!(count, 1, "refused uploads left bytes behind");
}

fn walk_count(root: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

async fn names_never_become_paths(app: TestApp) {
    let alice = app.user("alice_01").await;
    let hostile = [
        "../../etc/passwd",
        "..%2f..%2fescape.txt",
        "/abs/path/owned.txt",
        "a\0b.txt",
        "..\\..\\windows.ini",
        "",
    ];
    for name in hostile {
        let id = tus_upload(&app, &alice, name, b"just text").await;
        let file = meta(&app, &alice, id).await;
        let shown = file["name"].as_str().expect("name");
        assert!(
            !shown.contains('/') && !shown.contains('\\') && !shown.contains('\0'),
            "{shown:?}"
        );
        assert!(!shown.starts_with('.') && !shown.is_empty(), "{shown:?}");
        let dl = app
            .send_raw(app.request(
                Method::GET,
                &format!("/api/v1/files/{id}"),
                Some(&alice.token),
            ))
            .await;
        let cd = dl.header("content-disposition").expect("disposition");
        assert!(cd.starts_with("attachment;"), "{cd}");
        assert!(!cd.contains("..") && !cd.contains('/'), "{cd}");
    }
    for name in ["../../../x.txt", "/etc/cron.d/job", "%2e%2e%2fup.txt"] {
        let r = simple_upload(&app, &alice, name, b"text").await;
        assert_eq!(r.status, 201);
        let shown = r.json()["name"].as_str().expect("name").to_owned();
        assert!(!shown.contains('/') && !shown.starts_with('.'), "{shown:?}");
    }
    assert_only_generated_keys(&app.config.data_dir.join("files"));
    // Nothing was written beside the data folder's own parts.
    for entry in std::fs::read_dir(&app.config.data_dir)
        .expect("data dir")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            ["files", "uploads", "jwt-secret"].contains(&name.as_str())
                || name.starts_with("roomy.db"),
            "unexpected {name} in the data folder"
        );
    }
}

pub(crate) async fn send_file(
    app: &TestApp,
    who: &Login,
    room: i64,
    kind: &str,
    file: i64,
) -> crate::harness::Resp {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&who.token),
        json!({"client_id": format!("c-{kind}-{file}"), "kind": kind, "file_id": file}),
    )
    .await
}

async fn downloads_follow_room_membership(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bob = app.user("bob_0001").await;
    let carol = app.user("carol_01").await;
    let dave = app.user("dave_001").await;
    let bytes = data(100_000);
    let id = tus_upload(&app, &alice, "report.bin", &bytes).await;
    let path = format!("/api/v1/files/{id}");
    let get = |who: &Login, range: Option<&str>| {
        let mut r = app.request(Method::GET, &path, Some(&who.token));
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r
    };
    app.send_raw(get(&bob, None))
        .await
        .assert_error(404, "file_not_found");
    app.get(&format!("{path}/meta"), Some(&bob.token))
        .await
        .assert_error(404, "file_not_found");
    let room = app.group(&alice, "Team", &[bob.id, carol.id]).await;
    // Bob may not pass alice's file off as his.
    let stolen = send_file(&app, &bob, room, "file", id).await;
    stolen.assert_error(422, "validation_failed");
    assert_eq!(app.send_raw(get(&bob, None)).await.status, 404);
    let sent = send_file(&app, &alice, room, "file", id).await;
    assert_eq!(sent.status, 201, "{}", sent.text);

    let whole = app.send_raw(get(&bob, None)).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, bytes);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("x-content-type-options"), Some("nosniff"));
    let etag = whole.header("etag").expect("etag").to_owned();
    let part = app.send_raw(get(&bob, Some("bytes=1000-1999"))).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/100000"));
    assert_eq!(part.body, &bytes[1000..2000]);
    let tail = app.send_raw(get(&carol, Some("bytes=-10"))).await;
    assert_eq!((tail.status, tail.body.as_slice()), (206, &bytes[99_990..]));
    let open = app.send_raw(get(&carol, Some("bytes=99000-"))).await;
    assert_eq!(open.body, &bytes[99_000..]);
    let past = app.send_raw(get(&bob, Some("bytes=100000-"))).await;
    past.assert_error(416, "range_not_satisfiable");
    assert_eq!(past.header("content-range"), Some("bytes */100000"));
    let resumed = app
        .send_raw(get(&bob, Some("bytes=50000-")).header("if-range", etag.as_str()))
        .await;
    assert_eq!(resumed.status, 206);
    let changed = app
        .send_raw(get(&bob, Some("bytes=50000-")).header("if-range", "\"other\""))
        .await;
    assert_eq!(changed.status, 200);

    app.send_raw(get(&dave, None))
        .await
        .assert_error(404, "file_not_found");
    // Carol leaves: her access ends with her membership.
    let left = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", carol.id),
            Some(&carol.token),
        )
        .await;
    assert!(left.status < 300, "{}", left.text);
    app.send_raw(get(&carol, None))
        .await
        .assert_error(404, "file_not_found");
    // A revoked message no longer shares its file.
    let message = sent.json()["id"].as_i64().expect("message id");
    let revoked = app
        .post(
            &format!("/api/v1/messages/{message}/revoke"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    app.send_raw(get(&bob, None))
        .await
        .assert_error(404, "file_not_found");
    assert_eq!(app.send_raw(get(&alice, None)).await.status, 200);
}

async fn media_messages(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bob = app.user("bob_0001").await;
    let room = app.group(&alice, "Team", &[bob.id]).await;
    let image = tus_upload(&app, &alice, "cat.png", &png(64, 48)).await;
    let text = tus_upload(&app, &alice, "notes.txt", b"plain words").await;
    let bobs = tus_upload(&app, &bob, "mine.png", &png(8, 8)).await;

    let sent = send_file(&app, &alice, room, "image", image).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let m = sent.json();
    assert_eq!(m["kind"], "image");
    assert_eq!(m["file"]["id"], image);
    assert_eq!(m["file"]["name"], "cat.png");
    assert_eq!(m["file"]["mime"], "image/png");
    assert_eq!(m["file"]["url"], format!("/api/v1/files/{image}"));
    assert!(m["file"]["size"].as_i64().is_some_and(|s| s > 0));
    assert!(m["file"]["thumbnail_url"].is_null());
    for (kind, file, field) in [
        ("image", text, "file_id"),
        ("video", image, "file_id"),
        ("image", bobs, "file_id"),
        ("image", 999_999, "file_id"),
    ] {
        let r = send_file(&app, &alice, room, kind, file).await;
        r.assert_error(422, "validation_failed");
        assert!(r.json()["error"]["fields"][field].is_string(), "{}", r.text);
    }
    let no_file = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&alice.token),
            json!({"client_id": "x1", "kind": "file"}),
        )
        .await;
    no_file.assert_error(422, "validation_failed");
    let text_with_file = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&alice.token),
            json!({"client_id": "x2", "kind": "text", "body": "hi", "file_id": text}),
        )
        .await;
    text_with_file.assert_error(422, "validation_failed");
    // A caption, over the WebSocket.
    let (mut ws, _) = app.ws(&alice.token).await;
    ws.send(
        json!({"type": "send", "id": 7, "room_id": room, "client_id": "w1",
                   "kind": "file", "file_id": text, "body": "see this"}),
    )
    .await;
    let (ack, _) = ws.until("ack").await;
    assert_eq!(ack["id"], 7);
    assert_eq!(ack["message"]["file"]["name"], "notes.txt");
    assert_eq!(ack["message"]["body"], "see this");

    // The thumbnail job runs; history then shows it.
    run_jobs(&app).await;
    let history = app
        .get(&format!("/api/v1/rooms/{room}/messages"), Some(&bob.token))
        .await
        .json();
    let items = history["items"].as_array().expect("items");
    let img = items
        .iter()
        .find(|m| m["kind"] == "image")
        .expect("image message");
    assert_eq!(
        img["file"]["thumbnail_url"],
        format!("/api/v1/files/{image}/thumbnail")
    );
    let file_msg = items
        .iter()
        .find(|m| m["kind"] == "file")
        .expect("file message");
    assert!(file_msg["file"]["thumbnail_url"].is_null());
}

async fn thumbnails_and_pixel_bombs(app: TestApp) {
    let alice = app.user("alice_01").await;
    let wide = tus_upload(&app, &alice, "wide.png", &png(1000, 500)).await;
    let bomb = tus_upload(&app, &alice, "bomb.png", &pixel_bomb(100_000)).await;
    let text = simple_upload(&app, &alice, "a.txt", b"words").await.json()["id"]
        .as_i64()
        .expect("id");
    assert!(run_jobs(&app).await >= 2);
    let file = meta(&app, &alice, wide).await;
    assert_eq!(
        file["thumbnail_url"],
        format!("/api/v1/files/{wide}/thumbnail")
    );
    let thumb = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{wide}/thumbnail"),
            Some(&alice.token),
        ))
        .await;
    assert_eq!(thumb.status, 200);
    let img = image::load_from_memory(&thumb.body).expect("thumbnail decodes");
    assert_eq!((img.width(), img.height()), (320, 160));
    // The bomb was refused before decoding: no thumbnail, server fine.
    assert!(meta(&app, &alice, bomb).await["thumbnail_url"].is_null());
    app.get(
        &format!("/api/v1/files/{bomb}/thumbnail"),
        Some(&alice.token),
    )
    .await
    .assert_error(404, "no_thumbnail");
    app.get(
        &format!("/api/v1/files/{text}/cover?t=0"),
        Some(&alice.token),
    )
    .await
    .assert_error(422, "not_a_video");
    app.get(&format!("/api/v1/files/{wide}/cover"), Some(&alice.token))
        .await
        .assert_error(422, "not_a_video");
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

/// A short test video made by the machine's ffmpeg; `None` (skipped) when
/// there is none, unless services are required.
pub fn test_video(dir: &Path) -> Option<Vec<u8>> {
    let out = dir.join("clip.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=2:size=320x240:rate=10")
        .args(["-pix_fmt", "yuv420p", "-y"])
        .arg(&out)
        .status();
    match made {
        Ok(s) if s.success() => Some(std::fs::read(&out).expect("video")),
        _ => {
            assert!(
                std::env::var("ROOMY_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "ffmpeg is missing but services are required"
            );
            eprintln!("skipped: video cover test (ffmpeg not found)");
            None
        }
    }
}

async fn video_covers(app: TestApp) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(video) = test_video(dir.path()) else {
        return;
    };
    let alice = app.user("alice_01").await;
    let id = tus_upload(&app, &alice, "clip.mp4", &video).await;
    assert_eq!(meta(&app, &alice, id).await["mime"], "video/mp4");
    let room = app.group(&alice, "Team", &[]).await;
    assert_eq!(send_file(&app, &alice, room, "video", id).await.status, 201);
    assert!(run_jobs(&app).await >= 1);
    let file = meta(&app, &alice, id).await;
    assert_eq!(file["cover_url"], format!("/api/v1/files/{id}/cover"));
    let cover = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{id}/cover"),
            Some(&alice.token),
        ))
        .await;
    assert_eq!(
        (cover.status, cover.header("content-type")),
        (200, Some("image/jpeg"))
    );
    image::load_from_memory(&cover.body).expect("cover decodes");
    let frame = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{id}/cover?t=500&w=160&f=png"),
            Some(&alice.token),
        ))
        .await;
    assert_eq!(
        (frame.status, frame.header("content-type")),
        (200, Some("image/png"))
    );
    let img = image::load_from_memory(&frame.body).expect("frame decodes");
    assert_eq!((img.width(), img.height()), (160, 120));
    app.get(
        &format!("/api/v1/files/{id}/cover?t=60000"),
        Some(&alice.token),
    )
    .await
    .assert_error(422, "no_frame");
    app.get(&format!("/api/v1/files/{id}/cover?w=0"), Some(&alice.token))
        .await
        .assert_error(422, "validation_failed");
    app.get(
        &format!("/api/v1/files/{id}/cover?f=gif"),
        Some(&alice.token),
    )
    .await
    .assert_error(422, "validation_failed");
}

mod live_runner {
    use super::*;

    crate::backend_tests!(live_thumbnails_are_announced);

    /// With the runner on, a made thumbnail reaches the owner as `file_updated`.
    async fn live_thumbnails_are_announced(app: TestApp) {
        let alice = app.user("alice_01").await;
        let (mut ws, _) = app.ws(&alice.token).await;
        let id = tus_upload(&app, &alice, "cat.png", &png(200, 100)).await;
        let (event, _) = ws.until("file_updated").await;
        assert_eq!(event["file"]["id"], id);
        assert_eq!(
            event["file"]["thumbnail_url"],
            format!("/api/v1/files/{id}/thumbnail")
        );
    }
}

mod without_ffmpeg {
    use super::*;

    crate::backend_tests!(with |c| {
        c.job_workers = 0;
        c.ffmpeg = "/nonexistent/ffmpeg".into();
    }; videos_have_no_cover);

    /// A server without ffmpeg runs; its videos have no cover.
    async fn videos_have_no_cover(app: TestApp) {
        let dir = tempfile::tempdir().expect("tempdir");
        let Some(video) = test_video(dir.path()) else {
            return;
        };
        let alice = app.user("alice_01").await;
        let id = tus_upload(&app, &alice, "clip.mp4", &video).await;
        run_jobs(&app).await;
        assert!(meta(&app, &alice, id).await["cover_url"].is_null());
        app.get(&format!("/api/v1/files/{id}/cover?t=0"), Some(&alice.token))
            .await
            .assert_error(503, "ffmpeg_unavailable");
    }
}

/// The same server with its files in S3 (the S3-compatible server at
/// `ROOMY_TEST_S3_URL`, the test credentials of the blob suite, a fresh
/// bucket per test); skipped when it is unset, unless services are required.
/// Unfinished uploads live in the bucket there, one object per chunk, so the
/// tus suites run again on it, and two nodes share one upload.
pub(crate) mod on_s3 {
    use super::*;
    use crate::harness::Backend;
    use axum::body::Bytes;
    use roomy_app::FileError;
    use roomy_app::files::{
        parts,
        uploads::{Chunk, UploadStanding},
    };
    use roomy_blob::ObjectKey;
    use roomy_core::{FileId, UserId, config::Redacted};
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    /// A fresh bucket on the test S3 server, or `None` (skipped).
    pub(crate) async fn bucket() -> Option<(String, String)> {
        let Ok(url) = std::env::var("ROOMY_TEST_S3_URL") else {
            assert!(
                std::env::var("ROOMY_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "ROOMY_TEST_S3_URL is unset but services are required"
            );
            eprintln!("skipped: S3 file storage suite (ROOMY_TEST_S3_URL unset)");
            return None;
        };
        let bucket = format!("roomy-api-{}", rand::random::<u64>());
        // The test server takes an unsigned bucket creation.
        let made = reqwest::Client::new()
            .put(format!("{url}/{bucket}"))
            .send()
            .await
            .expect("S3 server reachable");
        assert!(made.status().is_success(), "bucket: {}", made.status());
        Some((url, bucket))
    }

    /// Files in `bucket` on the S3 server at `url`.
    pub(crate) fn in_bucket(c: &mut roomy_core::Config, (url, bucket): &(String, String)) {
        super::adjust(c);
        c.storage = roomy_core::config::StorageKind::S3;
        c.s3_endpoint = Some(url.clone());
        c.s3_bucket = Some(bucket.clone());
        c.s3_access_key_id = Some(Redacted::new("roomy-test"));
        c.s3_secret_access_key = Some(Redacted::new("roomy-test-secret"));
    }

    async fn spawn(backend: Backend) -> Option<TestApp> {
        let place = bucket().await?;
        TestApp::spawn_with(backend, move |c| in_bucket(c, &place)).await
    }

    /// Generates one test per database backend for each listed tus suite,
    /// run on a server whose files are in S3.
    macro_rules! s3_tests {
        ($($name:ident),* $(,)?) => {
            mod sqlite {
                $(
                    #[tokio::test]
                    async fn $name() {
                        if let Some(app) = super::spawn(super::Backend::Sqlite).await {
                            super::$name(app).await;
                        }
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test]
                    async fn $name() {
                        if let Some(app) = super::spawn(super::Backend::Postgres).await {
                            super::$name(app).await;
                        }
                    }
                )*
            }
        };
    }

    s3_tests!(
        tus_protocol_rules,
        resume_after_a_cut_connection,
        chunks_past_the_length_are_refused_whole,
        interrupted_finishes_are_completed_from_chunks,
        chunks_go_with_their_upload,
    );

    /// The chunk objects of `app`'s upload `id` in the bucket.
    async fn chunks(app: &TestApp, id: i64) -> Vec<ObjectKey> {
        let dir = parts::upload_dir(FileId(id)).expect("dir key");
        app.state
            .app
            .files
            .blob
            .list_under(&dir)
            .await
            .expect("list")
    }

    /// Nothing of an upload stays on a node's disk with S3 storage.
    fn assert_no_local_bytes(app: &TestApp) {
        assert_eq!(walk_count(&app.config.effective_upload_dir()), 0);
        assert_eq!(walk_count(&app.config.data_dir.join("files")), 0);
    }

    /// Each chunk is an object of its own until the upload ends: finishing,
    /// terminating and expiring remove them, and the expiry of a finished
    /// upload removes a chunk its writer left behind (died before its
    /// record). An empty upload has no chunk and is a file at once.
    async fn chunks_go_with_their_upload(app: TestApp) {
        let alice = app.user("alice_01").await;
        let bytes = data(3000);
        let done = started(&app, &alice, bytes.len(), "a.bin").await;
        for (at, piece) in [(0, &bytes[..1000]), (1000, &bytes[1000..1500])] {
            let r = patch(&app, &alice, &done, at, piece, None).await;
            assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
        }
        assert_eq!(chunks(&app, id_of(&done)).await.len(), 2);
        let last = patch(&app, &alice, &done, 1500, &bytes[1500..], None).await;
        assert_eq!((last.status, offset(&last)), (204, 3000));
        assert_eq!(chunks(&app, id_of(&done)).await, vec![]);
        assert_eq!(
            meta(&app, &alice, id_of(&done)).await["sha256"],
            sha256_hex(&bytes)
        );
        // A writer that died between its chunk and its record left this.
        let orphan = parts::part_key(FileId(id_of(&done)), 1500).expect("key");
        let mut w = app.state.app.files.blob.writer(&orphan).await.expect("w");
        w.write(Bytes::from_static(b"left over"))
            .await
            .expect("write");
        w.close().await.expect("close");

        let ended = started(&app, &alice, 100, "b.bin").await;
        patch(&app, &alice, &ended, 0, &data(10), None).await;
        assert_eq!(chunks(&app, id_of(&ended)).await.len(), 1);
        let gone = app
            .send_raw(
                app.request(Method::DELETE, &ended, Some(&alice.token))
                    .header("tus-resumable", "1.0.0"),
            )
            .await;
        assert_eq!(gone.status, 204);
        assert_eq!(chunks(&app, id_of(&ended)).await, vec![]);

        let stale = started(&app, &alice, 100, "c.bin").await;
        patch(&app, &alice, &stale, 0, &data(10), None).await;
        app.clock.advance(time::Duration::seconds(61));
        assert!(run_jobs(&app).await >= 3);
        assert_eq!(head(&app, &alice, &stale).await.status, 404);
        assert_eq!(chunks(&app, id_of(&stale)).await, vec![]);
        assert_eq!(chunks(&app, id_of(&done)).await, vec![], "the orphan went");

        // An empty upload has no chunk at all and is a file at once.
        let empty = started(&app, &alice, 0, "empty.txt").await;
        let file = meta(&app, &alice, id_of(&empty)).await;
        assert_eq!(
            (file["size"].as_i64(), file["sha256"].as_str()),
            (Some(0), Some(&*sha256_hex(b"")))
        );
        assert_no_local_bytes(&app);
    }

    /// A complete upload whose finish never ran (a crash after its last
    /// chunk was recorded) is finished by the next HEAD from its chunks.
    async fn interrupted_finishes_are_completed_from_chunks(app: TestApp) {
        use roomy_core::Clock;
        let alice = app.user("alice_01").await;
        let loc = started(&app, &alice, 10, "a.txt").await;
        let id = FileId(id_of(&loc));
        let app_ = &app.state.app;
        let later = app.clock.now() + time::Duration::hours(1);
        for (from, to, piece) in [(0, 4, &b"0123"[..]), (4, 10, &b"456789"[..])] {
            let key = parts::part_key(id, from).expect("key");
            let mut w = app_.files.blob.writer(&key).await.expect("writer");
            w.write(Bytes::from_static(piece)).await.expect("write");
            w.close().await.expect("close");
            assert!(
                app_.store
                    .advance_upload_part(id, from, to, key.as_str(), later)
                    .await
                    .expect("advance")
            );
        }
        let h = head(&app, &alice, &loc).await;
        assert_eq!((h.status, offset(&h)), (200, 10));
        let file = meta(&app, &alice, id.0).await;
        assert_eq!(file["sha256"], sha256_hex(b"0123456789"));
        assert_eq!(chunks(&app, id.0).await, vec![]);
    }

    #[tokio::test]
    async fn sqlite_files_round_trip_through_s3() {
        if let Some(app) = spawn(Backend::Sqlite).await {
            round_trip(app).await;
        }
    }

    #[tokio::test]
    async fn postgres_files_round_trip_through_s3() {
        if let Some(app) = spawn(Backend::Postgres).await {
            round_trip(app).await;
        }
    }

    /// Uploads of both kinds land in the bucket; downloads, ranges,
    /// thumbnails and covers read them back from it.
    async fn round_trip(app: TestApp) {
        let alice = app.user("alice_01").await;
        let bob = app.user("bob_0001").await;
        let bytes = data(3 * MIB);
        let big = tus_upload(&app, &alice, "big.bin", &bytes).await;
        let image = simple_upload(&app, &alice, "cat.png", &png(640, 480)).await;
        assert_eq!(image.status, 201);
        let image = image.json()["id"].as_i64().expect("id");
        let dir = tempfile::tempdir().expect("tempdir");
        let video = match test_video(dir.path()) {
            Some(v) => Some(tus_upload(&app, &alice, "clip.mp4", &v).await),
            None => None,
        };
        // Nothing was kept on local disk but the (now empty) upload folder.
        assert_eq!(walk_count(&app.config.data_dir.join("files")), 0);
        assert_eq!(walk_count(&app.config.effective_upload_dir()), 0);
        let room = app.group(&alice, "Team", &[bob.id]).await;
        assert_eq!(send_file(&app, &alice, room, "file", big).await.status, 201);
        let part = app
            .send_raw(
                app.request(
                    Method::GET,
                    &format!("/api/v1/files/{big}"),
                    Some(&bob.token),
                )
                .header("range", "bytes=1048576-2097151"),
            )
            .await;
        assert_eq!(part.status, 206);
        assert_eq!(part.body, &bytes[MIB..2 * MIB]);
        let whole = app
            .send_raw(app.request(
                Method::GET,
                &format!("/api/v1/files/{big}"),
                Some(&bob.token),
            ))
            .await;
        assert_eq!(sha256_hex(&whole.body), sha256_hex(&bytes));
        run_jobs(&app).await;
        let thumb = app
            .send_raw(app.request(
                Method::GET,
                &format!("/api/v1/files/{image}/thumbnail"),
                Some(&alice.token),
            ))
            .await;
        assert_eq!(thumb.status, 200);
        let img = image::load_from_memory(&thumb.body).expect("thumbnail");
        assert_eq!((img.width(), img.height()), (320, 240));
        if let Some(video) = video {
            assert!(meta(&app, &alice, video).await["cover_url"].is_string());
            let frame = app
                .send_raw(app.request(
                    Method::GET,
                    &format!("/api/v1/files/{video}/cover?t=100&w=64"),
                    Some(&alice.token),
                ))
                .await;
            assert_eq!(frame.status, 200);
        }
    }

    /// Two nodes on one PostgreSQL database and one bucket, each with its
    /// own data folder (no shared disk) and the same signing secret, so a
    /// token from one is good on the other; `None` when a service is absent.
    async fn two_nodes() -> Option<(TestApp, TestApp)> {
        let place = bucket().await?;
        let secret = Redacted::new(format!("{:064x}", rand::random::<u128>()));
        let node = |c: &mut roomy_core::Config| {
            in_bucket(c, &place);
            c.max_upload_bytes = 24 * MIB as u64;
            c.user_quota_bytes = 48 * MIB as u64;
            c.jwt_secret = Some(secret.clone());
        };
        let a = TestApp::spawn_with(Backend::Postgres, node).await?;
        let database_url = a.config.database_url.clone();
        // Named Sqlite only to skip making a second database: the URL
        // given here is the first node's PostgreSQL database.
        let b = TestApp::spawn_with(Backend::Sqlite, |c| {
            node(c);
            c.database_url = database_url;
        })
        .await?;
        assert_ne!(a.config.data_dir, b.config.data_dir);
        Some((a, b))
    }

    #[tokio::test]
    async fn postgres_an_upload_continues_on_another_node() {
        if let Some((a, b)) = two_nodes().await {
            an_upload_continues_on_another_node(a, b).await;
        }
    }

    #[tokio::test]
    async fn postgres_racing_chunks_on_two_nodes_store_one() {
        if let Some((a, b)) = two_nodes().await {
            racing_chunks_on_two_nodes_store_one(a, b).await;
        }
    }

    /// An upload started on node A goes on on node B with no shared disk:
    /// B sees A's offset, refuses a corrupted chunk without moving it,
    /// takes the rest and makes the file (more than one multipart part of
    /// the store), and A serves exactly the bytes sent.
    async fn an_upload_continues_on_another_node(a: TestApp, b: TestApp) {
        let alice = a.user("alice_01").await;
        let bytes = data(17 * MIB + 4321);
        let loc = started(&a, &alice, bytes.len(), "movie.bin").await;
        let first = patch(&a, &alice, &loc, 0, &bytes[..3 * MIB], None).await;
        assert_eq!((first.status, offset(&first)), (204, 3 * MIB));
        let seen = head(&b, &alice, &loc).await;
        assert_eq!((seen.status, offset(&seen)), (200, 3 * MIB));
        assert_eq!(
            seen.header("upload-length"),
            Some(&*bytes.len().to_string())
        );

        let next = &bytes[3 * MIB..9 * MIB];
        let bad = patch(&b, &alice, &loc, 3 * MIB, next, Some(sha1_header(b"other"))).await;
        bad.assert_error(460, "checksum_mismatch");
        assert_eq!(offset(&head(&b, &alice, &loc).await), 3 * MIB);
        assert_eq!(offset(&head(&a, &alice, &loc).await), 3 * MIB);
        assert_eq!(
            chunks(&b, id_of(&loc)).await.len(),
            1,
            "the bad chunk left nothing"
        );

        let ok = patch(&b, &alice, &loc, 3 * MIB, next, Some(sha1_header(next))).await;
        assert_eq!((ok.status, offset(&ok)), (204, 9 * MIB));
        let rest = &bytes[9 * MIB..];
        let last = patch(&b, &alice, &loc, 9 * MIB, rest, Some(sha1_header(rest))).await;
        assert_eq!((last.status, offset(&last)), (204, bytes.len()));

        let id = id_of(&loc);
        assert_eq!(
            chunks(&a, id).await,
            vec![],
            "chunks deleted after the finish"
        );
        let file = meta(&a, &alice, id).await;
        assert_eq!(file["sha256"], sha256_hex(&bytes));
        assert_eq!(file["size"], bytes.len());
        let whole = a
            .send_raw(a.request(
                Method::GET,
                &format!("/api/v1/files/{id}"),
                Some(&alice.token),
            ))
            .await;
        assert_eq!(whole.status, 200);
        assert!(
            whole.body == bytes,
            "node A serves other bytes than were sent"
        );
        let done = head(&a, &alice, &loc).await;
        assert_eq!((done.status, offset(&done)), (200, bytes.len()));
        assert_no_local_bytes(&a);
        assert_no_local_bytes(&b);
    }

    /// A chunk body the test releases: its first piece at once, then the
    /// rest once `go` gives a permit. `started` gets a permit when the
    /// first piece is taken, which is after the writer read the offset.
    fn held_body(
        first: Vec<u8>,
        rest: Vec<u8>,
        started: Arc<Semaphore>,
        go: Arc<Semaphore>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let state = (0, Some(first), Some(rest));
        Box::pin(futures_util::stream::unfold(
            state,
            move |(step, first, rest)| {
                let (started, go) = (started.clone(), go.clone());
                async move {
                    match step {
                        0 => {
                            started.add_permits(1);
                            Some((Ok(Bytes::from(first?)), (1, None, rest)))
                        }
                        1 => {
                            go.acquire().await.ok()?.forget();
                            Some((Ok(Bytes::from(rest?)), (2, None, None)))
                        }
                        _ => None,
                    }
                }
            },
        ))
    }

    /// Two nodes write the same upload at the same offset at the same time
    /// (a client that resumed on B while its old request still runs on A):
    /// both chunks are whole in the bucket before either counts, exactly
    /// one moves the offset, the loser is told 409 and deletes its object,
    /// and the file holds the winner's bytes only.
    async fn racing_chunks_on_two_nodes_store_one(a: TestApp, b: TestApp) {
        let alice = a.user("alice_01").await;
        let user = UserId(alice.id);
        for round in 0..3 {
            let len = 2 * MIB;
            let loc = started(&a, &alice, len + 10, &format!("race{round}.bin")).await;
            let id = FileId(id_of(&loc));
            let mine = |fill: u8| vec![fill; len];
            let (started, go) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
            let chunk = |fill: u8| Chunk {
                offset: 0,
                announced: Some(len as i64),
                checksum: None,
                body: held_body(
                    mine(fill)[..1000].to_vec(),
                    mine(fill)[1000..].to_vec(),
                    started.clone(),
                    go.clone(),
                ),
            };
            let (app_a, app_b) = (a.state.app.clone(), b.state.app.clone());
            let (chunk_a, chunk_b) = (chunk(b'A'), chunk(b'B'));
            let on_a = tokio::spawn(async move { app_a.write_chunk(user, id, chunk_a).await });
            let on_b = tokio::spawn(async move { app_b.write_chunk(user, id, chunk_b).await });
            // Both writers are past the offset check before either ends.
            started.acquire_many(2).await.expect("started").forget();
            go.add_permits(2);
            let results = [on_a.await.expect("A"), on_b.await.expect("B")];
            let won: Vec<u8> = results
                .iter()
                .zip([b'A', b'B'])
                .filter_map(|(r, fill)| match r {
                    Ok(UploadStanding::Live(u)) => {
                        assert_eq!(u.offset, len as i64, "round {round}");
                        Some(fill)
                    }
                    Err(FileError::OffsetMoved) => None,
                    other => panic!("round {round}: {other:?}"),
                })
                .collect();
            assert_eq!(won.len(), 1, "round {round}: exactly one chunk counts");
            let recorded = a.state.app.store.upload_parts(id).await.expect("parts");
            let listed = chunks(&b, id.0).await;
            assert_eq!(recorded.len(), 1, "round {round}");
            assert_eq!(
                listed.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
                vec![recorded[0].key.as_str()],
                "round {round}: the loser deleted its object"
            );
            for node in [&a, &b] {
                let h = head(node, &alice, &loc).await;
                assert_eq!(offset(&h), len, "round {round}");
            }
            let tail = patch(&b, &alice, &loc, len, b"0123456789", None).await;
            assert_eq!((tail.status, offset(&tail)), (204, len + 10));
            let mut expected = mine(won[0]);
            expected.extend_from_slice(b"0123456789");
            let file = a
                .send_raw(a.request(
                    Method::GET,
                    &format!("/api/v1/files/{}", id.0),
                    Some(&alice.token),
                ))
                .await;
            assert!(file.body == expected, "round {round}: mixed bytes");
        }
    }
}

/// A media token (what `<img>` and `<video>` carry in `?mt=`) reads the
/// files its user may read, Range included, and opens nothing else: not
/// the API, not the WebSocket, not after logout.
async fn media_tokens_read_files_and_nothing_else(app: TestApp) {
    let alice = app.user("alice_01").await;
    let bob = app.user("bob_0001").await;
    let carol = app.user("carol_01").await;
    let bytes = data(10_000);
    let up = simple_upload(&app, &alice, "notes.bin", &bytes).await;
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let id = up.json()["id"].as_i64().expect("file id");
    let room = app.group(&alice, "Team", &[bob.id]).await;
    assert_eq!(send_file(&app, &alice, room, "file", id).await.status, 201);
    // The room list's newest message is the whole message, file included.
    let rooms = app.get("/api/v1/rooms", Some(&bob.token)).await.json();
    let last = &rooms["items"][0]["last_message"];
    assert_eq!(last["file"]["id"], id, "{rooms}");
    assert_eq!(last["file"]["name"], "notes.bin", "{rooms}");

    let bob_mt = media_token(&app, &bob).await;
    let get = |path: String| app.send_raw(app.request(Method::GET, &path, None));
    let whole = get(format!("/api/v1/files/{id}?mt={bob_mt}")).await;
    assert_eq!(
        (whole.status, whole.body.as_slice()),
        (200, bytes.as_slice())
    );
    assert!(
        whole.header("authorization").is_none(),
        "a media token renews nothing"
    );
    let part = app
        .send_raw(
            app.request(
                Method::GET,
                &format!("/api/v1/files/{id}?mt={bob_mt}"),
                None,
            )
            .header("range", "bytes=0-99"),
        )
        .await;
    assert_eq!((part.status, part.body.as_slice()), (206, &bytes[..100]));
    // The token is taken out of the query before the handler parses it.
    let cover = get(format!("/api/v1/files/{id}/cover?mt={bob_mt}&t=0")).await;
    assert_ne!(cover.status, 401);
    assert_ne!(cover.json()["error"]["code"], "invalid_query");
    // With a header as well, `mt` is still not the handler's to parse.
    let both = app
        .send_raw(app.request(
            Method::GET,
            &format!("/api/v1/files/{id}/cover?mt={bob_mt}&t=0"),
            Some(&bob.token),
        ))
        .await;
    assert_eq!(both.status, cover.status);

    // Carol's token reads only what Carol may read.
    let carol_mt = media_token(&app, &carol).await;
    get(format!("/api/v1/files/{id}?mt={carol_mt}"))
        .await
        .assert_error(404, "file_not_found");
    // Nothing but the file routes takes it, and it is not a bearer token.
    get(format!("/api/v1/me?mt={bob_mt}"))
        .await
        .assert_error(401, "unauthenticated");
    app.get("/api/v1/me", Some(&bob_mt))
        .await
        .assert_error(401, "invalid_token");
    get(format!("/api/v1/files/{id}/meta?mt={bob_mt}"))
        .await
        .assert_error(401, "unauthenticated");
    let mut ws = app.ws_anonymous().await;
    ws.send(json!({"type": "auth", "id": 1, "token": bob_mt}))
        .await;
    let refused = ws.next().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_token", "{refused}");
    // An access token is not a media token either, nor is garbage.
    get(format!("/api/v1/files/{id}?mt={}", bob.token))
        .await
        .assert_error(401, "invalid_token");
    get(format!("/api/v1/files/{id}"))
        .await
        .assert_error(401, "unauthenticated");
    // It ends with its session.
    let out = app
        .post("/api/v1/auth/logout", Some(&bob.token), json!({}))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let after = get(format!("/api/v1/files/{id}?mt={bob_mt}")).await;
    assert_eq!(
        after.status,
        401,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
}

async fn media_token(app: &TestApp, who: &Login) -> String {
    let r = app
        .post("/api/v1/auth/media-token", Some(&who.token), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert!(v["expires_at"].is_string(), "{v}");
    v["token"].as_str().expect("token").to_owned()
}
