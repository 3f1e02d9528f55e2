//! The few HTTP calls the bench makes, and the loopback guard.

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::net::IpAddr;

/// A user the bench acts as.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub token: String,
}

/// A Roomy server on loopback.
#[derive(Debug, Clone)]
pub struct Server {
    base: String,
    http: reqwest::Client,
}

/// Errors are reported as text: the bench is a tool, not a library.
pub type Result<T> = std::result::Result<T, String>;

impl Server {
    /// Accepts only `http://` URLs whose host is a loopback address.
    pub fn new(url: &str) -> Result<Server> {
        let parsed = url::Url::parse(url).map_err(|e| format!("bad --url {url:?}: {e}"))?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        };
        if parsed.scheme() != "http" || !loopback {
            return Err(format!(
                "refusing {url}: roomy-bench only drives servers on loopback over http"
            ));
        }
        Ok(Server {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    /// The base URL, `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL for a token.
    pub fn ws_url(&self, token: &str) -> String {
        format!(
            "{}/api/v1/ws?token={token}",
            self.base.replacen("http", "ws", 1)
        )
    }

    /// A bare request to a path on this server, for the calls the JSON
    /// helpers do not cover (tus, downloads).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// The path part of a `Location` the server sent, relative or absolute.
    /// An absolute one must point back at this server: the bench follows no
    /// redirection off loopback.
    pub fn local_path(&self, location: &str) -> Result<String> {
        let base = url::Url::parse(&self.base).map_err(|e| e.to_string())?;
        let url = base
            .join(location)
            .map_err(|e| format!("bad Location {location:?}: {e}"))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "Location {location:?} points away from {}",
                self.base
            ));
        }
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("{path}: {e}"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, value))
    }

    pub async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        ok: &[u16],
    ) -> Result<Value> {
        let (status, v) = self.call(method, path, token, body).await?;
        if ok.contains(&status) {
            Ok(v)
        } else {
            Err(format!("{path}: HTTP {status}: {v}"))
        }
    }

    /// Waits until `/readyz` answers (up to `tries` × 100 ms).
    pub async fn wait_ready(&self, tries: u32) -> Result<()> {
        for _ in 0..tries {
            if let Ok((200, _)) = self.call(reqwest::Method::GET, "/readyz", None, None).await {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(format!("{} did not become ready", self.base))
    }

    /// Registers `name` (password = name + a suffix) and logs in.
    pub async fn user(&self, name: &str) -> Result<Account> {
        let password = format!("{name}-bench-password");
        self.expect(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": name, "password": password})),
            &[201],
        )
        .await?;
        self.login(name).await
    }

    /// Logs in a user made by [`Server::user`].
    pub async fn login(&self, name: &str) -> Result<Account> {
        let password = format!("{name}-bench-password");
        let v = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": name, "password": password})),
                &[200],
            )
            .await?;
        account(&v)
    }

    /// A guest account.
    pub async fn guest(&self, nickname: &str) -> Result<Account> {
        let v = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/auth/guest",
                None,
                Some(json!({"nickname": nickname})),
                &[200],
            )
            .await?;
        account(&v)
    }

    /// The direct room of `a` and `b`, made the way users make it: `a`
    /// asks `b` to be friends, `b` agrees (which opens the room).
    pub async fn direct(&self, a: &Account, b: &Account) -> Result<i64> {
        let request = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/friend-requests",
                Some(&a.token),
                Some(json!({"user_id": b.id})),
                &[201],
            )
            .await?;
        let id = request["id"]
            .as_i64()
            .ok_or_else(|| format!("no request id in {request}"))?;
        self.expect(
            reqwest::Method::POST,
            &format!("/api/v1/friend-requests/{id}/answer"),
            Some(&b.token),
            Some(json!({"decision": "agree"})),
            &[200],
        )
        .await?;
        let token = &a.token;
        let peer = b.id;
        let v = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/rooms/direct",
                Some(token),
                Some(json!({"user_id": peer})),
                &[200, 201],
            )
            .await?;
        v["id"].as_i64().ok_or_else(|| format!("no room id in {v}"))
    }

    /// A group owned by `owner` that `members` join by invite link, the way
    /// guests (and strangers) get into a group: nobody may put them in one.
    pub async fn group(&self, owner: &Account, name: &str, members: &[Account]) -> Result<i64> {
        let v = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/rooms",
                Some(&owner.token),
                Some(json!({"name": name, "member_ids": []})),
                &[201],
            )
            .await?;
        let room = v["id"]
            .as_i64()
            .ok_or_else(|| format!("no room id in {v}"))?;
        if members.is_empty() {
            return Ok(room);
        }
        let link = self
            .expect(
                reqwest::Method::POST,
                &format!("/api/v1/rooms/{room}/invites"),
                Some(&owner.token),
                Some(json!({"max_uses": members.len()})),
                &[201],
            )
            .await?;
        let token = link["token"]
            .as_str()
            .ok_or_else(|| format!("no invite token in {link}"))?;
        for member in members {
            self.expect(
                reqwest::Method::POST,
                &format!("/api/v1/invites/{token}/join"),
                Some(&member.token),
                None,
                &[200],
            )
            .await?;
        }
        Ok(room)
    }

    /// Sends over HTTP; the stored message.
    pub async fn send(&self, token: &str, room: i64, client_id: &str, body: &str) -> Result<Value> {
        self.expect(
            reqwest::Method::POST,
            &format!("/api/v1/rooms/{room}/messages"),
            Some(token),
            Some(json!({"client_id": client_id, "kind": "text", "body": body})),
            &[201],
        )
        .await
    }

    /// A room's whole history, oldest first.
    pub async fn history(&self, token: &str, room: i64) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let v = self
                .expect(
                    reqwest::Method::GET,
                    &format!("/api/v1/rooms/{room}/messages?after_seq={after}&limit=200"),
                    Some(token),
                    None,
                    &[200],
                )
                .await?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let Some(last) = items.last().and_then(|m| m["seq"].as_i64()) else {
                return Ok(out);
            };
            after = last;
            out.extend(items);
        }
    }
}

