//! The file half of the store contract (see [`crate::chat`] for the rest): uploads
//! and their quota reservations, files and who may read them, and the job
//! queue. The `concurrent_*` checks race calls that must not both win.
//!
//! Each check is private and named in [`checks`] below: one missing from that
//! list is dead code, which the workspace's `clippy -D warnings` rejects, so
//! a check cannot be written and silently never run.

#![allow(clippy::unwrap_used)]

use crate::Check;
use crate::chat::{ANYONE, group, stored, t0, text, users};
use roomy_core::{FileId, UserId, chat_fields::MessageKind};
use roomy_store::{
    JobKind, MediaClass, Missing, NewFile, NewMessage, NewUpload, Prepared, Revoker, Store,
    StoreError, UploadExpiry, UploadPart,
};
use time::Duration;

fn new_upload(owner: UserId, length: i64) -> NewUpload {
    NewUpload {
        owner,
        length,
        name: "movie.mp4".into(),
        expires_at: t0() + Duration::hours(24),
    }
}

fn new_file(owner: UserId, key: &str, size: i64, media: MediaClass) -> NewFile {
    NewFile {
        owner,
        key: key.into(),
        name: "cat.png".into(),
        size,
        mime: "image/png".into(),
        sha256: "ab".repeat(32),
        media,
    }
}

