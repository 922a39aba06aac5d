//! A real `flexroute serve` process under abuse: a flood of random input (site ids, hosts,
//! languages, cookies, page URLs) costs no upstream call, no memory and no metric series, and
//! clients that dribble their headers are cut off without starving anyone.

use std::time::{Duration, Instant};

use flexroute::twilio::emulator::Op;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::{EXAMPLE, Rng, Running, emulator, metric, series, upstream_env};

/// A well-formed language tag that no configured language (en, es, fr, de, nl) matches,
/// even by falling back along subtags: the example table has a pair without an address,
/// and a visitor asking for it would rightly provision it.
fn tag(rng: &mut Rng) -> String {
    let primary = loop {
        let primary = rng.word(2, 8);
        if !["en", "es", "fr", "de", "nl"].contains(&primary.as_str()) {
            break primary;
        }
    };
    match rng.below(3) {
        0 => primary,
        1 => format!("{primary}-{}", rng.word(2, 2).to_uppercase()),
        _ => format!("{primary}-{}-{}", rng.word(4, 4), rng.word(2, 3)),
    }
}

/// Bytes that are not a tag at all, percent-encoded for a query string.
fn junk(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => "%FF%FE%00".to_string(),
        1 => format!("--{}--", rng.word(1, 5)),
        2 => format!("{}%E2%98%83{}", rng.word(1, 3), rng.below(1000)),
        // Rarely, past the length a value may have (400 invalid_request).
        3 if rng.below(50) == 0 => rng.word(2100, 2200),
        _ => "*".to_string(),
    }
}

/// A page URL on a random host, or on a random subdomain of a configured site (whose
/// first path segment, random too, names no configured language).
fn page(rng: &mut Rng) -> String {
    let host = match rng.below(3) {
        0 => format!("{}.acme.example", rng.word(1, 10)),
        1 => format!("{}.globex.example", rng.word(1, 10)),
        _ => format!("{}.example", rng.word(3, 12)),
    };
    format!(
        "https://{host}/{}/{}?q={}",
        tag(rng),
        rng.word(0, 8),
        rng.word(0, 30)
    )
}

