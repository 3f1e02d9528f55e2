//! What cheap clients cannot hold: request heads sent slowly or too big,
//! idle connections, too many connections from one address or for one
//! user, WebSocket messages too big or never finished; and the close codes
//! of WebSocket protocol violations. Real sockets throughout; the timeouts
//! are set short in each test rather than waited out at their defaults.

use crate::harness::{Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use roomy_server::admission::Admission;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        protocol::{
            CloseFrame,
            frame::{
                Frame,
                coding::{CloseCode, Data, OpCode},
            },
        },
    },
};
use tokio_util::sync::CancellationToken;

/// `backend_tests!` for one test with its own configuration: module
/// `<name>` with a `sqlite` and a `postgres` test.
macro_rules! on_both {
    ($name:ident, $adjust:expr) => {
        mod $name {
            use crate::harness::{Backend, TestApp};
            #[tokio::test]
            async fn sqlite() {
                if let Some(app) = TestApp::spawn_with(Backend::Sqlite, $adjust).await {
                    super::$name(app).await;
                }
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(app) = TestApp::spawn_with(Backend::Postgres, $adjust).await {
                    super::$name(app).await;
                }
            }
        }
    };
}

// The test's own API calls come from 127.0.0.1; the capped client is
// 127.0.0.2 and its neighbour 127.0.0.3.
on_both!(
    the_per_address_cap_refuses_the_next_connection_and_keeps_the_others,
    |c| {
        c.max_connections_per_ip = 2;
        c.connection_limit_loopback = true;
    }
);
on_both!(websocket_messages_over_64_kib_close_with_1009, |_| {});
on_both!(
    unfinished_websocket_messages_close_with_1008_pings_or_not,
    |c| c.ws_message_timeout_secs = 1
);
on_both!(a_users_websockets_are_capped, |c| c
    .ws_max_connections_per_user =
    2);
on_both!(protocol_violations_close_with_their_rfc_6455_codes, |_| {});

/// A guard against hangs, not a delay: everything here happens in a few seconds.
const DEADLINE: Duration = Duration::from_secs(15);

/// A TCP connection to the server from `from` (any 127.0.0.0/8 address:
/// each is a client address of its own).
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind");
    socket.connect(app.addr).await.expect("connect")
}

/// Reads until the server closes: what it sent, and how long that took.
async fn read_to_end(tcp: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    (String::from_utf8_lossy(&seen).into_owned(), start.elapsed())
}

/// Sends `GET /healthz` (with `extra` header lines) on a kept-alive
/// connection and reads one response: its status, or `None` if the server
/// closed instead.
async fn healthz(tcp: &mut TcpStream, extra: &str) -> Option<u16> {
    let req = format!("GET /healthz HTTP/1.1\r\nHost: roomy\r\n{extra}\r\n");
    tcp.write_all(req.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
            .await
            .expect("a response in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("length"))
        .unwrap_or(0);
    while got.len() < head_end + length {
        let n = tcp.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    head.get(9..12)?.parse().ok()
}

type Client = WebSocketStream<TcpStream>;

/// A WebSocket from `from`, authenticated by `token`, once `ready`.
async fn ws_from(app: &TestApp, from: &str, token: &str) -> Client {
    let tcp = connect_from(app, from).await;
    let url = format!("ws://{}/api/v1/ws?token={token}", app.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade");
    let ready = next_text(&mut ws).await.expect("a frame");
    assert!(ready.contains("\"ready\""), "{ready}");
    ws
}

/// The next text frame; `None` once closed.
async fn next_text<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> Option<String> {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Reads until the server's close frame and returns its code.
async fn close_code<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Option<u16> {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code.into()),
            Some(Ok(Message::Close(None))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// One fragment of a text message.
fn fragment(first: bool, last: bool, payload: impl Into<Vec<u8>>) -> Message {
    let opcode = if first { Data::Text } else { Data::Continue };
    Message::Frame(Frame::message(payload.into(), OpCode::Data(opcode), last))
}

#[tokio::test]
async fn slow_request_heads_are_closed_after_the_header_timeout() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http_header_timeout_secs = 1;
        c.http_idle_timeout_secs = 30;
    })
    .await
    else {
        return;
    };
    // Half a head, then a byte every 100 ms: bytes that keep coming do not
    // buy time, the head must be whole within the timeout.
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: roomy\r\nX-Slow: ")
        .await
        .expect("write");
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = loop {
        assert!(start.elapsed() < DEADLINE, "never closed");
        if tcp.write_all(b"a").await.is_err() {
            break start.elapsed();
        }
        match tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break start.elapsed(),
            Ok(Ok(n)) => panic!("no response is due: {:?}", &buf[..n]),
            Err(_) => {}
        }
    };
    assert!(
        closed >= Duration::from_millis(800) && closed < Duration::from_secs(5),
        "{closed:?}"
    );
    // A connection that sends nothing at all is closed on the same clock.
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let (sent, after) = read_to_end(&mut silent).await;
    assert_eq!(sent, "");
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(5),
        "{after:?}"
    );
    // The server still serves.
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

#[tokio::test]
async fn idle_connections_wait_for_the_idle_timeout_not_the_header_one() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http_header_timeout_secs = 1;
        c.http_idle_timeout_secs = 3;
    })
    .await
    else {
        return;
    };
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    assert_eq!(healthz(&mut tcp, "").await, Some(200));
    // Idle for longer than the header timeout: the time being waited out
    // is the point of this test.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(healthz(&mut tcp, "").await, Some(200), "still open");
    let (sent, idle) = read_to_end(&mut tcp).await;
    assert_eq!(sent, "");
    assert!(
        idle >= Duration::from_millis(2_500) && idle < Duration::from_secs(10),
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn request_heads_over_the_limit_get_431() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| c.http_max_header_bytes = 4096).await
    else {
        return;
    };
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: roomy\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5_000)
    );
    tcp.write_all(big.as_bytes()).await.expect("write");
    let (sent, _) = read_to_end(&mut tcp).await;
    assert!(sent.starts_with("HTTP/1.1 431"), "{sent:.60}");
    // Under the limit is fine.
    let mut tcp = TcpStream::connect(app.addr).await.expect("connect");
    let header = format!("X-Big: {}\r\n", "b".repeat(3_000));
    assert_eq!(healthz(&mut tcp, &header).await, Some(200));
}