/// An upload reserves its length; its offset moves only from where it is;
/// only a complete upload becomes a file, with the upload's id.
async fn uploads_reserve_quota_and_become_files(store: &impl Store) {
    let u = users(store, &["up_owner", "up_other"]).await;
    let up = store
        .create_upload(new_upload(u[0], 60), 100, 10, t0())
        .await
        .unwrap();
    assert_eq!((up.offset, up.length, up.owner), (0, 60, u[0]));
    assert_eq!(store.storage_used(u[0]).await.unwrap(), 60);
    assert!(matches!(
        store
            .create_upload(new_upload(u[0], 41), 100, 10, t0())
            .await,
        Err(StoreError::QuotaExceeded {
            used: 60,
            quota: 100
        })
    ));
    // Someone else's quota is their own.
    store
        .create_upload(new_upload(u[1], 100), 100, 10, t0())
        .await
        .unwrap();
    let later = t0() + Duration::hours(30);
    assert!(store.advance_upload(up.id, 0, 20, later).await.unwrap());
    assert!(!store.advance_upload(up.id, 0, 40, later).await.unwrap());
    let now = store.upload(up.id).await.unwrap().unwrap();
    assert_eq!((now.offset, now.expires_at), (20, later));
    let early = store
        .finish_upload(
            up.id,
            new_file(u[0], "files/a", 60, MediaClass::Video),
            t0(),
        )
        .await;
    assert!(matches!(early, Err(StoreError::NotFound(Missing::Upload))));
    let prepared = Prepared {
        key: "files/a".into(),
        sha256: "ab".repeat(32),
        mime: "video/mp4".into(),
        media: MediaClass::Video,
    };
    assert!(
        !store.prepare_upload(up.id, &prepared).await.unwrap(),
        "not complete yet"
    );
    assert!(store.advance_upload(up.id, 20, 60, later).await.unwrap());
    assert!(store.prepare_upload(up.id, &prepared).await.unwrap());
    assert!(
        !store.prepare_upload(up.id, &prepared).await.unwrap(),
        "prepared once"
    );
    let ready = store.upload(up.id).await.unwrap().unwrap();
    assert_eq!(ready.prepared, Some(prepared));
    let file = store
        .finish_upload(
            up.id,
            new_file(u[0], "files/a", 60, MediaClass::Video),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(file.id, up.id);
    assert_eq!(
        (file.size, file.media, file.thumbnail.clone()),
        (60, MediaClass::Video, None)
    );
    assert_eq!(store.file(up.id).await.unwrap().unwrap(), file);
    assert_eq!(store.upload(up.id).await.unwrap(), None);
    assert_eq!(store.storage_used(u[0]).await.unwrap(), 60);
    assert!(!store.delete_upload(up.id).await.unwrap());
    // One-request files share the id space and the quota.
    let small = store
        .create_file(new_file(u[0], "files/b", 30, MediaClass::Other), 100, t0())
        .await
        .unwrap();
    assert!(small.id > up.id);
    assert!(matches!(
        store
            .create_file(new_file(u[0], "files/c", 11, MediaClass::Other), 100, t0())
            .await,
        Err(StoreError::QuotaExceeded { .. })
    ));
    let other = store
        .create_upload(new_upload(u[0], 10), 100, 10, t0())
        .await
        .unwrap();
    assert!(store.delete_upload(other.id).await.unwrap());
    assert_eq!(store.storage_used(u[0]).await.unwrap(), 90);
    store
        .set_derivative(file.id, true, "covers/x.jpg", "image/jpeg")
        .await
        .unwrap();
    let covered = store.file(file.id).await.unwrap().unwrap();
    assert_eq!(
        covered.cover,
        Some(("covers/x.jpg".into(), "image/jpeg".into()))
    );
    assert!(matches!(
        store.set_derivative(FileId(999_999), false, "k", "m").await,
        Err(StoreError::NotFound(Missing::File))
    ));
}

/// Expiry checks find an upload extended, expired (then removed, naming
/// the key its bytes were prepared for) or gone; open uploads are capped.
async fn expiry_checks_extend_or_remove(store: &impl Store) {
    let u = users(store, &["exp_owner"]).await;
    let a = store
        .create_upload(new_upload(u[0], 0), 100, 2, t0())
        .await
        .unwrap();
    store
        .create_upload(new_upload(u[0], 0), 100, 2, t0())
        .await
        .unwrap();
    assert!(matches!(
        store.create_upload(new_upload(u[0], 0), 100, 2, t0()).await,
        Err(StoreError::TooManyUploads(2))
    ));
    let prepared = Prepared {
        key: "files/z".into(),
        sha256: "00".repeat(32),
        mime: "text/plain".into(),
        media: MediaClass::Other,
    };
    assert!(store.prepare_upload(a.id, &prepared).await.unwrap());
    let due = t0() + Duration::hours(24);
    assert_eq!(
        store.expire_upload(a.id, due).await.unwrap(),
        UploadExpiry::Expired(Some("files/z".into()))
    );
    let up = store
        .create_upload(new_upload(u[0], 10), 100, 10, t0())
        .await
        .unwrap();
    let due = t0() + Duration::hours(24);
    assert_eq!(
        store
            .expire_upload(up.id, due - Duration::seconds(1))
            .await
            .unwrap(),
        UploadExpiry::Extended(due)
    );
    assert_eq!(
        store.expire_upload(up.id, due).await.unwrap(),
        UploadExpiry::Expired(None)
    );
    assert_eq!(store.upload(up.id).await.unwrap(), None);
    assert_eq!(store.storage_used(u[0]).await.unwrap(), 0);
    assert_eq!(
        store.expire_upload(up.id, due).await.unwrap(),
        UploadExpiry::Gone
    );
}

/// Chunks kept as objects are recorded with the offset's compare-and-set:
/// only the writer that moved the offset records its object, racing
/// writers at one offset record one, and the records go with the upload.
async fn upload_parts_are_recorded_with_the_offset(store: &impl Store) {
    let u = users(store, &["part_owner"]).await;
    let later = t0() + Duration::hours(30);
    let up = store
        .create_upload(new_upload(u[0], 60), 1000, 10, t0())
        .await
        .unwrap();
    assert_eq!(store.upload_parts(up.id).await.unwrap(), vec![]);
    assert!(
        store
            .advance_upload_part(up.id, 0, 20, "uploads/1/0_a", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_upload_part(up.id, 0, 30, "uploads/1/0_b", later)
            .await
            .unwrap(),
        "the offset moved: the loser records nothing"
    );
    assert!(
        store
            .advance_upload_part(up.id, 20, 60, "uploads/1/20_c", later)
            .await
            .unwrap()
    );
    let part = |start, end, key: &str| UploadPart {
        start,
        end,
        key: key.into(),
    };
    assert_eq!(
        store.upload_parts(up.id).await.unwrap(),
        vec![part(0, 20, "uploads/1/0_a"), part(20, 60, "uploads/1/20_c")]
    );
    let now = store.upload(up.id).await.unwrap().unwrap();
    assert_eq!((now.offset, now.expires_at), (60, later));
    // Finishing, terminating and expiring take the records along.
    let prepared = Prepared {
        key: "files/p".into(),
        sha256: "ab".repeat(32),
        mime: "video/mp4".into(),
        media: MediaClass::Video,
    };
    assert!(store.prepare_upload(up.id, &prepared).await.unwrap());
    store
        .finish_upload(
            up.id,
            new_file(u[0], "files/p", 60, MediaClass::Video),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.upload_parts(up.id).await.unwrap(), vec![]);
    let gone = store
        .create_upload(new_upload(u[0], 10), 1000, 10, t0())
        .await
        .unwrap();
    assert!(
        store
            .advance_upload_part(gone.id, 0, 5, "uploads/2/0_a", later)
            .await
            .unwrap()
    );
    assert!(store.delete_upload(gone.id).await.unwrap());
    assert_eq!(store.upload_parts(gone.id).await.unwrap(), vec![]);
    let old = store
        .create_upload(new_upload(u[0], 10), 1000, 10, t0())
        .await
        .unwrap();
    assert!(
        store
            .advance_upload_part(old.id, 0, 5, "uploads/3/0_a", t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.expire_upload(old.id, later).await.unwrap(),
        UploadExpiry::Expired(None)
    );
    assert_eq!(store.upload_parts(old.id).await.unwrap(), vec![]);
}

/// Two writers racing at one offset: exactly one moves it and records its part.
async fn concurrent_parts_record_one(store: &impl Store) {
    let u = users(store, &["part_racer"]).await;
    let later = t0() + Duration::hours(30);
    for round in 0..10 {
        let up = store
            .create_upload(new_upload(u[0], 10), 1000, 100, t0())
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            store.advance_upload_part(up.id, 0, 10, "uploads/r/0_a", later),
            store.advance_upload_part(up.id, 0, 4, "uploads/r/0_b", later),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a != b, "round {round}: exactly one wins ({a}, {b})");
        let parts = store.upload_parts(up.id).await.unwrap();
        let offset = store.upload(up.id).await.unwrap().unwrap().offset;
        let (key, end) = if a {
            ("uploads/r/0_a", 10)
        } else {
            ("uploads/r/0_b", 4)
        };
        assert_eq!(
            parts,
            vec![UploadPart {
                start: 0,
                end,
                key: key.into()
            }],
            "round {round}"
        );
        assert_eq!(offset, end, "round {round}");
    }
}

/// Jobs come due at their time, are leased to one runner, return when a
/// lease runs out, can be deferred or given up on, and go when completed.
async fn jobs_are_leased_deferred_and_completed(store: &impl Store) {
    let u = users(store, &["job_owner"]).await;
    let up = store
        .create_upload(new_upload(u[0], 10), 100, 10, t0())
        .await
        .unwrap();
    // Only images and videos get work.
    store
        .create_file(new_file(u[0], "files/o", 1, MediaClass::Other), 100, t0())
        .await
        .unwrap();
    let img = store
        .create_file(new_file(u[0], "files/i", 1, MediaClass::Image), 100, t0())
        .await
        .unwrap();
    let lease = t0() + Duration::minutes(10);
    let job = store.claim_job(t0(), lease).await.unwrap().unwrap();
    assert_eq!(
        (job.kind, job.subject, job.attempts),
        (JobKind::Derive, img.id.0, 1)
    );
    // The upload's expiry check is not due yet; the derive job is leased.
    assert_eq!(store.claim_job(t0(), lease).await.unwrap(), None);
    let again = store
        .claim_job(lease, lease + Duration::minutes(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (job.id, 2));
    store
        .defer_job(
            job.id,
            Some(t0() + Duration::hours(25)),
            Some("storage down"),
        )
        .await
        .unwrap();
    let at_expiry = t0() + Duration::hours(24);
    let expiry = store
        .claim_job(at_expiry, at_expiry + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (expiry.kind, expiry.subject),
        (JobKind::ExpireUpload, up.id.0)
    );
    store.complete_job(expiry.id).await.unwrap();
    // The deferred job is due again; given up on, it never returns.
    let later = t0() + Duration::hours(25);
    let third = store
        .claim_job(later, later + Duration::minutes(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((third.id, third.attempts), (job.id, 3));
    store.defer_job(job.id, None, Some("broken")).await.unwrap();
    let far = later + Duration::days(365);
    assert_eq!(store.claim_job(far, far).await.unwrap(), None);
}

/// Runners racing for jobs each get a different one.
async fn concurrent_claims_take_each_job_once(store: &impl Store) {
    let u = users(store, &["claim_owner"]).await;
    for i in 0..3 {
        store
            .create_file(
                new_file(u[0], &format!("files/{i}"), 1, MediaClass::Image),
                100,
                t0(),
            )
            .await
            .unwrap();
    }
    let lease = t0() + Duration::minutes(10);
    let (a, b, c, d, e, f) = tokio::join!(
        store.claim_job(t0(), lease),
        store.claim_job(t0(), lease),
        store.claim_job(t0(), lease),
        store.claim_job(t0(), lease),
        store.claim_job(t0(), lease),
        store.claim_job(t0(), lease),
    );
    let mut ids: Vec<i64> = [a, b, c, d, e, f]
        .into_iter()
        .filter_map(|r| r.unwrap())
        .map(|j| j.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each job claimed exactly once");
}

/// Uploads racing for the last of a quota: only what fits is reserved.
async fn concurrent_uploads_respect_the_quota(store: &impl Store) {
    let u = users(store, &["race_owner"]).await;
    let (a, b, c, d) = tokio::join!(
        store.create_upload(new_upload(u[0], 40), 100, 10, t0()),
        store.create_upload(new_upload(u[0], 40), 100, 10, t0()),
        store.create_upload(new_upload(u[0], 40), 100, 10, t0()),
        store.create_upload(new_upload(u[0], 40), 100, 10, t0()),
    );
    let ok = [a, b, c, d].into_iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 2);
    assert_eq!(store.storage_used(u[0]).await.unwrap(), 80);
}

/// A file is readable by its owner and by members of a room where a live
/// message carries it; messages show it; a revocation hides it.
async fn files_are_shared_through_messages(store: &impl Store) {
    let u = users(store, &["fs_owner", "fs_member", "fs_stranger"]).await;
    let file = store
        .create_file(new_file(u[0], "files/s", 5, MediaClass::Image), 100, t0())
        .await
        .unwrap();
    assert!(store.file_readable(file.id, u[0]).await.unwrap());
    assert!(!store.file_readable(file.id, u[1]).await.unwrap());
    assert!(!store.file_readable(FileId(999_999), u[0]).await.unwrap());
    let room = group(store, u[0], &[u[1]]).await;
    let message = NewMessage {
        kind: MessageKind::Image,
        body: None,
        file: Some(file.attachment()),
        ..text(room, u[0], "img-1", "x")
    };
    let out = store
        .append_messages(&[message], ANYONE, t0())
        .await
        .unwrap();
    let sent = stored(&out[0]).clone();
    assert_eq!(sent.file, Some(Box::new(file.attachment())));
    let history = store.history(room, u[1], None, None, 10).await.unwrap();
    let shown = history.iter().find(|m| m.id == sent.id).unwrap();
    assert_eq!(shown.file, Some(Box::new(file.attachment())));
    assert!(store.file_readable(file.id, u[1]).await.unwrap());
    assert!(!store.file_readable(file.id, u[2]).await.unwrap());
    let mut audience = store.file_audience(file.id).await.unwrap();
    audience.sort();
    assert_eq!(audience, vec![u[0], u[1]]);
    store
        .revoke_message(sent.id, Revoker::Sender, "revoked".into(), t0())
        .await
        .unwrap();
    assert!(!store.file_readable(file.id, u[1]).await.unwrap());
    let history = store.history(room, u[1], None, None, 10).await.unwrap();
    assert_eq!(history.iter().find(|m| m.id == sent.id).unwrap().file, None);
}

/// Every check of this module, each to run against a fresh store.
pub(crate) fn checks<S: Store>() -> Vec<Check<S>> {
    vec![
        Check::new(
            "uploads_reserve_quota_and_become_files",
            uploads_reserve_quota_and_become_files,
        ),
        Check::new(
            "expiry_checks_extend_or_remove",
            expiry_checks_extend_or_remove,
        ),
        Check::new(
            "upload_parts_are_recorded_with_the_offset",
            upload_parts_are_recorded_with_the_offset,
        ),
        Check::new("concurrent_parts_record_one", concurrent_parts_record_one),
        Check::new(
            "jobs_are_leased_deferred_and_completed",
            jobs_are_leased_deferred_and_completed,
        ),
        Check::new(
            "concurrent_claims_take_each_job_once",
            concurrent_claims_take_each_job_once,
        ),
        Check::new(
            "concurrent_uploads_respect_the_quota",
            concurrent_uploads_respect_the_quota,
        ),
        Check::new(
            "files_are_shared_through_messages",
            files_are_shared_through_messages,
        ),
    ]
}
