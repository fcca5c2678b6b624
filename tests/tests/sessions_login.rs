//! Sign-in under attack: a parallel burst of wrong passwords for one login gets no more checks
//! than the limit, the right password waits out the lock, a crowd of sign-ins beyond the queue
//! of password checks is turned away with 503 and `Retry-After` (so memory stays bounded), and
//! two server processes on one PostgreSQL share one limit.

use std::net::IpAddr;

use lianxiao_tests::{
    Backend, DEMO_PASSWORD, TestServer,
    api::{Reply, send},
    logins::*,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Wrong (or in-flight) attempts one login may have in a window (the server's `PER_LOGIN`).
const PER_LOGIN: usize = 5;

fn server(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    server
}

async fn sign_in(base: &str, login: &str, password: &str) -> Reply {
    send(
        base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": login, "password": password})),
        &[],
    )
    .await
}

/// Signs in from a loopback address of its own (127.0.0.0/8 is all this machine's), so that
/// the per-address limit does not decide the outcome.
async fn sign_in_from(base: &str, from: IpAddr, login: &str, password: &str) -> StatusCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("server reachable");
    if matches!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        assert!(r.headers().get("retry-after").is_some(), "{}", r.status());
    }
    r.status()
}

#[derive(Debug, Default)]
struct Outcomes {
    wrong: usize,
    right: usize,
    locked: usize,
    busy: usize,
}

fn tally(replies: &[Reply]) -> Outcomes {
    let mut o = Outcomes::default();
    for r in replies {
        match r.status {
            StatusCode::UNAUTHORIZED => o.wrong += 1,
            StatusCode::OK => o.right += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.code(), "rate_limited");
                o.locked += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => o.busy += 1,
            other => panic!("unexpected answer {other}: {:?}", r.body),
        }
        if matches!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            assert!(r.headers.get("retry-after").is_some(), "{:?}", r.status);
        }
    }
    o
}

/// The most memory the server process has used (VmHWM), in MiB; `None` off Linux.
fn peak_rss_mib(server: &TestServer) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit() {
    let server = server(&[]);
    let base = server.url();
    // 150 wrong passwords for one login from one address, and the right one among them.
    let mut burst = Vec::new();
    for i in 0..151 {
        let password = if i == 75 {
            DEMO_PASSWORD.to_owned()
        } else {
            format!("guess-{i}")
        };
        let base = base.clone();
        burst.push(tokio::spawn(async move {
            sign_in(&base, PARENT_HEKOU, &password).await
        }));
    }
    let mut replies = Vec::new();
    for r in burst {
        replies.push(r.await.unwrap());
    }
    let o = tally(&replies);
    eprintln!("{o:?}");
    assert!(
        o.wrong <= PER_LOGIN,
        "at most {PER_LOGIN} wrong passwords were checked: {o:?}"
    );
    assert!(o.right <= 1);
    assert_eq!(o.wrong + o.right + o.locked + o.busy, 151);

    // Locked now: another guess and even the right password wait.
    let r = sign_in(&base, PARENT_HEKOU, "one-more-guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    let r = sign_in(&base, PARENT_HEKOU, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(r.body["retry_after_secs"].as_u64().unwrap() > 0);
    // Other people sign in as usual.
    let r = sign_in(&base, PARENT_MAIN_2, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Argon2 takes about 19 MiB per check; unbounded, this burst took over 1 GiB. A generous
    // bound: the server's peak, whatever else it did, stays far below that.
    if let Some(peak) = peak_rss_mib(&server) {
        eprintln!("server peak RSS {peak} MiB");
        assert!(peak < 512, "server peak RSS {peak} MiB");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_beyond_the_queue_of_password_checks_are_turned_away_with_retry_after() {
    // One check at a time and two waiting: the 40 sign-ins below arrive together.
    let server = server(&[
        ("LIANXIAO_PASSWORD_CHECKS", "1"),
        ("LIANXIAO_PASSWORD_QUEUE", "2"),
    ]);
    let base = server.url();
    let mut crowd = Vec::new();
    for i in 0..40u8 {
        let base = base.clone();
        // Each from its own address and for a login of its own, so no limit refuses them:
        // only the queue does.
        let from: IpAddr = format!("127.0.1.{}", i + 1).parse().unwrap();
        crowd.push(tokio::spawn(async move {
            sign_in_from(&base, from, &format!("nobody{i}"), "guess").await
        }));
    }
    let mut statuses = Vec::new();
    for c in crowd {
        statuses.push(c.await.unwrap());
    }
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    eprintln!("checked {checked}, turned away {busy}");
    assert_eq!(checked + busy, 40, "{statuses:?}");
    assert!(busy > 0, "a full queue turns sign-ins away: {statuses:?}");
    assert!(checked >= 1);

    // Being turned away used none of the address's attempts: the right password works.
    let from: IpAddr = "127.0.1.1".parse().unwrap();
    assert_eq!(
        sign_in_from(&base, from, PARENT_ONE_CHILD, DEMO_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_share_one_login_limit() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        eprintln!("two server processes need PostgreSQL; this backend is {backend:?}");
        return;
    }
    let first = server(&[]);
    let second = first.second_instance();
    let bases = [first.url(), second.url()];
    let mut burst = Vec::new();
    for i in 0..100 {
        let base = bases[i % 2].clone();
        burst.push(tokio::spawn(async move {
            sign_in(&base, PARENT_HEKOU, &format!("guess-{i}")).await
        }));
    }
    let mut replies = Vec::new();
    for r in burst {
        replies.push(r.await.unwrap());
    }
    let o = tally(&replies);
    eprintln!("{o:?}");
    assert!(
        o.wrong <= PER_LOGIN,
        "both processes together checked at most {PER_LOGIN}: {o:?}"
    );
    for base in &bases {
        let r = sign_in(base, PARENT_HEKOU, DEMO_PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    }

    // One login's attempts on one process count on the other, one at a time too.
    for _ in 0..PER_LOGIN {
        let r = sign_in(&bases[0], PARENT_MAIN_2, "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = sign_in(&bases[1], PARENT_MAIN_2, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
}
