//! Follows, mutual follows, blocks and the profile's relationship view, over
//! HTTP, with the follow-graph cache in process and in Redis.

use crate::harness::{Login, TestApp};
use serde_json::{Value, json};

crate::cache_backend_tests!(
    follow_and_follow_back_makes_mutual,
    follows_are_validated_and_idempotent,
    lists_page_newest_first_with_followed_at,
    reads_are_never_stale_after_changes,
    blocks_cut_follows_and_refuse_contact,
    relationship_and_counts_on_profiles,
);

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect()
}

async fn follow(app: &TestApp, who: &Login, target: i64) -> crate::harness::Resp {
    app.put(&format!("/api/v1/me/following/{target}"), Some(&who.token))
        .await
}

async fn mutual(app: &TestApp, viewer: &Login, of: i64) -> Vec<i64> {
    let r = app
        .get(&format!("/api/v1/users/{of}/mutual"), Some(&viewer.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    ids(&r.json())
}

/// Seed 000's flow: A follows B, B follows back, both see each other in mutual.
async fn follow_and_follow_back_makes_mutual(app: TestApp) {
    let a = app.user("mut_alice").await;
    let b = app.user("mut_bobby").await;
    let r = follow(&app, &a, b.id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"target": b.id}));
    assert!(mutual(&app, &a, a.id).await.is_empty());
    follow(&app, &b, a.id).await;
    assert_eq!(mutual(&app, &a, a.id).await, vec![b.id]);
    assert_eq!(mutual(&app, &a, b.id).await, vec![a.id]);
    let r = app
        .delete(&format!("/api/v1/me/following/{}", a.id), Some(&b.token))
        .await;
    assert_eq!(r.json(), json!({"target": a.id}));
    assert!(mutual(&app, &b, a.id).await.is_empty());
    assert!(mutual(&app, &b, b.id).await.is_empty());
}

/// Yourself is 422, a missing user 404, and repeats change nothing.
async fn follows_are_validated_and_idempotent(app: TestApp) {
    let a = app.user("val_alice").await;
    let b = app.user("val_bobby").await;
    let r = follow(&app, &a, a.id).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["error"]["fields"]["user_id"],
        "you cannot follow yourself"
    );
    let r = follow(&app, &a, 987_654).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("user_not_found"))
    );
    let r = app.put("/api/v1/me/following/abc", Some(&a.token)).await;
    assert_eq!(r.status, 400);
    assert_eq!(follow(&app, &a, b.id).await.status, 200);
    assert_eq!(follow(&app, &a, b.id).await.status, 200);
    let followers = app
        .get(&format!("/api/v1/users/{}/followers", b.id), Some(&a.token))
        .await
        .json();
    assert_eq!(ids(&followers), vec![a.id]);
    let p = app
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .json();
    assert_eq!(p["followers_count"], 1);
    // Unfollowing someone not followed is fine too.
    let r = app
        .delete(&format!("/api/v1/me/following/{}", a.id), Some(&b.token))
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .put(&format!("/api/v1/me/following/{}", b.id), None)
        .await;
    assert_eq!(r.status, 401);
}

