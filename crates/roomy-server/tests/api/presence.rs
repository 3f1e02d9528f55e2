//! Presence and typing with real clients: who hears that a user came online
//! or went offline, the grace period that hides quick reconnects, and typing
//! indicators with their membership check and rate limit.

use crate::harness::{Login, TestApp, Ws};
use serde_json::{Value, json};

crate::backend_tests!(
    typing_reaches_the_other_members_once_per_window,
    typing_needs_membership_and_a_room_id,
);

/// With no grace period, every last close is announced at once.
mod no_grace {
    use super::*;

    crate::backend_tests!(
        with |c| c.presence_grace_secs = 0;
        the_first_and_the_last_connection_are_announced,
    );

    async fn the_first_and_the_last_connection_are_announced(app: TestApp) {
        let a = app.user("pa_alice").await;
        let b = app.user("pa_bobby").await;
        let c = app.user("pa_carol").await;
        let d = app.user("pa_dave1").await;
        let probes = [app.user("pa_probe1").await, app.user("pa_probe2").await];
        app.group(&a, "Presence", &[b.id, probes[0].id, probes[1].id])
            .await;
        app.direct(&d, &b).await;
        let mut wa = watch(&app, &a).await;
        let mut wc = watch(&app, &c).await;
        let mut wd = watch(&app, &d).await;

        // A group member and a direct-room peer hear of b; c, who shares
        // no room with b, does not.
        let (b1, _) = app.ws(&b.token).await;
        for ws in [&mut wa, &mut wd] {
            assert_eq!(ws.next().await, presence(&b, true));
        }
        wc.assert_quiet().await;
        assert!(app.is_online(b.id));

        // A second device is not news, and neither is closing one of two
        // (d hears of b through the same envelopes as a: quiet after a's
        // barrier means quiet).
        let (b2, _) = app.ws(&b.token).await;
        let _p1 = barrier(&app, &mut wa, &probes[0]).await;
        wd.assert_quiet().await;
        drop(b1);
        app.wait_connections(b.id, 1).await;
        let _p2 = barrier(&app, &mut wa, &probes[1]).await;
        wd.assert_quiet().await;
        assert!(app.is_online(b.id));

        // The last one is.
        drop(b2);
        for ws in [&mut wa, &mut wd] {
            assert_eq!(ws.next().await, presence(&b, false));
            ws.assert_quiet().await;
        }
        wc.assert_quiet().await;
        assert!(!app.is_online(b.id));
    }
}

/// A grace period long enough that it never ends during a test.
mod long_grace {
    use super::*;

    crate::backend_tests!(
        with |c| c.presence_grace_secs = 60;
        a_reconnect_within_the_grace_announces_nothing,
    );

    async fn a_reconnect_within_the_grace_announces_nothing(app: TestApp) {
        let a = app.user("pg_alice").await;
        let b = app.user("pg_bobby").await;
        let probes = [app.user("pg_probe1").await, app.user("pg_probe2").await];
        app.group(&a, "Presence", &[b.id, probes[0].id, probes[1].id])
            .await;
        let mut wa = watch(&app, &a).await;
        let (wb, _) = app.ws(&b.token).await;
        assert_eq!(wa.next().await, presence(&b, true));

        drop(wb);
        app.wait_connections(b.id, 0).await;
        assert!(app.is_online(b.id), "online while in its grace period");
        let _p1 = barrier(&app, &mut wa, &probes[0]).await;

        // Back within the grace: neither an offline nor a second online.
        let (mut wb, _) = app.ws(&b.token).await;
        let _p2 = barrier(&app, &mut wa, &probes[1]).await;
        wa.assert_quiet().await;
        assert!(app.is_online(b.id));
        assert_eq!(app.state.hub.connections(roomy_core::UserId(b.id)), 1);
        wb.assert_quiet().await;
    }
}

/// A short grace period, to see it end.
mod short_grace {
    use super::*;

    crate::backend_tests!(
        with |c| c.presence_grace_secs = 1;
        offline_is_announced_when_the_grace_ends,
    );

    async fn offline_is_announced_when_the_grace_ends(app: TestApp) {
        let a = app.user("ps_alice").await;
        let b = app.user("ps_bobby").await;
        app.group(&a, "Presence", &[b.id]).await;
        let mut wa = watch(&app, &a).await;
        let (wb, _) = app.ws(&b.token).await;
        assert_eq!(wa.next().await, presence(&b, true));
        let closed = std::time::Instant::now();
        drop(wb);
        assert_eq!(wa.next().await, presence(&b, false));
        assert!(
            closed.elapsed() >= std::time::Duration::from_secs(1),
            "not before the grace ended"
        );
        assert!(!app.is_online(b.id));
        wa.assert_quiet().await;
    }
}

