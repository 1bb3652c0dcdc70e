//! The API over a real socket on 127.0.0.1: end to end, graceful shutdown, and a load/fault
//! test (readers during a large upload, a client that disconnects mid-upload, a damaged
//! upload). Everything stops by itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::support::{ADMIN, READ, Served};

/// A running server; `stop` shuts it down gracefully and waits for it.
struct Running {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(served: &Served) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, served.state.clone(), async {
            let _ = stopped.await;
        }));
        Running {
            address,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the server stops within 30 s")
            .unwrap()
            .unwrap();
    }
}

/// A response read off the socket.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

fn head(
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    length: usize,
) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(t) = token {
        text.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !content_type.is_empty() {
        text.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    text.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    text
}

/// Reads a whole `Connection: close` response (chunked or not).
async fn read_answer(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Answer {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let header = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = header[9..12].parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if header.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Answer { status, body }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

async fn call(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(head(method, path, token, content_type, body.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(&mut stream).await
}

/// Sends `body` in pieces with a pause between them (a slow client).
async fn upload_slowly(address: SocketAddr, path: &str, body: &[u8], piece: usize) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let header = head(
        "POST",
        path,
        Some(ADMIN),
        "application/octet-stream",
        body.len(),
    );
    stream.write_all(header.as_bytes()).await.unwrap();
    for part in body.chunks(piece) {
        stream.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    read_answer(&mut stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_over_a_socket_and_finishes_requests_in_progress_on_shutdown() {
    let served = Served::sample();
    let server = Running::start(&served).await;
    let health = call(server.address, "GET", "/api/v1/health", None, "", b"").await;
    assert_eq!(health.status, 200);
    let groups = call(server.address, "GET", "/api/v1/groups", Some(READ), "", b"").await;
    assert_eq!(groups.status, 200);
    assert!(!groups.json()["groups"].as_array().unwrap().is_empty());
    let denied = call(server.address, "GET", "/api/v1/groups", None, "", b"").await;
    assert_eq!(denied.status, 401);

    // An upload is half sent when the server is told to stop: it is finished, then the
    // server stops.
    let file = std::fs::read(crate::support::sample_logs().join("ForwardedEvents-2.evtx")).unwrap();
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let header = head(
        "POST",
        "/api/v1/ingest",
        Some(ADMIN),
        "application/octet-stream",
        file.len(),
    );
    stream.write_all(header.as_bytes()).await.unwrap();
    let (first, rest) = file.split_at(file.len() / 2);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let address = server.address;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(rest).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["partial"], false);
    stopping.await.unwrap();
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no longer listening"
    );
}

/// A collector file of a generated fleet (tens of MB).
fn large_evtx(dir: &std::path::Path) -> Vec<u8> {
    let opts = generate::Options {
        seed: 21,
        hosts: 30,
        groups: 4,
        days: 7,
        events: 12_000,
        forwarded: 1,
        wef_coverage: 100,
        ..generate::Options::default()
    };
    generate::generate(&opts, dir, &Default::default()).unwrap();
    let mut biggest: Option<(u64, std::path::PathBuf)> = None;
    for entry in walk(dir) {
        let len = std::fs::metadata(&entry).unwrap().len();
        if biggest.as_ref().is_none_or(|(l, _)| len > *l) {
            biggest = Some((len, entry));
        }
    }
    std::fs::read(biggest.unwrap().1).unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "evtx") {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_keep_answering_while_uploads_arrive_fail_or_break_off() {
    let served = Served::sample();
    let fleet = tempfile::tempdir().unwrap();
    let big = large_evtx(fleet.path());
    assert!(big.len() > 8 << 20, "a large upload: {} bytes", big.len());
    let server = Running::start(&served).await;
    let address = server.address;

    // Readers: each asks for a group's table or readiness in a loop until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for i in 0..6 {
        let (stop, answered) = (stop.clone(), answered.clone());
        readers.push(tokio::spawn(async move {
            let paths = [
                "/api/v1/groups/finance/blocked?limit=5",
                "/api/v1/readiness",
                "/api/v1/groups",
            ];
            let mut n = i;
            while !stop.load(Ordering::Acquire) {
                let path = paths[n % paths.len()];
                let answer = call(address, "GET", path, Some(READ), "", b"").await;
                assert_eq!(
                    answer.status,
                    200,
                    "{path}: {}",
                    String::from_utf8_lossy(&answer.body)
                );
                answered.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }

    let before = served.manifest();
    // A client that goes away halfway: nothing stored, nothing left behind.
    {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let header = head(
            "POST",
            "/api/v1/ingest",
            Some(ADMIN),
            "application/octet-stream",
            big.len(),
        );
        stream.write_all(header.as_bytes()).await.unwrap();
        stream.write_all(&big[..big.len() / 2]).await.unwrap();
        stream.shutdown().await.unwrap();
    }
    // A damaged file with strict=true: refused whole.
    let mut damaged = big.clone();
    for b in &mut damaged[4096 + 3 * 65536 + 1000..4096 + 3 * 65536 + 1100] {
        *b ^= 0xa5;
    }
    let refused = call(
        address,
        "POST",
        "/api/v1/ingest?strict=true",
        Some(ADMIN),
        "application/octet-stream",
        &damaged,
    )
    .await;
    assert_eq!(
        refused.status,
        422,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(
        served.manifest(),
        before,
        "nothing stored by the failed uploads"
    );

    // The large upload, sent slowly while the readers read: 64 KiB every 20 ms, about 3 s
    // for the body alone, so even a loaded machine (the whole suite in parallel) answers
    // some reads meanwhile unless the upload starves them.
    let answered_before = answered.load(Ordering::Relaxed);
    let accepted = upload_slowly(address, "/api/v1/ingest", &big, 64 << 10).await;
    assert_eq!(
        accepted.status,
        200,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let summary = accepted.json();
    assert!(summary["rows_new"].as_u64().unwrap() > 10_000, "{summary}");
    assert!(
        answered.load(Ordering::Relaxed) > answered_before,
        "reads were answered during the upload"
    );

    stop.store(true, Ordering::Release);
    for r in readers {
        r.await.unwrap();
    }
    // The half-sent upload's temporary file is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(served.uploads()).unwrap().count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "upload folder not emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The new events are in the answers.
    let groups = call(address, "GET", "/api/v1/groups", Some(READ), "", b"").await;
    assert_eq!(groups.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_times_out_and_a_full_server_says_so() {
    let served = Served::with(true, |c| {
        c.upload_idle_timeout = Duration::from_millis(300);
        c.max_in_flight = 1;
    });
    let before = served.manifest();
    let server = Running::start(&served).await;
    // An upload that stops sending: it holds the only request slot until it times out.
    let mut stalled = TcpStream::connect(server.address).await.unwrap();
    let header = head(
        "POST",
        "/api/v1/ingest",
        Some(ADMIN),
        "application/octet-stream",
        1 << 20,
    );
    stalled.write_all(header.as_bytes()).await.unwrap();
    stalled.write_all(&[0u8; 1000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = call(server.address, "GET", "/api/v1/groups", Some(READ), "", b"").await;
    assert_eq!(busy.status, 503, "{}", String::from_utf8_lossy(&busy.body));
    assert_eq!(busy.json()["error"], "overloaded");
    let answer = read_answer(&mut stalled).await;
    assert_eq!(
        answer.status,
        408,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["error"], "timeout");
    assert_eq!(served.manifest(), before);
    assert_eq!(std::fs::read_dir(served.uploads()).unwrap().count(), 0);
    // The slot is free again.
    let health = call(server.address, "GET", "/api/v1/health", None, "", b"").await;
    assert_eq!(health.status, 200);
    server.stop().await;
}

/// A connection from `source` (another loopback address: another client) to `address`.
async fn connect_from(source: &str, address: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(address).await.unwrap()
}

async fn health_from(source: &str, address: SocketAddr) -> u16 {
    let mut stream = connect_from(source, address).await;
    stream
        .write_all(head("GET", "/api/v1/health", None, "", 0).as_bytes())
        .await
        .unwrap();
    read_answer(&mut stream).await.status
}

/// Whether the server closes `stream` (reads end) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    read.await.is_ok()
}

/// The probe's two attacks from one client, at a smaller scale: connections that never
/// finish their headers, and policy bodies trickled a byte at a time. Both are cut off by
/// their deadlines, the client cannot hold more than its share of connections, and
/// `/health` answers throughout, for another client and (within the client's share) for
/// the attacker too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_and_unfinished_headers_are_cut_off_and_health_answers_throughout() {
    let served = Served::with(true, |c| {
        c.header_timeout = Duration::from_millis(800);
        c.document_idle_timeout = Duration::from_millis(1500);
        c.document_timeout = Duration::from_millis(2500);
        c.max_connections_per_client = 40;
        c.max_in_flight = 30;
    });
    let server = Running::start(&served).await;
    let address = server.address;

    // 20 connections that send half a request line and stop.
    let mut unfinished = Vec::new();
    for _ in 0..20 {
        let mut s = connect_from("127.0.0.1", address).await;
        s.write_all(b"GET /api/v1/groups HT").await.unwrap();
        unfinished.push(s);
    }
    // 18 policy uploads that declare 100,000 bytes and send one every 200 ms: each would
    // hold a request slot for ever without a body deadline.
    let mut trickles = Vec::new();
    for _ in 0..18 {
        let mut s = connect_from("127.0.0.1", address).await;
        let header = head(
            "POST",
            "/api/v1/simulate",
            Some(READ),
            "application/xml",
            100_000,
        );
        s.write_all(header.as_bytes()).await.unwrap();
        trickles.push(tokio::spawn(async move {
            for _ in 0..100 {
                if s.write_all(b" ").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            read_answer(&mut s).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The attacker's own connections past its share are closed at once ...
    // (checked at once, well before the header deadline closes the admitted ones).
    let mut over = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from("127.0.0.1", address).await;
        over.push(tokio::spawn(async move {
            closed_within(&mut s, Duration::from_millis(300)).await
        }));
    }
    let mut refused = 0;
    for t in over {
        refused += usize::from(t.await.unwrap());
    }
    assert_eq!(
        refused, 2,
        "40 per client: 20 + 18 held, 2 more admitted, the rest closed"
    );
    // ... while another client is served, and /health answers for both.
    for _ in 0..5 {
        assert_eq!(health_from("127.0.0.2", address).await, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let groups = {
        let mut s = connect_from("127.0.0.2", address).await;
        s.write_all(head("GET", "/api/v1/groups", Some(READ), "", 0).as_bytes())
            .await
            .unwrap();
        read_answer(&mut s).await
    };
    assert_eq!(
        groups.status,
        200,
        "{}",
        String::from_utf8_lossy(&groups.body)
    );
    assert_eq!(health_from("127.0.0.1", address).await, 200);

    // Unfinished headers are closed by their deadline.
    for s in &mut unfinished {
        assert!(
            closed_within(s, Duration::from_secs(5)).await,
            "an unfinished request stays open"
        );
    }
    // Trickled bodies end with 408 at the body deadline.
    for t in trickles {
        let answer = tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("a trickled body is cut off")
            .unwrap();
        assert_eq!(
            answer.status,
            408,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["error"], "timeout");
    }
    server.stop().await;
}

/// A full server still answers `/health`: it is outside the request limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_outside_the_request_limit() {
    let served = Served::with(true, |c| {
        c.max_in_flight = 1;
        c.document_idle_timeout = Duration::from_secs(30);
    });
    let server = Running::start(&served).await;
    let mut holder = TcpStream::connect(server.address).await.unwrap();
    let header = head("PUT", "/api/v1/inventory", Some(ADMIN), "text/csv", 1000);
    holder.write_all(header.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = call(server.address, "GET", "/api/v1/groups", Some(READ), "", b"").await;
    assert_eq!(busy.status, 503);
    let health = call(server.address, "GET", "/api/v1/health", None, "", b"").await;
    assert_eq!(health.status, 200);
    drop(holder);
    server.stop().await;
}

fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A TLS client that trusts the test CA.
fn tls_client() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(tls_fixture("ca.pem")).unwrap())
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `serve --tls-cert/--tls-key`: HTTPS with the given certificate; plain HTTP to the same
/// port gets nothing; a client that never starts its handshake is closed by the header
/// deadline; files that do not fit are refused with their names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_given_certificate() {
    let tls =
        api::Tls::from_pem_files(&tls_fixture("server.pem"), &tls_fixture("server.key")).unwrap();
    let served = Served::with(true, |c| {
        c.tls = Some(tls);
        c.header_timeout = Duration::from_millis(500);
    });
    let server = Running::start(&served).await;
    let client = tls_client();
    for (name, path, token, status) in [
        ("localhost", "/api/v1/health", None, 200),
        ("127.0.0.1", "/api/v1/groups", Some(READ), 200),
        ("localhost", "/api/v1/groups", None, 401),
    ] {
        let tcp = TcpStream::connect(server.address).await.unwrap();
        let server_name =
            tokio_rustls::rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut stream = client.connect(server_name, tcp).await.unwrap();
        stream
            .write_all(head("GET", path, token, "", 0).as_bytes())
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await;
        assert_eq!(answer.status, status, "{path} via {name}");
    }
    // Plain HTTP is not answered in the clear.
    let mut plain = TcpStream::connect(server.address).await.unwrap();
    plain
        .write_all(head("GET", "/api/v1/health", None, "", 0).as_bytes())
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply).await;
    assert!(
        !reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // A connection that never says hello is closed at the deadline.
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    server.stop().await;

    // Certificates and keys that do not work are named.
    let missing = api::Tls::from_pem_files(&tls_fixture("nope.pem"), &tls_fixture("server.key"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.pem: cannot be read"), "{missing}");
    let no_cert = api::Tls::from_pem_files(&tls_fixture("server.key"), &tls_fixture("server.key"))
        .unwrap_err()
        .to_string();
    assert!(
        no_cert.contains("server.key: holds no certificate"),
        "{no_cert}"
    );
    let no_key = api::Tls::from_pem_files(&tls_fixture("server.pem"), &tls_fixture("ca.pem"))
        .unwrap_err()
        .to_string();
    assert!(no_key.contains("ca.pem: no private key in it"), "{no_key}");
    let mismatch = api::Tls::from_pem_files(&tls_fixture("ca.pem"), &tls_fixture("server.key"))
        .unwrap_err()
        .to_string();
    assert!(
        mismatch.starts_with("the certificate and the key do not fit together"),
        "{mismatch}"
    );
}

/// A local webhook receiver on 127.0.0.1: answers 500 to the first `fail_first` requests,
/// 204 to the rest, and keeps every body.
async fn webhook_receiver(
    fail_first: usize,
) -> (SocketAddr, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        let mut served = 0;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut raw = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let body = loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buffer[..n]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break Some(raw[end + 4..end + 4 + length].to_vec());
                    }
                }
            };
            let Some(body) = body else { continue };
            served += 1;
            let status = if served <= fail_first {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            let _ = stream
                .write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            if served > fail_first {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
            }
        }
    });
    (address, bodies)
}

/// The sample fleet's it-ops group enforces EXE, SCRIPT and APPX: recorded as enforced, each
/// app blocked without a decision is one alert, the burst is one more, an app blocked on
/// purpose is none, a failed delivery is retried, and nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_blocks_are_alerted_once_each_and_retried() {
    let (receiver, bodies) = webhook_receiver(1).await;
    let webhook = api::Webhook::parse(&format!("http://{receiver}/hook")).unwrap();
    let served = Served::with(true, |c| {
        c.alerts = Some(api::AlertSettings {
            interval: Duration::from_millis(100),
            burst_events: 20,
            burst_period: Duration::from_secs(3600 * 24 * 3650),
            retry_base: Duration::from_millis(200),
            ..api::AlertSettings::new(webhook)
        });
    });
    let ws = served.state.config.workspace.clone().unwrap();
    let xml =
        std::fs::read_to_string(crate::support::sample_logs().join("current-policy.xml")).unwrap();
    ws.publish(&workspace::NewVersion {
        group: "it-ops",
        xml: &xml,
        content_hash: "test",
        note: None,
        published_by: "tester",
    })
    .unwrap();
    let collections = ["EXE".to_owned(), "SCRIPT".to_owned(), "APPX".to_owned()];
    ws.record_rollout(&workspace::NewRollout {
        group: "it-ops",
        collections: &collections,
        mode: workspace::RolloutMode::Enforce,
        version: Some(1),
        at: "2026-10-05T00:00:00Z",
        note: None,
        recorded_by: "tester",
    })
    .unwrap();
    // Zoom is blocked on purpose: its blocks are expected, no alert.
    const ZOOM: &str = "03103330f2b179a6";
    ws.decide(workspace::NewDecision {
        scope: workspace::Scope::Group("it-ops".into()),
        app_id: ZOOM.into(),
        verdict: workspace::Verdict::Block,
        label: "ZOOM".into(),
        collection: Some("EXE".into()),
        rule_xml: None,
        granularity: None,
        flagged: Vec::new(),
        note: None,
        decided_by: "tester".into(),
        expected_version: None,
    })
    .unwrap();

    let server = Running::start(&served).await;
    // 13 apps are blocked in it-ops; 12 without a decision, and the burst.
    let expected = 13;
    let started = std::time::Instant::now();
    while bodies.lock().unwrap().len() < expected {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "alerts: {:?}",
            bodies.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await; // several more looks
    server.stop().await;

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), expected, "each alert once: {bodies:?}");
    let keys: std::collections::BTreeSet<&str> =
        bodies.iter().map(|b| b["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), expected);
    assert!(
        !keys.contains(format!("app:{ZOOM}").as_str()),
        "no alert for an app blocked on purpose"
    );
    assert_eq!(bodies.iter().filter(|b| b["kind"] == "burst").count(), 1);
    assert!(bodies.iter().all(|b| {
        b["group"] == "it-ops"
            && b["text"]
                .as_str()
                .unwrap()
                .starts_with("lockstep: it-ops: ")
    }));
    let kept = ws.alerts("it-ops").unwrap();
    assert_eq!(kept.len(), expected);
    assert!(kept.iter().all(|a| a.sent_at.is_some()));
    assert_eq!(
        kept.iter().map(|a| a.attempts).max(),
        Some(2),
        "the first delivery failed and was retried"
    );
}
