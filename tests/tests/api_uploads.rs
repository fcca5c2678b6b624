//! The tus 1.0 endpoint spoken by hand: what a phone on a bad network relies on (a chunk cut
//! or gone quiet mid-way, a retry racing the request it replaces), who may upload what, and
//! how finished uploads become attachments exactly once.

use std::time::{Duration, Instant};

use base64::Engine;
use lianxiao_server::uploads::tus::IDLE_TIMEOUT;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

const INSTRUCTIONS: [(&str, &str); 4] = [
    ("purpose", "instructions"),
    ("kind", "file"),
    ("name", "worksheet.pdf"),
    ("content_type", "application/pdf"),
];

fn bytes(n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i * 7 % 253) as u8).collect()
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

fn sha256_header(d: &[u8]) -> String {
    format!("sha256 {}", b64(&sha2::Sha256::digest(d)))
}

fn location(r: &lianxiao_tests::api::Reply) -> String {
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.headers["location"].to_str().unwrap().to_owned()
}

fn id_of(location: &str) -> &str {
    location.rsplit('/').next().unwrap()
}

fn header(r: &lianxiao_tests::api::Reply, name: &str) -> String {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn info(api: &Api, location: &str) -> Value {
    let r = api.get(&format!("/v1/uploads/{}", id_of(location))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

/// A request with any method and headers (tus headers are added), no body.
async fn tus(api: &Api, method: Method, location: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = api
        .http
        .request(method, format!("{}{location}", api.base))
        .bearer_auth(&api.access);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status()
}

async fn terminate(api: &Api, location: &str) -> StatusCode {
    tus(api, Method::DELETE, location, &[("Tus-Resumable", "1.0.0")]).await
}

/// `POST /v1/uploads` with a first chunk (creation-with-upload).
async fn create_with(
    api: &Api,
    length: u64,
    meta: &[(&str, &str)],
    body: &[u8],
    checksum: Option<&str>,
) -> lianxiao_tests::api::Reply {
    let meta: Vec<String> = meta
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v.as_bytes())))
        .collect();
    let mut req = api
        .http
        .post(format!("{}/v1/uploads", api.base))
        .bearer_auth(&api.access)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", meta.join(","))
        .header("Content-Type", "application/offset+octet-stream")
        .body(body.to_vec());
    if let Some(c) = checksum {
        req = req.header("Upload-Checksum", c);
    }
    let res = req.send().await.unwrap();
    lianxiao_tests::api::Reply {
        status: res.status(),
        headers: res.headers().clone(),
        body: serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null),
    }
}

