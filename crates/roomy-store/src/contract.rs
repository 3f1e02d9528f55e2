//! The backend-agnostic contract every [`Store`] must satisfy. Each backend
//! crate runs it with [`contract_tests!`](crate::contract_tests), so SQLite and
//! PostgreSQL are held to exactly the same behaviour.

#![allow(clippy::unwrap_used)]

use crate::{NewSession, NewUser, ProfileChanges, Store, StoreError};
use roomy_core::{
    Role, SessionId, UserId,
    user_fields::{AvatarUrl, Nickname, Username},
};
use time::{Duration, OffsetDateTime};

/// Generates one `#[tokio::test]` per contract check. `$make` is an async
/// expression yielding `Option<impl Store>`; `None` means "backend absent, skip".
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            create_and_fetch_user,
            usernames_are_unique_ignoring_case,
            credentials_carry_the_hash,
            profile_changes_are_partial,
            missing_users_are_not_found,
            search_matches_names_and_pages,
            search_takes_wildcards_literally,
            sessions_live_and_die,
            password_change_keeps_only_the_current_session,
            disabling_revokes_every_session,
            touching_moves_expiry,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if let Some(store) = $make.await {
                    $crate::contract::$name(&store).await;
                }
            }
        )*
    };
}

fn t0() -> OffsetDateTime {
    // Whole milliseconds: both backends store instants at millisecond precision.
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        nickname: Nickname::parse(&format!("Nick {name}")).unwrap(),
        password_hash: Some(format!("$argon2id$fake${name}")),
        role: Role::User,
    }
}

fn new_session(user: UserId, now: OffsetDateTime) -> NewSession {
    NewSession {
        user_id: user,
        now,
        expires_at: now + Duration::hours(1),
        user_agent: Some("contract/1".into()),
        ip: Some("127.0.0.1".into()),
    }
}

/// A created user reads back the same, by id.
pub async fn create_and_fetch_user(store: &impl Store) {
    let u = store.create_user(new_user("alice_1"), t0()).await.unwrap();
    assert_eq!(u.username, "alice_1");
    assert_eq!(u.nickname, "Nick alice_1");
    assert_eq!(u.role, Role::User);
    assert!(u.invite_confirm, "friend requests need approval by default");
    assert!(!u.disabled);
    assert_eq!(u.created_at, t0());
    assert_eq!(store.user(u.id).await.unwrap(), Some(u.clone()));
    let guest = NewUser {
        password_hash: None,
        role: Role::Guest,
        ..new_user("guest_abc")
    };
    let g = store.create_user(guest, t0()).await.unwrap();
    assert_eq!(g.role, Role::Guest);
    assert_ne!(g.id, u.id);
}

