//! What an attachment is served as. A student's "photo" that is really a web page with a
//! script must never reach the teacher's browser as a page: its bytes are checked against its
//! kind when it is handed in (refused, nothing changes), and every file is served as what its
//! bytes are, with `nosniff`, a sandboxing CSP and a `Content-Disposition`. Real pictures and
//! sound are taken whatever type the phone declared. Who may fetch an attachment: the student,
//! their parent and the homework's teacher; not a classmate, another family, a teacher of
//! another class or a stranger.

use std::{path::Path, process::Command};

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::json;

fn in_a_day() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 86_400_000
}

/// A small real file made by ffmpeg from its test sources (`ext` picks the format).
fn media(dir: &Path, name: &str, source: &str) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args(["-i", source])
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {name}");
    std::fs::read(path).unwrap()
}

fn sound(dir: &Path) -> Vec<u8> {
    let path = dir.join("voice.mp3");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:duration=1", "-c:a", "libmp3lame"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(path).unwrap()
}

fn meta<'a>(
    kind: &'a str,
    name: &'a str,
    declared: &'a str,
    hw: &'a str,
) -> [(&'a str, &'a str); 5] {
    [
        ("purpose", "submission"),
        ("kind", kind),
        ("name", name),
        ("content_type", declared),
        ("homework_id", hw),
    ]
}

/// `GET /v1/attachments/{id}` as `who` (none: a stranger without a token).
async fn fetch(base: &str, who: Option<&Api>, id: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = lianxiao_tests::api::http().get(format!("{base}/v1/attachments/{id}"));
    if let Some(api) = who {
        req = req.bearer_auth(&api.access);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_handed_in_as_a_photo_is_refused_and_files_are_served_as_their_bytes() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let dir = tempfile::tempdir().unwrap();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let classmate = Api::login(&base, STUDENT_MAIN_1B).await;
    let other_parent = Api::login(&base, PARENT_MAIN_2).await;
    let other_teacher = Api::login(&base, ASSISTANT_HEKOU).await;
    let r = lead
        .post(
            "/v1/homework",
            json!({
                "title": "看图写话", "instructions": "Photograph your page.",
                "class_ids": [student.student_class()], "due_at": in_a_day(),
                "accepted_kinds": ["text", "photo", "audio"], "max_score": 100,
                "max_submission_bytes": 1 << 20,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let hw = r.body["id"].as_str().unwrap().to_owned();
    let hand_in = |ids: Vec<String>| {
        let student = &student;
        let hw = hw.clone();
        async move {
            student
                .post(
                    &format!("/v1/homework/{hw}/submissions"),
                    json!({"text": "我的作业", "upload_ids": ids}),
                )
                .await
        }
    };

    // The attack: a "photo" that is a page with a script, declared text/html. It uploads
    // (the bytes are only known at the end), but it cannot be handed in, and nothing changes.
    let page = b"  <script>fetch('/v1/me').then(r => r.text()).then(alert)</script>";
    let attack = student
        .upload(page, &meta("photo", "page1.jpg", "text/html", &hw))
        .await;
    let r = hand_in(vec![attack.clone()]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.code(), "validation");
    assert_eq!(r.body["field"], "upload_ids");
    assert!(
        r.body["message"].as_str().unwrap().contains("text/html"),
        "{:?}",
        r.body
    );
    let subs = lead.get(&format!("/v1/homework/{hw}/submissions")).await;
    assert_eq!(subs.status, StatusCode::OK, "{:?}", subs.body);
    assert_eq!(
        subs.body.as_array().map(Vec::len),
        Some(0),
        "{:?}",
        subs.body
    );
    let upload = student.get(&format!("/v1/uploads/{attack}")).await;
    assert_eq!(
        upload.status,
        StatusCode::OK,
        "the refused upload is still there, unused"
    );
    assert_eq!(
        fetch(&base, Some(&lead), &attack).await.0,
        StatusCode::NOT_FOUND,
        "no attachment was made of it"
    );

    // Real pictures and sound are taken, whatever the phone declared, and served as what
    // they are; bytes nothing recognises are taken but only ever downloaded.
    let jpeg = media(dir.path(), "page.jpg", "color=c=red:s=16x16");
    let png = media(dir.path(), "page.png", "color=c=blue:s=16x16");
    let mp3 = sound(dir.path());
    let unknown = b"\x01\x02\x03 not a format anything knows".to_vec();
    let files = [
        (jpeg, "photo", "第一页.jpg", "text/html", "image/jpeg", true),
        (
            png,
            "photo",
            "page2.png",
            "application/octet-stream",
            "image/png",
            true,
        ),
        (mp3, "audio", "朗读.mp3", "text/html", "audio/mpeg", true),
        (
            unknown,
            "photo",
            "page3.jpg",
            "image/jpeg",
            "application/octet-stream",
            false,
        ),
    ];
    let mut ids = Vec::new();
    for (bytes, kind, name, declared, _, _) in &files {
        ids.push(
            student
                .upload(bytes, &meta(kind, name, declared, &hw))
                .await,
        );
    }
    let r = hand_in(ids.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    for (id, (bytes, _, name, _, served, inline)) in ids.iter().zip(&files) {
        let (status, h, body) = fetch(&base, Some(&lead), id).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(&body, bytes, "{name}");
        assert_eq!(header(&h, "content-type"), *served, "{name}");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff", "{name}");
        assert!(
            header(&h, "content-security-policy").contains("sandbox"),
            "{name}"
        );
        let disposition = header(&h, "content-disposition");
        let how = if *inline { "inline;" } else { "attachment;" };
        assert!(disposition.starts_with(how), "{name}: {disposition}");
        assert!(
            disposition.contains("filename*=UTF-8''"),
            "{name}: {disposition}"
        );
    }

    // Who may fetch the student's photo: the student, their parent, the homework's teacher;
    // a classmate, another family, a teacher of another class and a stranger may not.
    let photo = &ids[0];
    for (who, api) in [
        ("student", &student),
        ("parent", &parent),
        ("teacher", &lead),
    ] {
        assert_eq!(
            fetch(&base, Some(api), photo).await.0,
            StatusCode::OK,
            "{who}"
        );
    }
    for (who, api) in [
        ("classmate", &classmate),
        ("another family", &other_parent),
        ("a teacher of another class", &other_teacher),
    ] {
        let (status, _, body) = fetch(&base, Some(api), photo).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
        assert!(body.len() < 200, "{who} got no bytes");
    }
    assert_eq!(fetch(&base, None, photo).await.0, StatusCode::UNAUTHORIZED);
}

/// A teacher's document may be any file, but one that is a web page is only ever a download
/// of unknown type, never a page on the students' and parents' phones or browsers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_is_a_web_page_is_only_a_download() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let page = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
    let id = lead
        .upload(
            page,
            &[
                ("purpose", "instructions"),
                ("kind", "file"),
                ("name", "worksheet.html"),
                ("content_type", "text/html"),
            ],
        )
        .await;
    let r = lead
        .post(
            "/v1/homework",
            json!({
                "title": "读一读", "instructions": "Read the sheet.",
                "attachment_upload_ids": [id], "class_ids": lead.taught_classes(),
                "due_at": in_a_day(), "accepted_kinds": ["text"], "max_score": 10,
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (status, h, body) = fetch(&base, Some(&parent), &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, page);
    assert_eq!(header(&h, "content-type"), "application/octet-stream");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert!(header(&h, "content-disposition").starts_with("attachment;"));
}