/// One random `GET /v1/webchat/config`, as the bytes of an HTTP/1.1 request.
fn random_request(public: &str, rng: &mut Rng) -> Vec<u8> {
    let mut query = Vec::new();
    match rng.below(10) {
        0..=3 => query.push(format!("site={}{}", rng.word(1, 12), rng.below(100))),
        4 => query.push(format!(
            "site={}",
            ["acme", "globex"][rng.below(2) as usize]
        )),
        5 => query.push(format!("site={}", junk(rng))),
        _ => {}
    }
    match rng.below(10) {
        0..=3 => query.push(format!("lang={}", tag(rng))),
        4 => query.push(format!("lang={}", junk(rng))),
        _ => {}
    }
    if rng.below(3) == 0 {
        let page: String = form_urlencoded::byte_serialize(page(rng).as_bytes()).collect();
        query.push(format!("page={page}"));
    }
    if rng.below(4) == 0 {
        query.push(format!("utm_{}={}", rng.word(1, 8), rng.word(0, 20)));
    }
    let host = match rng.below(8) {
        0..=2 => format!("{}.example", rng.word(3, 12)),
        3 => format!("{}.acme.example", rng.word(1, 10)),
        4 => format!("{}.globex.example:8080", rng.word(1, 10)),
        5 => rng.word(1, 20),
        _ => public.to_string(),
    };
    let mut request = format!(
        "GET /v1/webchat/config?{} HTTP/1.1\r\nHost: {host}\r\n",
        query.join("&")
    )
    .into_bytes();
    let mut header = |name: &str, value: String| {
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    };
    if rng.below(3) == 0 {
        header("Origin", format!("https://{}.example", rng.word(3, 12)));
    }
    if rng.below(3) == 0 {
        header("Referer", page(rng));
    }
    if rng.below(2) == 0 {
        let list: Vec<String> = (0..1 + rng.below(5))
            .map(|_| format!("{};q=0.{}", tag(rng), rng.below(10)))
            .collect();
        header("Accept-Language", list.join(", "));
    }
    if rng.below(2) == 0 {
        let cookie = format!(
            "locale={}; {}={}; lang={}",
            tag(rng),
            rng.word(1, 10),
            rng.word(0, 40),
            tag(rng)
        );
        header("Cookie", cookie);
    }
    if rng.below(20) == 0 {
        // Bytes that are not UTF-8 (allowed in a header value) where text is expected.
        request
            .extend_from_slice(b"Accept-Language: d\xffe-\xfe, x\r\nCookie: locale=\xc3\x28\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// A keep-alive HTTP/1.1 connection that reads just enough of each answer to find the next
/// (lighter than a full client, so that the flood measures the server, not the client).
struct Connection {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    async fn exchange(&mut self, request: &[u8]) -> u16 {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => self.stream.insert(BufReader::new(
                TcpStream::connect(&self.addr).await.unwrap(),
            )),
        };
        stream.get_mut().write_all(request).await.unwrap();
        let mut line = Vec::new();
        stream.read_until(b'\n', &mut line).await.unwrap();
        let status: u16 = std::str::from_utf8(&line[9..12]).unwrap().parse().unwrap();
        let (mut length, mut close) = (0, false);
        loop {
            line.clear();
            stream.read_until(b'\n', &mut line).await.unwrap();
            let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
            match text.trim_end().split_once(": ") {
                Some(("content-length", n)) => length = n.parse().unwrap(),
                Some(("connection", "close")) => close = true,
                None if text.trim_end().is_empty() => break,
                _ => {}
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        if close {
            self.stream = None;
        }
        status
    }
}

/// `count` random requests over `connections` concurrent connections; the statuses seen.
async fn flood(public: &str, count: u64, connections: u64, seed: u64) -> Vec<(u16, u64)> {
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let public = public.to_string();
            let share = count / connections + u64::from(w < count % connections);
            tokio::spawn(async move {
                let mut rng = Rng::new(seed ^ (w << 32));
                let mut connection = Connection {
                    addr: public.clone(),
                    stream: None,
                };
                let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
                for _ in 0..share {
                    let request = random_request(&public, &mut rng);
                    *statuses
                        .entry(connection.exchange(&request).await)
                        .or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut total = std::collections::BTreeMap::<u16, u64>::new();
    for worker in workers {
        for (status, n) in worker.await.unwrap() {
            *total.entry(status).or_default() += n;
        }
    }
    total.into_iter().collect()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time a process has used (user + system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn upstream_calls(emulator: &flexroute::twilio::emulator::Emulator) -> u64 {
    [Op::List, Op::Fetch, Op::Create, Op::Update, Op::Delete]
        .into_iter()
        .map(|op| emulator.calls(op))
        .sum()
}

/// 100,000 requests by default; `FLEXROUTE_ABUSE_REQUESTS` sets another count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_input_costs_no_upstream_call_no_memory_and_no_series() {
    let total: u64 = std::env::var("FLEXROUTE_ABUSE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    const CONNECTIONS: u64 = 64;
    let (emulator, env) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &upstream_env(&env, &dir.path().join("state")),
    )
    .await;
    let pid = server.child.id().unwrap();

    // Warm-up: the same mix, so that every series any of it can create exists, and the
    // allocator and connection buffers have reached their working size.
    let warm = flood(&server.public, 5_000, CONNECTIONS, 1).await;
    let (rss_before, series_before) = (rss_kib(pid), series(&server.metrics().await));

    let (started, cpu_before) = (Instant::now(), cpu_seconds(pid));
    let statuses = flood(&server.public, total, CONNECTIONS, 2).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    let metrics = server.metrics().await;
    let (rss_after, series_after) = (rss_kib(pid), series(&metrics));
    let served: u64 = statuses.iter().map(|(_, n)| n).sum();
    println!(
        "{served} random requests over {CONNECTIONS} connections in {:.1} s ({:.0}/s; flexroute used {cpu:.1} s of CPU); statuses {statuses:?} (warm-up {warm:?})",
        elapsed.as_secs_f64(),
        served as f64 / elapsed.as_secs_f64()
    );
    println!(
        "RSS after warm-up {rss_before} KiB, after the flood {rss_after} KiB; {} series before, {} after",
        series_before.len(),
        series_after.len()
    );

    assert_eq!(served, total);
    assert!(
        statuses.iter().all(|(s, _)| [200, 400, 404].contains(s)),
        "{statuses:?}"
    );
    for status in [200, 400, 404] {
        assert!(
            statuses.iter().any(|(s, _)| *s == status),
            "{status}: {statuses:?}"
        );
    }
    assert_eq!(upstream_calls(&emulator), 0, "no upstream call");
    let new: Vec<_> = series_after.difference(&series_before).collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert_eq!(series_before, series_after);
    // Two answers can be cached (acme's and globex's defaults); nothing else.
    assert!(metric(&metrics, "flexroute_cache_entries").unwrap() <= 2.0);
    // Flat (about 1.5 MiB of allocator and buffer noise measured): a leak of 100 bytes a
    // request would add about 10 MiB here.
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // The process was wired to the emulator all along: a configured pair without an address
    // does cost a call.
    let body = server.config_json("site=acme&lang=fr-CA").await;
    assert!(body.get("degraded").is_none(), "{body}");
    assert!(emulator.calls(Op::Create) == 1, "the emulator is reachable");
    server.stop().await;
}

/// How one raw connection ended: after how long, what the server sent, what we had sent.
struct Ended {
    after: Duration,
    received: Vec<u8>,
    dribbled: u32,
}

/// Connects, sends `head`, then one byte a second, until the server closes the connection.
async fn dribble(addr: String, head: &'static [u8], drip: bool) -> Ended {
    let started = Instant::now();
    let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    writer.write_all(head).await.unwrap();
    let mut dribbled = 0;
    let writing = async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if drip && writer.write_all(b"x").await.is_ok() {
                dribbled += 1;
            }
        }
    };
    let mut received = Vec::new();
    let reading = reader.read_to_end(&mut received);
    let limit = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            _ = reading => {},
            _ = writing => {},
        }
    });
    assert!(limit.await.is_ok(), "the connection was never closed");
    Ended {
        after: started.elapsed(),
        received,
        dribbled,
    }
}

/// Slowloris: connections that dribble a header byte a second (and ones that send nothing,
/// and an idle keep-alive one) are closed once `server.header_read_timeout_ms` has passed,
/// on both listeners, while a normal client keeps being served promptly on new connections.
#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_starve_others() {
    const TIMEOUT: Duration = Duration::from_millis(2500);
    const SLOW: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::spawn(
        &["serve", "--config", EXAMPLE],
        &[
            (
                "FLEXROUTE_SERVER_HEADER_READ_TIMEOUT_MS",
                TIMEOUT.as_millis().to_string(),
            ),
            (
                "FLEXROUTE_PROVISIONING_STATE",
                format!("file:{}", dir.path().join("state").display()),
            ),
        ],
    )
    .await;
    const SLOW_HEAD: &[u8] =
        b"GET /v1/webchat/config?site=acme HTTP/1.1\r\nHost: acme.example\r\nX-Slow: ";
    const SLOW_OPS: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: ops\r\nX-Slow: ";
    const WHOLE: &[u8] = b"GET /v1/webchat/config?site=acme HTTP/1.1\r\nHost: acme.example\r\n\r\n";
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let (addr, head) = if i % 8 == 0 {
            (server.ops.clone(), SLOW_OPS)
        } else {
            (server.public.clone(), SLOW_HEAD)
        };
        slow.push(tokio::spawn(dribble(addr, head, true)));
    }
    let silent: Vec<_> = (0..4)
        .map(|_| tokio::spawn(dribble(server.public.clone(), b"", false)))
        .collect();
    let idle = tokio::spawn(dribble(server.public.clone(), WHOLE, false));

    // Meanwhile a normal client, on a new connection each time.
    let normal = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut latencies = Vec::new();
    let until = Instant::now() + TIMEOUT + Duration::from_secs(1);
    while Instant::now() < until {
        let started = Instant::now();
        let response = normal
            .get(server.config_url("site=acme"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut cut = Vec::new();
    for ended in futures_util::future::join_all(slow).await {
        let ended = ended.unwrap();
        assert!(
            ended.received.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&ended.received)
        );
        assert!(ended.dribbled >= 1, "dribbled {} bytes", ended.dribbled);
        cut.push(ended.after);
    }
    for ended in futures_util::future::join_all(silent).await {
        cut.push(ended.unwrap().after);
    }
    let idle = idle.await.unwrap();
    assert!(
        String::from_utf8_lossy(&idle.received).starts_with("HTTP/1.1 200 "),
        "the idle connection had its answer first"
    );
    cut.push(idle.after);
    let (first, last) = (cut.iter().min().unwrap(), cut.iter().max().unwrap());
    let slowest = latencies.iter().max().unwrap();
    println!(
        "{} slow/silent/idle connections cut after {:.2}–{:.2} s (timeout {:.1} s); normal client: {} requests, slowest {} ms",
        cut.len(),
        first.as_secs_f64(),
        last.as_secs_f64(),
        TIMEOUT.as_secs_f64(),
        latencies.len(),
        slowest.as_millis()
    );
    // Never before the timeout; well before the default 10 s (generous: a loaded machine).
    assert!(*first >= TIMEOUT - Duration::from_millis(100), "{first:?}");
    assert!(*last < TIMEOUT + Duration::from_secs(5), "{last:?}");
    assert!(latencies.len() >= 10, "{}", latencies.len());
    assert!(*slowest < Duration::from_secs(2), "{slowest:?}");
    server.stop().await;
}
