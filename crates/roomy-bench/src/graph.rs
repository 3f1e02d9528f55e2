//! The follow graph at scale: one user with many followers (guests, which
//! cost no password hash to create), some followed back; then the latency of
//! their follower pages, mutual pages and profile, one request at a time.

use crate::{
    api::{Account, Server, each},
    stats::Latencies,
};
use serde_json::Value;
use std::time::Instant;

/// `roomy-bench graph`.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Server base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Followers of the measured user.
    #[arg(long, default_value_t = 100_000)]
    pub followers: usize,
    /// How many of them the user follows back (its mutual list).
    #[arg(long, default_value_t = 1_000)]
    pub follow_back: usize,
    /// Timed requests per endpoint.
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 32)]
    pub parallel: usize,
}

/// Seeds, checks the lists are complete, then measures.
pub async fn run(args: GraphArgs) -> Result<bool, String> {
    let server = Server::new(&args.url)?;
    let tag = rand::random::<u32>();
    let star = server.user(&format!("star{tag}")).await?;
    let viewer = server.user(&format!("view{tag}")).await?;
    eprintln!("seeding {} followers...", args.followers);
    let started = Instant::now();
    let fans = each((0..args.followers).collect(), args.parallel, |i| {
        let (server, star) = (server.clone(), star.id);
        async move {
            let fan = server.guest(&format!("fan{i}")).await?;
            follow(&server, &fan, star).await?;
            Ok(fan)
        }
    })
    .await?;
    let back: Vec<i64> = fans.iter().take(args.follow_back).map(|f| f.id).collect();
    each(back, args.parallel, |id| {
        let (server, star) = (server.clone(), star.clone());
        async move { follow(&server, &star, id).await }
    })
    .await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let profile = get(&server, &viewer, &format!("/api/v1/users/{}", star.id)).await?;
    let mut ok = profile["followers_count"].as_u64() == Some(args.followers as u64)
        && profile["following_count"].as_u64() == Some(args.follow_back as u64);
    let followers_seen = walk(&server, &viewer, star.id, "followers").await?;
    let mutual_seen = walk(&server, &viewer, star.id, "mutual").await?;
    ok &= followers_seen == args.followers && mutual_seen == args.follow_back;
    println!(
        "check: followers_count {} listed {followers_seen}, following_count {} mutual listed {mutual_seen}: {}",
        profile["followers_count"],
        profile["following_count"],
        if ok { "ok" } else { "MISMATCH" }
    );

    let first_followers = format!("/api/v1/users/{}/followers?limit=50", star.id);
    let first_mutual = format!("/api/v1/users/{}/mutual?limit=50", star.id);
    let deep = deep_cursor(&server, &viewer, star.id).await?;
    let deep_followers = format!("/api/v1/users/{}/followers?limit=50&cursor={deep}", star.id);
    let profile_path = format!("/api/v1/users/{}", star.id);
    for (name, path) in [
        ("followers, first page", &first_followers),
        ("followers, page at the middle", &deep_followers),
        ("mutual, first page", &first_mutual),
        ("profile with counts", &profile_path),
    ] {
        let mut lat = Latencies::default();
        for _ in 0..args.requests {
            let t = Instant::now();
            get(&server, &viewer, path).await?;
            lat.0.push(t.elapsed().as_micros() as u32);
        }
        println!(
            "{name:<32} p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
            lat.pct_ms(50.0),
            lat.pct_ms(95.0),
            lat.pct_ms(99.0),
            lat.pct_ms(100.0),
            lat.0.len()
        );
    }
    Ok(ok)
}

async fn follow(server: &Server, who: &Account, target: i64) -> Result<(), String> {
    server
        .expect(
            reqwest::Method::PUT,
            &format!("/api/v1/me/following/{target}"),
            Some(&who.token),
            None,
            &[200],
        )
        .await
        .map(|_| ())
}

async fn get(server: &Server, who: &Account, path: &str) -> Result<Value, String> {
    server
        .expect(reqwest::Method::GET, path, Some(&who.token), None, &[200])
        .await
}

/// Counts the entries of a list by following its cursors (200 per page).
async fn walk(server: &Server, who: &Account, user: i64, list: &str) -> Result<usize, String> {
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/users/{user}/{list}?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(server, who, &path).await?;
        seen += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(seen),
        }
    }
}

/// A cursor half-way down the followers list.
async fn deep_cursor(server: &Server, who: &Account, user: i64) -> Result<String, String> {
    let total = get(server, who, &format!("/api/v1/users/{user}")).await?["followers_count"]
        .as_u64()
        .unwrap_or(0);
    let mut cursor: Option<String> = None;
    for _ in 0..(total / 2 / 200).max(1) {
        let mut path = format!("/api/v1/users/{user}/followers?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        match get(server, who, &path).await?["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    cursor.ok_or_else(|| "the followers list has a single page".into())
}