/// "Alice_1" and "alice_1" cannot both exist.
pub async fn usernames_are_unique_ignoring_case(store: &impl Store) {
    store.create_user(new_user("alice_1"), t0()).await.unwrap();
    let err = store
        .create_user(new_user("ALICE_1"), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
}

/// Login finds the account by any casing, with its hash.
pub async fn credentials_carry_the_hash(store: &impl Store) {
    let u = store.create_user(new_user("bob_123"), t0()).await.unwrap();
    let c = store
        .credentials_by_username("BOB_123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.user, u);
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$fake$bob_123"));
    assert!(
        store
            .credentials_by_username("nobody_")
            .await
            .unwrap()
            .is_none()
    );
    let by_id = store.credentials(u.id).await.unwrap().unwrap();
    assert_eq!(by_id.user, u);
}

/// Only the fields given change; an avatar can be set and cleared.
pub async fn profile_changes_are_partial(store: &impl Store) {
    let u = store.create_user(new_user("carol_1"), t0()).await.unwrap();
    let later = t0() + Duration::seconds(5);
    let changed = store
        .update_profile(
            u.id,
            ProfileChanges {
                avatar: Some(Some(AvatarUrl::parse("https://img.example/c.png").unwrap())),
                invite_confirm: Some(false),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(changed.nickname, u.nickname);
    assert_eq!(changed.avatar.as_deref(), Some("https://img.example/c.png"));
    assert!(!changed.invite_confirm);
    assert_eq!(changed.updated_at, later);
    let cleared = store
        .update_profile(
            u.id,
            ProfileChanges {
                nickname: Some(Nickname::parse("Caroline").unwrap()),
                avatar: Some(None),
                ..Default::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(cleared.nickname, "Caroline");
    assert_eq!(cleared.avatar, None);
    assert!(!cleared.invite_confirm);
}

/// Operations on a user that does not exist say so.
pub async fn missing_users_are_not_found(store: &impl Store) {
    let ghost = UserId(987_654);
    assert!(store.user(ghost).await.unwrap().is_none());
    assert!(matches!(
        store
            .update_profile(ghost, ProfileChanges::default(), t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_disabled(ghost, true, t0()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_password(ghost, "h".into(), SessionId(1), t0())
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Search looks at usernames and nicknames, skips disabled users and pages by id.
pub async fn search_matches_names_and_pages(store: &impl Store) {
    let mut ids = Vec::new();
    for name in ["zed_one", "zed_two", "zed_three", "other_1"] {
        ids.push(store.create_user(new_user(name), t0()).await.unwrap().id);
    }
    let mut by_nick = new_user("plain_1");
    by_nick.nickname = Nickname::parse("Zedd").unwrap();
    let nick = store.create_user(by_nick, t0()).await.unwrap();
    store.set_disabled(ids[2], true, t0()).await.unwrap();

    let all = store.search_users("ZED", None, 10).await.unwrap();
    let got: Vec<_> = all.iter().map(|u| u.id).collect();
    assert_eq!(got, vec![ids[0], ids[1], nick.id]);

    let first = store.search_users("zed", None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .search_users("zed", Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|u| u.id).collect::<Vec<_>>(), vec![nick.id]);
}

/// `%` and `_` in a query match only themselves.
pub async fn search_takes_wildcards_literally(store: &impl Store) {
    store
        .create_user(new_user("under_score"), t0())
        .await
        .unwrap();
    store
        .create_user(new_user("underXscore"), t0())
        .await
        .unwrap();
    store
        .create_user(new_user("per%cent1"), t0())
        .await
        .unwrap();
    let hits = store.search_users("r_s", None, 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].username, "under_score");
    assert_eq!(store.search_users("%", None, 10).await.unwrap().len(), 1);
}

/// Sessions are created, found with their user, listed while active and revoked once.
pub async fn sessions_live_and_die(store: &impl Store) {
    let u = store.create_user(new_user("dave_12"), t0()).await.unwrap();
    let other = store.create_user(new_user("erin_12"), t0()).await.unwrap();
    let s1 = store.create_session(new_session(u.id, t0())).await.unwrap();
    let s2 = store
        .create_session(new_session(u.id, t0() + Duration::seconds(1)))
        .await
        .unwrap();
    assert_ne!(s1.id, s2.id);
    assert_eq!(s1.user_agent.as_deref(), Some("contract/1"));

    let (found, owner) = store.session_with_user(s1.id).await.unwrap().unwrap();
    assert_eq!(found, s1);
    assert_eq!(owner, u);
    assert!(found.is_active(t0()));

    let listed = store.active_sessions(u.id, t0()).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s2.id, s1.id]
    );
    assert!(
        store
            .active_sessions(u.id, t0() + Duration::hours(2))
            .await
            .unwrap()
            .is_empty(),
        "expired sessions are not listed"
    );

    assert!(!store.revoke_session(other.id, s1.id, t0()).await.unwrap());
    assert!(store.revoke_session(u.id, s1.id, t0()).await.unwrap());
    assert!(!store.revoke_session(u.id, s1.id, t0()).await.unwrap());
    let (revoked, _) = store.session_with_user(s1.id).await.unwrap().unwrap();
    assert!(!revoked.is_active(t0()));
    assert_eq!(store.active_sessions(u.id, t0()).await.unwrap().len(), 1);
    assert!(
        store
            .session_with_user(SessionId(999_999))
            .await
            .unwrap()
            .is_none()
    );
}

/// A new password ends every other session in the same transaction.
pub async fn password_change_keeps_only_the_current_session(store: &impl Store) {
    let u = store.create_user(new_user("frank_1"), t0()).await.unwrap();
    let keep = store.create_session(new_session(u.id, t0())).await.unwrap();
    let other = store.create_session(new_session(u.id, t0())).await.unwrap();
    store
        .set_password(u.id, "$argon2id$new".into(), keep.id, t0())
        .await
        .unwrap();
    let active: Vec<_> = store
        .active_sessions(u.id, t0())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(active, vec![keep.id]);
    let (o, _) = store.session_with_user(other.id).await.unwrap().unwrap();
    assert!(o.revoked_at.is_some());
    let c = store.credentials(u.id).await.unwrap().unwrap();
    assert_eq!(c.password_hash.as_deref(), Some("$argon2id$new"));
}

/// Disabling ends all sessions; re-enabling does not bring them back.
pub async fn disabling_revokes_every_session(store: &impl Store) {
    let u = store.create_user(new_user("grace_1"), t0()).await.unwrap();
    store.create_session(new_session(u.id, t0())).await.unwrap();
    let disabled = store.set_disabled(u.id, true, t0()).await.unwrap();
    assert!(disabled.disabled);
    assert!(store.active_sessions(u.id, t0()).await.unwrap().is_empty());
    let enabled = store.set_disabled(u.id, false, t0()).await.unwrap();
    assert!(!enabled.disabled);
    assert!(store.active_sessions(u.id, t0()).await.unwrap().is_empty());
}

/// Touching records use and, on renewal, moves the expiry.
pub async fn touching_moves_expiry(store: &impl Store) {
    let u = store.create_user(new_user("heidi_1"), t0()).await.unwrap();
    let s = store.create_session(new_session(u.id, t0())).await.unwrap();
    let later = t0() + Duration::minutes(40);
    store.touch_session(s.id, later, None).await.unwrap();
    let (t, _) = store.session_with_user(s.id).await.unwrap().unwrap();
    assert_eq!(t.last_used_at, later);
    assert_eq!(t.expires_at, s.expires_at);
    let new_expiry = later + Duration::hours(1);
    store
        .touch_session(s.id, later, Some(new_expiry))
        .await
        .unwrap();
    let (r, _) = store.session_with_user(s.id).await.unwrap().unwrap();
    assert_eq!(r.expires_at, new_expiry);
}