/// Followers and following come newest follow first, paged by cursor, each with `followed_at`.
async fn lists_page_newest_first_with_followed_at(app: TestApp) {
    let star = app.user("lst_star").await;
    let mut fans = Vec::new();
    for i in 0..5 {
        let fan = app.user(&format!("lst_fan_{i}")).await;
        app.clock.advance(time::Duration::seconds(1));
        follow(&app, &fan, star.id).await;
        fans.push(fan.id);
    }
    let page = app
        .get(
            &format!("/api/v1/users/{}/followers?limit=2", star.id),
            Some(&star.token),
        )
        .await
        .json();
    assert_eq!(ids(&page), vec![fans[4], fans[3]]);
    let first_at = page["items"][0]["followed_at"]
        .as_str()
        .expect("followed_at");
    assert!(first_at.ends_with('Z'));
    assert_eq!(page["items"][0]["username"], "lst_fan_4");
    let mut seen = ids(&page);
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let next = app
            .get(
                &format!("/api/v1/users/{}/followers?limit=2&cursor={c}", star.id),
                Some(&star.token),
            )
            .await
            .json();
        seen.extend(ids(&next));
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    let mut newest_first = fans.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let following = app
        .get(
            &format!("/api/v1/users/{}/following", fans[0]),
            Some(&star.token),
        )
        .await
        .json();
    assert_eq!(ids(&following), vec![star.id]);
    let r = app
        .get("/api/v1/users/987654/followers", Some(&star.token))
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .get(
            &format!("/api/v1/users/{}/mutual?cursor=nonsense", star.id),
            Some(&star.token),
        )
        .await;
    assert_eq!(r.status, 422);
}

/// The cache never answers from before a change (a stale cached `mutual` after unfollowing is the classic bug here):
/// every change is followed by reads of counts, relationship and mutual.
async fn reads_are_never_stale_after_changes(app: TestApp) {
    let a = app.user("stale_alice").await;
    let b = app.user("stale_bobby").await;
    let c = app.user("stale_carol").await;
    let profile = |viewer: &Login, of: i64| {
        let path = format!("/api/v1/users/{of}");
        let token = viewer.token.clone();
        let app = &app;
        async move { app.get(&path, Some(&token)).await.json() }
    };
    // Warm the cache for A, then change the graph under it, many times.
    for round in 0..3 {
        assert!(mutual(&app, &a, a.id).await.is_empty(), "round {round}");
        follow(&app, &a, b.id).await;
        follow(&app, &b, a.id).await;
        follow(&app, &c, a.id).await;
        assert_eq!(mutual(&app, &a, a.id).await, vec![b.id], "round {round}");
        let p = profile(&a, a.id).await;
        assert_eq!(
            (p["following_count"].clone(), p["followers_count"].clone()),
            (json!(1), json!(2))
        );
        let p = profile(&b, a.id).await;
        assert_eq!(p["relationship"]["following"], true);
        assert_eq!(p["relationship"]["followed_by"], true);
        app.delete(&format!("/api/v1/me/following/{}", a.id), Some(&b.token))
            .await;
        assert!(mutual(&app, &a, a.id).await.is_empty(), "round {round}");
        let p = profile(&b, a.id).await;
        assert_eq!(p["relationship"]["following"], false);
        assert_eq!(p["followers_count"], 1);
        app.put(&format!("/api/v1/me/blocks/{}", c.id), Some(&a.token))
            .await;
        assert_eq!(profile(&a, a.id).await["followers_count"], 0);
        app.delete(&format!("/api/v1/me/blocks/{}", c.id), Some(&a.token))
            .await;
        app.delete(&format!("/api/v1/me/following/{}", b.id), Some(&a.token))
            .await;
    }
}