async fn the_per_address_cap_refuses_the_next_connection_and_keeps_the_others(app: TestApp) {
    let alice = app.user("pa_alice").await;
    // An upgraded connection keeps its place while it lives.
    let mut ws = ws_from(&app, "127.0.0.2", &alice.token).await;
    let mut kept = connect_from(&app, "127.0.0.2").await;
    assert_eq!(healthz(&mut kept, "").await, Some(200));
    // The third is answered and closed at once.
    let mut third = connect_from(&app, "127.0.0.2").await;
    let (sent, took) = read_to_end(&mut third).await;
    assert!(sent.starts_with("HTTP/1.1 429"), "{sent:.60}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Another address is not affected, and the earlier connections still work.
    let mut neighbour = connect_from(&app, "127.0.0.3").await;
    assert_eq!(healthz(&mut neighbour, "").await, Some(200));
    assert_eq!(healthz(&mut kept, "").await, Some(200));
    ws.send(Message::Text(r#"{"type":"ping","id":1}"#.into()))
        .await
        .expect("send");
    let pong = next_text(&mut ws).await.expect("pong");
    assert!(pong.contains("\"pong\""), "{pong}");
    // A closed connection gives its place back (once the server has seen
    // the close, which takes a moment: hence the retries).
    drop(kept);
    let start = Instant::now();
    loop {
        let mut again = connect_from(&app, "127.0.0.2").await;
        if healthz(&mut again, "").await == Some(200) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn websocket_messages_over_64_kib_close_with_1009(app: TestApp) {
    let alice = app.user("big_alice").await;
    // Fragments are counted together: 40 + 40 KiB is too big...
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(fragment(true, false, vec![b' '; 40 * 1024]))
        .await
        .expect("send");
    ws.send(fragment(false, true, vec![b' '; 40 * 1024]))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // ...and so is one 70 KiB frame.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    let pad = "x".repeat(70 * 1024);
    ws.send(Message::Text(
        format!(r#"{{"type":"ping","pad":"{pad}"}}"#).into(),
    ))
    .await
    .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // Even before authenticating.
    let (mut anon, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", app.addr))
        .await
        .expect("upgrade");
    anon.send(Message::Text(pad.clone().into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut anon).await, Some(1009));
    // A message within the limit, in fragments, is reassembled and answered.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    let frame = format!(
        r#"{{"type":"ping","id":9,"pad":"{}"}}"#,
        "y".repeat(60 * 1024)
    );
    let (a, b) = frame.as_bytes().split_at(30 * 1024);
    ws.send(fragment(true, false, a)).await.expect("send");
    ws.send(fragment(false, true, b)).await.expect("send");
    let pong = next_text(&mut ws).await.expect("pong");
    assert!(pong.contains("\"pong\"") && pong.contains("9"), "{pong}");
}

async fn unfinished_websocket_messages_close_with_1008_pings_or_not(app: TestApp) {
    let alice = app.user("slow_alice").await;
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    // A message begun and never finished, with pings inside it that the
    // server answers: it is closed all the same when the deadline comes.
    ws.send(fragment(true, false, r#"{"type":"ping","#))
        .await
        .expect("send");
    let start = Instant::now();
    let mut pongs = 0;
    let code = loop {
        assert!(start.elapsed() < DEADLINE, "never closed");
        if ws.send(Message::Ping(vec![1].into())).await.is_err() {
            break None;
        }
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Pong(_)))) => pongs += 1,
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_)) | None) => break None,
        }
    };
    assert_eq!(code, Some(1008));
    assert!(pongs > 0, "the pings were answered while it lasted");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Finished messages, however far apart, are fine.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    for id in 0..2 {
        ws.send(fragment(true, false, r#"{"type":"ping","#))
            .await
            .expect("send");
        ws.send(fragment(false, true, format!(r#""id":{id}}}"#)))
            .await
            .expect("send");
        let pong = next_text(&mut ws).await.expect("pong");
        assert!(pong.contains("\"pong\""), "{pong}");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

async fn a_users_websockets_are_capped(app: TestApp) {
    let alice = app.user("cap_alice").await;
    let bob = app.user("cap_bobby").await;
    let first = ws_from(&app, "127.0.0.1", &alice.token).await;
    let _second = ws_from(&app, "127.0.0.1", &alice.token).await;
    let tcp = connect_from(&app, "127.0.0.1").await;
    let url = format!("ws://{}/api/v1/ws?token={}", app.addr, alice.token);
    let (mut third, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade");
    let error = next_text(&mut third).await.expect("an error frame");
    let error: serde_json::Value = serde_json::from_str(&error).expect("JSON");
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "too_many_connections", "{error}");
    assert_eq!(close_code(&mut third).await, Some(4429));
    // Per user: bob connects.
    let _bob = ws_from(&app, "127.0.0.1", &bob.token).await;
    // A closed connection gives its place back.
    drop(first);
    app.wait_connections(alice.id, 1).await;
    let _again = ws_from(&app, "127.0.0.1", &alice.token).await;
}

async fn protocol_violations_close_with_their_rfc_6455_codes(app: TestApp) {
    let alice = app.user("pv_alice").await;
    // Text that is not UTF-8: 1007.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(Message::Frame(Frame::message(
        vec![0xff, 0xfe, 0xfd],
        OpCode::Data(Data::Text),
        true,
    )))
    .await
    .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
    // A continuation with no message to continue: 1002.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(fragment(false, true, "}")).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1002));
    // A data frame inside a fragmented message: 1002.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(fragment(true, false, "{")).await.expect("send");
    ws.send(Message::Text("{}".into())).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1002));
    // A client's close is answered with its own code.
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1000));
    // Malformed JSON is the application's business: an error frame, and
    // the connection stays (gateway.rs has the cases).
    let mut ws = ws_from(&app, "127.0.0.1", &alice.token).await;
    ws.send(Message::Text("{nope".into())).await.expect("send");
    let e = next_text(&mut ws).await.expect("an error frame");
    assert!(e.contains("invalid_frame"), "{e}");
}

#[tokio::test]
async fn past_the_connection_budget_connections_get_503_and_the_loop_goes_on() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let config = roomy_core::Config::default();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(roomy_server::http::serve(
        listener,
        app,
        roomy_server::http::Limits::from_config(&config),
        Admission::new(2, 0, false),
        shutdown.clone(),
    ));
    let mut one = TcpStream::connect(addr).await.expect("connect");
    let mut two = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(healthz(&mut one, "").await, Some(200));
    assert_eq!(healthz(&mut two, "").await, Some(200));
    for _ in 0..3 {
        let mut over = TcpStream::connect(addr).await.expect("connect");
        let (sent, took) = read_to_end(&mut over).await;
        assert!(sent.starts_with("HTTP/1.1 503"), "{sent:.60}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    assert_eq!(healthz(&mut one, "").await, Some(200));
    drop(two);
    let start = Instant::now();
    loop {
        let mut again = TcpStream::connect(addr).await.expect("connect");
        if healthz(&mut again, "").await == Some(200) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Shutdown waits for the open connections: `one` is idle, so it closes.
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("drained in time")
        .expect("no panic");
    assert_eq!(read_to_end(&mut one).await.0, "");
}