fn account(v: &Value) -> Result<Account> {
    Ok(Account {
        id: v["user"]["id"]
            .as_i64()
            .ok_or_else(|| format!("no user id in {v}"))?,
        token: v["token"]
            .as_str()
            .ok_or_else(|| format!("no token in {v}"))?
            .to_owned(),
    })
}

/// Runs `f` over `items` with at most `parallel` at once, keeping order.
pub async fn each<T, R, F, Fut>(items: Vec<T>, parallel: usize, f: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    stream::iter(items.into_iter().map(f))
        .buffered(parallel)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// A room and the accounts in it; the first member created it.
#[derive(Debug, Clone)]
pub struct RoomSetup {
    pub id: i64,
    pub members: Vec<Account>,
}

/// Makes `rooms` rooms of `size` members: direct rooms (size 2) pair two
/// registered users who become friends (guests may not chat in direct
/// rooms); groups have a registered owner and guests, who join by link.
pub async fn make_rooms(
    server: &Server,
    rooms: usize,
    size: usize,
    tag: &str,
) -> Result<Vec<RoomSetup>> {
    if size < 2 {
        return Err("rooms need at least 2 members".into());
    }
    // Registration hashes a password (argon2): owners only; everyone else is a guest.
    let owners = each((0..rooms).collect(), 8, |i| async move {
        server.user(&format!("bench{tag}_{i:05}")).await
    })
    .await?;
    let guests = if size == 2 {
        each((0..rooms).collect(), 8, |i| async move {
            server.user(&format!("peer{tag}_{i:05}")).await
        })
        .await?
    } else {
        each((0..rooms * (size - 1)).collect(), 32, |i| async move {
            server.guest(&format!("g{i}")).await
        })
        .await?
    };
    let plan: Vec<(Account, Vec<Account>)> = owners
        .into_iter()
        .enumerate()
        .map(|(i, o)| (o, guests[i * (size - 1)..(i + 1) * (size - 1)].to_vec()))
        .collect();
    each(plan, 16, |(owner, others)| async move {
        let id = if size == 2 {
            server.direct(&owner, &others[0]).await?
        } else {
            server.group(&owner, "bench", &others).await?
        };
        let mut members = vec![owner];
        members.extend(others);
        Ok(RoomSetup { id, members })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_to_paths_on_this_server_only() -> Result<()> {
        let s = Server::new("http://127.0.0.1:8080")?;
        assert_eq!(s.local_path("/api/v1/uploads/ab")?, "/api/v1/uploads/ab");
        assert_eq!(
            s.local_path("http://127.0.0.1:8080/api/v1/uploads/ab")?,
            "/api/v1/uploads/ab"
        );
        assert_eq!(s.local_path("/x?y=1")?, "/x?y=1");
        assert!(
            s.local_path("http://10.0.0.1:8080/api/v1/uploads/ab")
                .is_err()
        );
        assert!(
            s.local_path("http://127.0.0.1:9/api/v1/uploads/ab")
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn only_loopback_servers() {
        assert!(Server::new("http://localhost:1").is_ok());
        assert!(Server::new("http://[::1]:1").is_ok());
        assert!(Server::new("http://192.168.1.2:8080").is_err());
        assert!(Server::new("https://127.0.0.1:8080").is_err());
    }
}