async fn typing_reaches_the_other_members_once_per_window(app: TestApp) {
    let a = app.user("ty_alice").await;
    let b = app.user("ty_bobby").await;
    let c = app.user("ty_carol").await;
    let d = app.user("ty_dave1").await;
    let room = app.group(&a, "Presence", &[b.id, c.id]).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let (mut wb2, _) = app.ws(&b.token).await;
    let (mut wc, _) = app.ws(&c.token).await;
    let (mut wd, _) = app.ws(&d.token).await;

    // Every other member's every device; not the typist, not an outsider;
    // and no reply.
    wa.send(json!({"type": "typing", "id": 1, "room_id": room}))
        .await;
    for ws in [&mut wb, &mut wb2, &mut wc] {
        assert_eq!(ws.next().await, typing(room, &a));
    }
    wa.assert_quiet().await;
    wd.assert_quiet().await;

    // Within 2 seconds (by the server's clock) the next one is refused.
    wa.send(json!({"type": "typing", "id": 2, "room_id": room}))
        .await;
    assert_error(&mut wa, "rate_limited", json!(2)).await;
    app.clock.advance(time::Duration::milliseconds(1_999));
    wa.send(json!({"type": "typing", "id": "3", "room_id": room}))
        .await;
    assert_error(&mut wa, "rate_limited", json!("3")).await;
    // Others have their own allowance.
    wb.send(json!({"type": "typing", "room_id": room})).await;
    for ws in [&mut wa, &mut wc] {
        assert_eq!(ws.next().await, typing(room, &b));
    }
    wb2.assert_quiet().await;
    wb.assert_quiet().await;

    // Once the window has passed, a's typing goes through again.
    app.clock.advance(time::Duration::milliseconds(1));
    wa.send(json!({"type": "typing", "id": 4, "room_id": room}))
        .await;
    for ws in [&mut wb, &mut wb2, &mut wc] {
        assert_eq!(ws.next().await, typing(room, &a));
    }
    wa.assert_quiet().await;
    wd.assert_quiet().await;
}

async fn typing_needs_membership_and_a_room_id(app: TestApp) {
    let a = app.user("tm_alice").await;
    let b = app.user("tm_bobby").await;
    let d = app.user("tm_dave1").await;
    let room = app.group(&a, "Presence", &[b.id]).await;
    let direct = app.direct(&a, &b).await;
    let (mut wa, _) = app.ws(&a.token).await;
    let (mut wb, _) = app.ws(&b.token).await;
    let (mut wd, _) = app.ws(&d.token).await;

    // An outsider is told the room is not theirs, every time: refusals do
    // not use up an allowance.
    for id in ["x1", "x2"] {
        wd.send(json!({"type": "typing", "id": id, "room_id": room}))
            .await;
        assert_error(&mut wd, "room_not_found", json!(id)).await;
    }
    wd.send(json!({"type": "typing", "id": 5, "room_id": 987_654_321}))
        .await;
    assert_error(&mut wd, "room_not_found", json!(5)).await;
    wa.assert_quiet().await;
    wb.assert_quiet().await;

    // Malformed frames keep their id.
    wd.send(json!({"type": "typing", "id": "m"})).await;
    assert_error(&mut wd, "invalid_frame", json!("m")).await;
    wd.send(json!({"type": "typing", "id": 6, "room_id": "abc"}))
        .await;
    assert_error(&mut wd, "invalid_frame", json!(6)).await;

    // A direct room works like a group.
    wb.send(json!({"type": "typing", "id": 7, "room_id": direct}))
        .await;
    assert_eq!(wa.next().await, typing(direct, &b));
    wb.assert_quiet().await;
    wd.assert_quiet().await;
}

/// Connects `probe` (online for the first time, sharing a room with the
/// watcher) and asserts `watcher` hears of it next. Presence changes are
/// announced in the order they happen, so whatever an earlier change
/// announced would have come first: proof that nothing was, without a sleep.
async fn barrier(app: &TestApp, watcher: &mut Ws, probe: &Login) -> Ws {
    let (ws, _) = app.ws(&probe.token).await;
    assert_eq!(
        watcher.next().await,
        presence(probe, true),
        "nothing before the probe"
    );
    ws
}

/// A connection of `who` that sees presence frames.
async fn watch(app: &TestApp, who: &Login) -> Ws {
    app.ws(&who.token).await.0.with_presence()
}

fn presence(who: &Login, online: bool) -> Value {
    json!({"type": "presence", "user_id": who.id, "online": online})
}

fn typing(room: i64, who: &Login) -> Value {
    json!({"type": "typing", "room_id": room, "user_id": who.id})
}

async fn assert_error(ws: &mut Ws, code: &str, id: Value) {
    let f = ws.next().await;
    assert_eq!(f["type"], "error", "{f}");
    assert_eq!((&f["error"]["code"], &f["id"]), (&json!(code), &id), "{f}");
}