/// A block ends follows both ways; the blocked user cannot follow, ask or
/// message the blocker (403 `blocked`), while their shared group still works.
async fn blocks_cut_follows_and_refuse_contact(app: TestApp) {
    let a = app.user("blk_alice").await;
    let b = app.user("blk_bobby").await;
    let room = app.direct(&a, &b).await;
    let group = app
        .post(
            "/api/v1/rooms",
            Some(&a.token),
            json!({"name": "Both", "member_ids": [b.id]}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("group");
    follow(&app, &a, b.id).await;
    follow(&app, &b, a.id).await;
    let r = app
        .put(&format!("/api/v1/me/blocks/{}", b.id), Some(&a.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(mutual(&app, &a, a.id).await.is_empty());
    let p = app
        .get(&format!("/api/v1/users/{}", a.id), Some(&a.token))
        .await
        .json();
    assert_eq!(
        (p["following_count"].clone(), p["followers_count"].clone()),
        (json!(0), json!(0))
    );
    let code = |r: crate::harness::Resp| (r.status, r.json()["error"]["code"].clone());
    assert_eq!(code(follow(&app, &b, a.id).await), (403, json!("blocked")));
    assert_eq!(
        code(follow(&app, &a, b.id).await),
        (403, json!("you_blocked_user"))
    );
    let r = app
        .post(
            "/api/v1/friend-requests",
            Some(&b.token),
            json!({"user_id": a.id}),
        )
        .await;
    assert_eq!(code(r), (403, json!("blocked")));
    let r = app
        .post(
            "/api/v1/rooms/direct",
            Some(&b.token),
            json!({"user_id": a.id}),
        )
        .await;
    assert_eq!(code(r), (403, json!("blocked")));
    let send = |who: &Login, room: i64, cid: &str| {
        let (path, token) = (format!("/api/v1/rooms/{room}/messages"), who.token.clone());
        let body = json!({"client_id": cid, "kind": "text", "body": "hello?"});
        let app = &app;
        async move { app.post(&path, Some(&token), body).await }
    };
    assert_eq!(code(send(&b, room, "d1").await), (403, json!("blocked")));
    assert_eq!(code(send(&a, room, "d2").await), (403, json!("blocked")));
    assert_eq!(send(&b, group, "g1").await.status, 201);
    // Over the WebSocket too, with the request id.
    let (mut ws, _) = app.ws(&b.token).await;
    ws.send(
        json!({"type": "send", "id": "w1", "room_id": room, "client_id": "w1",
                   "kind": "text", "body": "hi"}),
    )
    .await;
    let f = ws.next().await;
    assert_eq!(
        (f["type"].clone(), f["id"].clone()),
        (json!("error"), json!("w1"))
    );
    assert_eq!(f["error"]["code"], "blocked");
    let blocks = app.get("/api/v1/me/blocks", Some(&a.token)).await.json();
    assert_eq!(ids(&blocks), vec![b.id]);
    assert!(blocks["items"][0]["blocked_at"].is_string());
    let p = app
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .json();
    assert_eq!(p["relationship"]["blocked"], true);
    let r = app
        .delete(&format!("/api/v1/me/blocks/{}", b.id), Some(&a.token))
        .await;
    assert_eq!(r.json(), json!({"target": b.id}));
    assert_eq!(send(&b, room, "d3").await.status, 201);
    assert_eq!(follow(&app, &b, a.id).await.status, 200);
    let r = app
        .put(&format!("/api/v1/me/blocks/{}", a.id), Some(&a.token))
        .await;
    assert_eq!(r.status, 422);
    let r = app.put("/api/v1/me/blocks/987654", Some(&a.token)).await;
    assert_eq!(r.status, 404);
}

/// `GET /users/{id}` carries follow counts and the caller's relationship.
async fn relationship_and_counts_on_profiles(app: TestApp) {
    let a = app.user("rel_alice").await;
    let b = app.user("rel_bobby").await;
    let p = app
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await;
    assert_eq!(p.status, 200);
    let p = p.json();
    assert_eq!(p["username"], "rel_bobby");
    assert_eq!(
        p["relationship"],
        json!({"following": false, "followed_by": false, "friend": false, "blocked": false})
    );
    follow(&app, &b, a.id).await;
    app.befriend(&a, &b).await;
    let p = app
        .get(&format!("/api/v1/users/{}", b.id), Some(&a.token))
        .await
        .json();
    assert_eq!(
        p["relationship"],
        json!({"following": false, "followed_by": true, "friend": true, "blocked": false})
    );
    assert_eq!(
        (p["following_count"].clone(), p["followers_count"].clone()),
        (json!(1), json!(0))
    );
    let me = app
        .get(&format!("/api/v1/users/{}", a.id), Some(&a.token))
        .await
        .json();
    assert_eq!(me["followers_count"], 1);
    assert_eq!(me["relationship"]["friend"], false, "not your own friend");
}