/// Opens a raw PATCH that announces `announced` bytes and sends only `body`: the socket is
/// returned open, so the caller decides whether the connection breaks or goes quiet.
async fn raw_patch(
    api: &Api,
    location: &str,
    offset: u64,
    announced: u64,
    body: &[u8],
    checksum: Option<&str>,
) -> TcpStream {
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let mut head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n",
        api.access
    );
    if let Some(c) = checksum {
        head.push_str(&format!("Upload-Checksum: {c}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    tcp.flush().await.unwrap();
    // Let the server take in what was sent before the caller acts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tcp
}

/// The upload's offset once it is `expected`, or whatever it is after five seconds (the
/// server finishes a broken request on its own time).
async fn offset_becomes(api: &Api, location: &str, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = api.tus_head(location).await;
        assert_eq!(r.status, StatusCode::OK);
        let now: u64 = header(&r, "upload-offset").parse().unwrap();
        if now == expected || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_the_version_handshake() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;

    let r = lianxiao_tests::api::send(&base, Method::OPTIONS, "/v1/uploads", None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert_eq!(
        header(&r, "tus-extension"),
        "creation,creation-with-upload,termination,checksum,expiration"
    );
    assert_eq!(
        header(&r, "tus-max-size"),
        lianxiao_protocol::TUS_MAX_SIZE.to_string()
    );
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha1,sha256");

    // Every other request must say Tus-Resumable: 1.0.0, or gets 412 and our version.
    let loc = location(&lead.tus_create(10, &INSTRUCTIONS).await);
    for (method, path) in [
        (Method::POST, "/v1/uploads"),
        (Method::HEAD, loc.as_str()),
        (Method::PATCH, loc.as_str()),
        (Method::DELETE, loc.as_str()),
    ] {
        let res = lead
            .http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&lead.access)
            .header("Tus-Resumable", "0.2.2")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "{method}");
        assert_eq!(res.headers()["tus-version"], "1.0.0");
    }
    // The upload is untouched by the refused requests; even a refused sign-in speaks tus.
    assert_eq!(lead.tus_head(&loc).await.status, StatusCode::OK);
    let r = lianxiao_tests::api::send(
        &base,
        Method::POST,
        "/v1/uploads",
        None,
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "10")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");

    // The routes are in the OpenAPI document, under their tag.
    let doc = lianxiao_tests::api::send(&base, Method::GET, "/v1/openapi.json", None, &[]).await;
    let one = &doc.body["paths"]["/v1/uploads/{id}"];
    for method in ["head", "patch", "delete", "get"] {
        assert_eq!(one[method]["tags"][0], "uploads", "{method}");
    }
    let all = &doc.body["paths"]["/v1/uploads"];
    assert!(all["options"].is_object() && all["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_up_in_chunks_and_the_server_keeps_its_sha256() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(250_000);

    let r = lead.tus_create(data.len() as u64, &INSTRUCTIONS).await;
    let loc = location(&r);
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let created = info(&lead, &loc).await;
    assert_eq!(created["offset"], 0);
    assert_eq!(created["complete"], false);
    assert!(created.get("sha256").is_none());
    let blob = server.data_dir().join("blobs").join(id_of(&loc));
    assert!(blob.exists(), "an empty blob is made at creation");

    let r = lead.tus_head(&loc).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(header(&r, "upload-length"), "250000");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let echoed = header(&r, "upload-metadata");
    assert!(
        echoed.contains(&format!("name {}", b64(b"worksheet.pdf"))),
        "{echoed}"
    );

    // Three chunks: checked with sha256, with sha1, and not at all.
    let r = lead
        .tus_patch(
            &loc,
            0,
            &data[..100_000],
            Some(&sha256_header(&data[..100_000])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(header(&r, "upload-offset"), "100000");
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let sha1 = format!("sha1 {}", b64(&sha1::Sha1::digest(&data[100_000..200_000])));
    let r = lead
        .tus_patch(&loc, 100_000, &data[100_000..200_000], Some(&sha1))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let midway = info(&lead, &loc).await;
    assert_eq!(midway["offset"], 200_000);
    assert_eq!(midway["complete"], false);
    assert!(
        midway["expires_at"].as_i64() >= created["expires_at"].as_i64(),
        "each chunk extends the expiry"
    );
    // Even an empty chunk counts as activity.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = lead.tus_patch(&loc, 200_000, &[], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(header(&r, "upload-offset"), "200000");
    assert!(info(&lead, &loc).await["expires_at"].as_i64() > midway["expires_at"].as_i64());
    let r = lead.tus_patch(&loc, 200_000, &data[200_000..], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(header(&r, "upload-offset"), "250000");

    assert_eq!(
        header(&lead.tus_head(&loc).await, "upload-offset"),
        "250000"
    );
    let done = info(&lead, &loc).await;
    assert_eq!(done["complete"], true);
    assert_eq!(done["length"], 250_000);
    assert_eq!(done["purpose"], "instructions");
    assert_eq!(done["kind"], "file");
    assert_eq!(done["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    assert_eq!(std::fs::read(&blob).unwrap(), data);

    // A finished upload has no room left.
    let r = lead.tus_patch(&loc, 250_000, b"x", None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_stores_the_first_chunk() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(120_000);

    let head = &data[..50_000];
    let r = create_with(
        &lead,
        120_000,
        &INSTRUCTIONS,
        head,
        Some(&sha256_header(head)),
    )
    .await;
    let loc = location(&r);
    assert_eq!(header(&r, "upload-offset"), "50000");
    let r = lead.tus_patch(&loc, 50_000, &data[50_000..], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        info(&lead, &loc).await["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );

    // A whole small file in one request.
    let r = create_with(&lead, 5, &INSTRUCTIONS, b"hello", None).await;
    let small = location(&r);
    assert_eq!(header(&r, "upload-offset"), "5");
    assert_eq!(info(&lead, &small).await["complete"], true);

    // A first chunk that fails its checksum leaves an empty upload to go on with.
    let wrong = sha256_header(b"something else");
    let r = create_with(&lead, 120_000, &INSTRUCTIONS, head, Some(&wrong)).await;
    let loc = location(&r);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(info(&lead, &loc).await["offset"], 0);

    // Refused before anything is made: an unknown algorithm, a body longer than the file.
    let r = create_with(&lead, 120_000, &INSTRUCTIONS, head, Some("md5 AAAA")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.headers.get("location").is_none());
    let r = create_with(&lead, 10, &INSTRUCTIONS, head, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.headers.get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_chunks_leave_the_offset_where_it_was() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(100_000);
    let loc = location(&lead.tus_create(100_000, &INSTRUCTIONS).await);
    let r = lead.tus_patch(&loc, 0, &data[..10_000], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Wrong offset: 409, and the response says where to go on.
    let r = lead.tus_patch(&loc, 0, &data[..10_000], None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(header(&r, "upload-offset"), "10000");
    // Wrong content type: 415. No Upload-Offset: 400.
    let ct = [
        ("Tus-Resumable", "1.0.0"),
        ("Upload-Offset", "10000"),
        ("Content-Type", "application/octet-stream"),
    ];
    assert_eq!(
        tus(&lead, Method::PATCH, &loc, &ct).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let no_offset = [
        ("Tus-Resumable", "1.0.0"),
        ("Content-Type", "application/offset+octet-stream"),
    ];
    assert_eq!(
        tus(&lead, Method::PATCH, &loc, &no_offset).await,
        StatusCode::BAD_REQUEST
    );
    // A checksum that does not match: 460, nothing kept. An unknown algorithm: 400.
    let chunk = &data[10_000..60_000];
    let r = lead
        .tus_patch(&loc, 10_000, chunk, Some(&sha256_header(b"other bytes")))
        .await;
    assert_eq!(r.status.as_u16(), 460);
    let r = lead.tus_patch(&loc, 10_000, chunk, Some("md5 AAAA")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("md5"));
    let r = lead.tus_patch(&loc, 10_000, chunk, Some("sha256")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Past Upload-Length: 413 (the server does not read what it cannot keep).
    let mut too_long = data[10_000..].to_vec();
    too_long.push(0);
    let r = lead.tus_patch(&loc, 10_000, &too_long, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    assert_eq!(header(&lead.tus_head(&loc).await, "upload-offset"), "10000");

    // A chunk over the server's limit is refused from its headers alone.
    let big = location(&lead.tus_create(40 << 20, &INSTRUCTIONS).await);
    let limit = lianxiao_protocol::MAX_CHUNK_BYTES;
    let mut tcp = raw_patch(&lead, &big, 0, limit + 1, &[], None).await;
    let mut answer = vec![0; 4096];
    // Waiting for the body would take the server's idle timeout (60 s) and the body never
    // comes; half of it leaves a busy machine room and still tells the two apart.
    let n = tokio::time::timeout(IDLE_TIMEOUT / 2, tcp.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("16 MB"), "{answer}");

    // Afterwards the right bytes still complete the file.
    let r = lead
        .tus_patch(
            &loc,
            10_000,
            &data[10_000..],
            Some(&sha256_header(&data[10_000..])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        info(&lead, &loc).await["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chunk_keeps_what_arrived_unless_it_carried_a_checksum() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(300_000);
    let loc = location(&lead.tus_create(data.len() as u64, &INSTRUCTIONS).await);

    // Without a checksum, the 120 000 bytes that arrived are kept: the client resumes there.
    drop(raw_patch(&lead, &loc, 0, 200_000, &data[..120_000], None).await);
    assert_eq!(offset_becomes(&lead, &loc, 120_000).await, 120_000);

    // With one, a broken chunk cannot be verified and is thrown away.
    let sum = sha256_header(&data[120_000..]);
    drop(
        raw_patch(
            &lead,
            &loc,
            120_000,
            180_000,
            &data[120_000..200_000],
            Some(&sum),
        )
        .await,
    );
    assert_eq!(offset_becomes(&lead, &loc, 120_000).await, 120_000);

    // Resuming from the server's offset finishes a file identical to the original.
    let r = lead
        .tus_patch(&loc, 120_000, &data[120_000..], Some(&sum))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let done = info(&lead, &loc).await;
    assert_eq!(done["complete"], true);
    assert_eq!(done["sha256"], hex::encode(sha2::Sha256::digest(&data)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_that_went_quiet_does_not_block_the_clients_retry() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(200_000);
    let loc = location(&lead.tus_create(data.len() as u64, &INSTRUCTIONS).await);

    // The phone's connection dies silently after 50 000 bytes: no FIN, no RST, nothing.
    let started = Instant::now();
    let quiet = raw_patch(&lead, &loc, 0, 200_000, &data[..50_000], None).await;
    // The phone gives up on it and retries from the offset it last heard (0). The server
    // lets the retry take over at once: the quiet request stops and keeps the bytes it got,
    // so the retry learns the real offset from a 409 and goes on from there.
    let r = lead.tus_patch(&loc, 0, &data, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let kept: usize = header(&r, "upload-offset").parse().unwrap();
    assert!(kept > 0 && kept <= 50_000, "{kept}");
    let r = lead.tus_patch(&loc, kept as u64, &data[kept..], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // Waiting for the quiet request would take the server's idle timeout (60 s); half of it
    // tells the two apart without asking a busy machine to be quick.
    assert!(
        started.elapsed() < IDLE_TIMEOUT / 2,
        "the retry waited for the quiet request: {:?}",
        started.elapsed()
    );
    assert_eq!(
        info(&lead, &loc).await["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );
    drop(quiet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_requests_writing_the_same_bytes_do_not_both_write() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let data = bytes(3_000_000);
    let sum = sha256_header(&data);
    for _ in 0..3 {
        let loc = location(&lead.tus_create(data.len() as u64, &INSTRUCTIONS).await);
        let (a, b) = tokio::join!(
            lead.tus_patch(&loc, 0, &data, Some(&sum)),
            lead.tus_patch(&loc, 0, &data, Some(&sum)),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::NO_CONTENT, StatusCode::CONFLICT],
            "{:?} {:?}",
            a.body,
            b.body
        );
        let done = info(&lead, &loc).await;
        assert_eq!(done["offset"], 3_000_000);
        assert_eq!(done["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_checks_the_metadata_and_the_limits() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let assistant = Api::login(&base, ASSISTANT_HEKOU).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;

    // Anyone who teaches may upload instructions; parents and students may not.
    for who in [&lead, &admin, &assistant] {
        assert_eq!(
            who.tus_create(10, &INSTRUCTIONS).await.status,
            StatusCode::CREATED
        );
    }
    for who in [&parent, &student] {
        let r = who.tus_create(10, &INSTRUCTIONS).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
    }

    let with = |k: &'static str, v: &'static str| {
        let mut m: Vec<(&str, &str)> = INSTRUCTIONS
            .iter()
            .filter(|(x, _)| *x != k)
            .copied()
            .collect();
        if !v.is_empty() {
            m.push((k, v));
        }
        m
    };
    // Metadata: what is missing or wrong is named.
    for (meta, field) in [
        (with("purpose", ""), "purpose"),
        (with("purpose", "homework"), "purpose"),
        (with("kind", ""), "kind"),
        (with("kind", "text"), "kind"),
        (with("kind", "spreadsheet"), "kind"),
        (with("name", ""), "name"),
        (
            vec![
                ("purpose", "submission"),
                ("kind", "photo"),
                ("name", "a.jpg"),
            ],
            "homework_id",
        ),
        (
            vec![
                ("purpose", "feedback"),
                ("kind", "audio"),
                ("name", "a.m4a"),
            ],
            "homework_id",
        ),
    ] {
        let r = lead.tus_create(10, &meta).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{meta:?}");
        assert_eq!(r.body["field"], field, "{meta:?}");
    }
    // `filename` and `filetype`, as generic tus clients send them, are understood.
    let generic = [
        ("purpose", "instructions"),
        ("kind", "file"),
        ("filename", "plan.docx"),
        ("filetype", "application/msword"),
    ];
    assert_eq!(
        lead.tus_create(10, &generic).await.status,
        StatusCode::CREATED
    );

    // Header problems: 400.
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = lead
            .http
            .post(format!("{base}/v1/uploads"))
            .bearer_auth(&lead.access)
            .header("Tus-Resumable", "1.0.0");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().status() }
    };
    let meta = INSTRUCTIONS
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v.as_bytes())))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        post(vec![("Upload-Metadata", meta.clone())]).await,
        StatusCode::BAD_REQUEST,
        "no Upload-Length"
    );
    assert_eq!(
        post(vec![
            ("Upload-Defer-Length", "1".into()),
            ("Upload-Metadata", meta.clone())
        ])
        .await,
        StatusCode::BAD_REQUEST,
        "deferred length"
    );
    assert_eq!(
        post(vec![
            ("Upload-Length", "-1".into()),
            ("Upload-Metadata", meta)
        ])
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(vec![
            ("Upload-Length", "10".into()),
            ("Upload-Metadata", "purpose !!not-base64".into())
        ])
        .await,
        StatusCode::BAD_REQUEST
    );

    // Sizes: the server's maximum, then the kind's.
    let r = lead
        .tus_create(lianxiao_protocol::TUS_MAX_SIZE + 1, &INSTRUCTIONS)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "payload_too_large");
    assert!(
        r.body["message"].as_str().unwrap().contains("4096 MB"),
        "{:?}",
        r.body
    );
    let r = lead.tus_create((50 << 20) + 1, &INSTRUCTIONS).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.body["message"].as_str().unwrap().contains("50 MB"),
        "{:?}",
        r.body
    );
    assert_eq!(
        lead.tus_create(50 << 20, &INSTRUCTIONS).await.status,
        StatusCode::CREATED
    );
}

fn in_a_day() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 86_400_000
}

/// The lead assigns to both main classes and 石桥: photos and audio, at most 1 MiB of work.
async fn assign(
    lead: &Api,
    shiqiao_class: &str,
    attachment_upload_ids: &[String],
) -> lianxiao_tests::api::Reply {
    let mut classes = lead.taught_classes();
    classes.push(shiqiao_class.to_owned());
    lead.post(
        "/v1/homework",
        json!({
            "title": "看图写话",
            "instructions": "Photograph your page.",
            "attachment_upload_ids": attachment_upload_ids,
            "class_ids": classes,
            "due_at": in_a_day(),
            "accepted_kinds": ["text", "photo", "audio"],
            "max_score": 100,
            "max_submission_bytes": 1 << 20,
        }),
    )
    .await
}

fn homework_meta<'a>(
    purpose: &'a str,
    kind: &'a str,
    homework_id: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("purpose", purpose),
        ("kind", kind),
        ("name", "file"),
        ("homework_id", homework_id),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_uploads_are_for_its_students_and_its_teachers() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let shiqiao = Api::login(&base, STUDENT_SHIQIAO_A).await;
    let hekou = Api::login(&base, STUDENT_HEKOU_A).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let shiqiao_assistant = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let hekou_assistant = Api::login(&base, ASSISTANT_HEKOU).await;
    let r = assign(&lead, &shiqiao.student_class(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let hw = r.body["id"].as_str().unwrap().to_owned();

    // Work: the homework's students, in any of its schools.
    let photo = homework_meta("submission", "photo", &hw);
    for who in [&student, &shiqiao] {
        assert_eq!(
            who.tus_create(1000, &photo).await.status,
            StatusCode::CREATED
        );
    }
    // A student it was not given to does not learn it exists; a parent or a teacher who
    // sees it may not send work.
    let r = hekou.tus_create(1000, &photo).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    let r = student
        .tus_create(
            1000,
            &homework_meta("submission", "photo", "no-such-homework"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for who in [&parent, &lead] {
        assert_eq!(
            who.tus_create(1000, &photo).await.status,
            StatusCode::FORBIDDEN
        );
    }
    // Only kinds the homework takes, and no more than its cap for one attempt.
    let r = student
        .tus_create(1000, &homework_meta("submission", "video", &hw))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "kind");
    let r = student.tus_create((1 << 20) + 1, &photo).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.body["message"].as_str().unwrap().contains("1 MB"),
        "{:?}",
        r.body
    );

    // Voice feedback: the author and the teachers of its classes, audio only.
    let audio = homework_meta("feedback", "audio", &hw);
    for who in [&lead, &shiqiao_assistant] {
        assert_eq!(
            who.tus_create(1000, &audio).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        hekou_assistant.tus_create(1000, &audio).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        student.tus_create(1000, &audio).await.status,
        StatusCode::FORBIDDEN
    );
    let r = lead
        .tus_create(1000, &homework_meta("feedback", "photo", &hw))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "kind");

    // More instructions for an existing homework: its author only.
    let more = homework_meta("instructions", "file", &hw);
    assert_eq!(
        lead.tus_create(1000, &more).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        shiqiao_assistant.tus_create(1000, &more).await.status,
        StatusCode::FORBIDDEN
    );

    // A deleted homework takes nothing more.
    let r = lead
        .call(Method::DELETE, &format!("/v1/homework/{hw}"), None, None)
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(
        student.tus_create(1000, &photo).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_uploads_become_attachments_once() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let branch = Api::login(&base, BRANCH_TEACHER).await;
    let shiqiao = Api::login(&base, STUDENT_SHIQIAO_A).await;
    let class = shiqiao.student_class();

    let first = lead.upload(b"page one", &INSTRUCTIONS).await;
    let second = lead.upload(b"page two", &INSTRUCTIONS).await;
    let unfinished = id_of(&location(&lead.tus_create(10, &INSTRUCTIONS).await)).to_owned();
    let someone_elses = branch.upload(b"not yours", &INSTRUCTIONS).await;

    // Each bad list is refused whole, naming the field.
    for ids in [
        vec![first.clone(), first.clone()],
        vec![first.clone(), unfinished],
        vec![first.clone(), someone_elses],
        vec!["no-such-upload".to_owned()],
    ] {
        let r = assign(&lead, &class, &ids).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{ids:?}");
        assert_eq!(r.body["field"], "attachment_upload_ids", "{ids:?}");
    }

    let r = assign(&lead, &class, &[second.clone(), first.clone()]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let attached: Vec<&str> = r.body["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        attached,
        [second.as_str(), first.as_str()],
        "in the order given"
    );
    assert_eq!(
        r.body["attachments"][1]["sha256"],
        hex::encode(sha2::Sha256::digest(b"page one"))
    );
    assert_eq!(r.body["attachments"][1]["file_name"], "worksheet.pdf");
    assert_eq!(r.body["attachments"][1]["size"], 8);

    // Used once: not again, and no longer deletable through tus.
    let r = assign(&lead, &class, std::slice::from_ref(&first)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let loc = format!("/v1/uploads/{first}");
    assert_eq!(terminate(&lead, &loc).await, StatusCode::CONFLICT);
    assert_eq!(lead.tus_head(&loc).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_reaches_an_upload_and_termination_frees_it() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let other = Api::login(&base, BRANCH_TEACHER).await;
    let data = bytes(1000);
    let loc = location(&lead.tus_create(1000, &INSTRUCTIONS).await);
    let r = lead.tus_patch(&loc, 0, &data[..400], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // To anyone else it does not exist.
    assert_eq!(other.tus_head(&loc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.tus_patch(&loc, 400, &data[400..], None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(terminate(&other, &loc).await, StatusCode::NOT_FOUND);
    let r = other.get(&format!("/v1/uploads/{}", id_of(&loc))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(info(&lead, &loc).await["offset"], 400);

    // The owner gives it up: row and bytes go.
    let blob = server.data_dir().join("blobs").join(id_of(&loc));
    assert!(blob.exists());
    assert_eq!(terminate(&lead, &loc).await, StatusCode::NO_CONTENT);
    assert!(!blob.exists());
    assert_eq!(lead.tus_head(&loc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        lead.tus_patch(&loc, 400, &data[400..], None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(terminate(&lead, &loc).await, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_uploads_expire_and_their_bytes_are_cleaned_up() {
    let mut server =
        TestServer::start_with_env(&Backend::from_env(), &[("LIANXIAO_UPLOAD_TTL_SECS", "2")]);
    server.import_demo_roster();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let stale = location(&lead.tus_create(100, &INSTRUCTIONS).await);
    let r = lead.tus_patch(&stale, 0, &[1; 40], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let given_up = location(&lead.tus_create(100, &INSTRUCTIONS).await);
    let finished = lead.upload(&[2; 100], &INSTRUCTIONS).await;
    let finished = format!("/v1/uploads/{finished}");
    let blobs = server.data_dir().join("blobs");
    let blob = |loc: &str| blobs.join(id_of(loc));

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(lead.tus_head(&stale).await.status, StatusCode::GONE);
    assert_eq!(
        lead.tus_patch(&stale, 40, &[1; 60], None).await.status,
        StatusCode::GONE
    );
    let r = lead.get(&format!("/v1/uploads/{}", id_of(&stale))).await;
    assert_eq!(r.status, StatusCode::GONE);
    // A finished upload waits for its hand-in however long it takes.
    assert_eq!(lead.tus_head(&finished).await.status, StatusCode::OK);
    // An expired upload can still be given up.
    assert_eq!(terminate(&lead, &given_up).await, StatusCode::NO_CONTENT);
    assert!(!blob(&given_up).exists());

    // Housekeeping (it runs at start, then hourly) deletes what expired, bytes and all.
    assert!(blob(&stale).exists());
    server.restart();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    let mut gone = false;
    for _ in 0..50 {
        if lead.tus_head(&stale).await.status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the expired upload was not removed");
    assert!(!blob(&stale).exists());
    assert_eq!(lead.tus_head(&finished).await.status, StatusCode::OK);
    assert!(blob(&finished).exists());
}
