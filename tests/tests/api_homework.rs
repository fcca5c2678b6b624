//! Homework and uploads through the API directly: 同步作业 across linked schools, the tus
//! endpoint's status codes, and who may see or touch whose work.

use base64::Engine;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

fn in_a_day() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 86_400_000
}

/// The lead assigns to main 1, main 2 and 石桥 (a receiving class of the link group).
async fn assign(lead: &Api, shiqiao_class: &str, extra: Value) -> Value {
    let mut classes = lead.taught_classes();
    classes.push(shiqiao_class.to_owned());
    let mut body = json!({
        "title": "看图写话",
        "instructions": "Write five sentences about the picture.",
        "class_ids": classes,
        "due_at": in_a_day(),
        "accepted_kinds": ["text", "photo", "audio"],
        "max_score": 100,
        "requires_signoff": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = lead.post("/v1/homework", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

fn photo_meta(homework_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("purpose", "submission".into()),
        ("kind", "photo".into()),
        ("name", "page1.jpg".into()),
        ("content_type", "image/jpeg".into()),
        ("homework_id", homework_id.to_owned()),
    ]
}

fn refs<'a>(meta: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    meta.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_endpoint_answers_with_the_protocols_status_codes() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let shiqiao = Api::login(&base, STUDENT_SHIQIAO_A).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let other = Api::login(&base, STUDENT_MAIN_1B).await;
    let hw = assign(&lead, &shiqiao.student_class(), json!({})).await;
    let hw_id = hw["id"].as_str().unwrap();
    let meta = photo_meta(hw_id);

    // Discovery.
    let r = lianxiao_tests::api::send(&base, Method::OPTIONS, "/v1/uploads", None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["tus-version"], "1.0.0");
    let ext = r.headers["tus-extension"].to_str().unwrap();
    for e in ["creation", "termination", "checksum", "expiration"] {
        assert!(ext.contains(e), "{ext}");
    }
    assert_eq!(r.headers["tus-checksum-algorithm"], "sha1,sha256");

    // Without Tus-Resumable: 412.
    let r = student.call(Method::POST, "/v1/uploads", None, None).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);

    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = student.tus_create(data.len() as u64, &refs(&meta)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.headers.contains_key("upload-expires"));
    let loc = r.headers["location"].to_str().unwrap().to_owned();

    // Wrong offset: 409. Wrong content type: 415.
    assert_eq!(
        student.tus_patch(&loc, 5, &data[..10], None).await.status,
        StatusCode::CONFLICT
    );
    let r = student
        .http
        .patch(format!("{base}{loc}"))
        .bearer_auth(&student.access)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/octet-stream")
        .body(data[..10].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A chunk with a wrong checksum is refused with 460 and nothing is kept.
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let wrong = format!("sha256 {}", b64(&sha2::Sha256::digest(b"something else")));
    let r = student
        .tus_patch(&loc, 0, &data[..100_000], Some(&wrong))
        .await;
    assert_eq!(r.status.as_u16(), 460);
    assert_eq!(student.tus_head(&loc).await.headers["upload-offset"], "0");
    // Unknown algorithm: 400.
    let r = student
        .tus_patch(&loc, 0, &data[..10], Some("md5 AAAA"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Right checksums (sha256, then sha1) advance the offset.
    let good = format!("sha256 {}", b64(&sha2::Sha256::digest(&data[..100_000])));
    let r = student
        .tus_patch(&loc, 0, &data[..100_000], Some(&good))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(r.headers["upload-offset"], "100000");
    let sha1 = format!("sha1 {}", b64(&sha1::Sha1::digest(&data[100_000..200_000])));
    let r = student
        .tus_patch(&loc, 100_000, &data[100_000..200_000], Some(&sha1))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Another student cannot see or write it.
    assert_eq!(other.tus_head(&loc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other
            .tus_patch(&loc, 200_000, &data[200_000..], None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // More bytes than the upload's length: refused, nothing kept.
    let mut too_long = data[200_000..].to_vec();
    too_long.extend_from_slice(b"extra");
    let r = student.tus_patch(&loc, 200_000, &too_long, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = student
        .tus_patch(&loc, 200_000, &data[200_000..], None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let id = loc.rsplit('/').next().unwrap();
    let info = student.get(&format!("/v1/uploads/{id}")).await;
    assert_eq!(info.body["complete"], true);
    assert_eq!(
        info.body["sha256"],
        hex::encode(sha2::Sha256::digest(&data))
    );

    // Oversize at creation: 413; a kind the homework does not take: 422; someone else's
    // homework: 404.
    let big = 21 * 1024 * 1024;
    assert_eq!(
        student.tus_create(big, &refs(&meta)).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mut video = meta.clone();
    video[1].1 = "video".into();
    assert_eq!(
        student.tus_create(10, &refs(&video)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let hekou = Api::login(&base, STUDENT_HEKOU_A).await;
    assert_eq!(
        hekou.tus_create(10, &refs(&meta)).await.status,
        StatusCode::NOT_FOUND
    );
    // A parent cannot upload instructions.
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let r = parent
        .tus_create(
            10,
            &[
                ("purpose", "instructions"),
                ("kind", "file"),
                ("name", "x.pdf"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Termination: 204, then gone.
    let r = student.tus_create(10, &refs(&meta)).await;
    let loc2 = r.headers["location"].to_str().unwrap().to_owned();
    let r = student
        .http
        .delete(format!("{base}{loc2}"))
        .bearer_auth(&student.access)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(student.tus_head(&loc2).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_answer_410() {
    let server =
        TestServer::start_with_env(&Backend::from_env(), &[("LIANXIAO_UPLOAD_TTL_SECS", "1")]);
    server.import_demo_roster();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let r = lead
        .tus_create(
            100,
            &[
                ("purpose", "instructions"),
                ("kind", "file"),
                ("name", "a.pdf"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let loc = r.headers["location"].to_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(lead.tus_head(&loc).await.status, StatusCode::GONE);
    assert_eq!(
        lead.tus_patch(&loc, 0, &[1; 100], None).await.status,
        StatusCode::GONE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_is_seen_only_by_the_student_their_parents_and_their_teachers() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let shiqiao = Api::login(&base, STUDENT_SHIQIAO_A).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let classmate = Api::login(&base, STUDENT_MAIN_1B).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let other_parent = Api::login(&base, PARENT_MAIN_2).await;
    let assistant_shiqiao = Api::login(&base, ASSISTANT_SHIQIAO).await;
    let assistant_hekou = Api::login(&base, ASSISTANT_HEKOU).await;
    let hw = assign(&lead, &shiqiao.student_class(), json!({})).await;
    let hw_id = hw["id"].as_str().unwrap();
    assert_eq!(hw["classes"].as_array().unwrap().len(), 3);

    // A receiving class's assistant and student see it; a class outside does not.
    assert_eq!(
        assistant_shiqiao
            .get(&format!("/v1/homework/{hw_id}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        shiqiao.get(&format!("/v1/homework/{hw_id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        assistant_hekou
            .get(&format!("/v1/homework/{hw_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The branch assistant cannot assign to the main school's classes.
    let r = assistant_shiqiao
        .post(
            "/v1/homework",
            json!({"title": "x", "class_ids": lead.taught_classes(), "due_at": in_a_day(),
                   "accepted_kinds": ["text"], "max_score": 10}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let meta = photo_meta(hw_id);
    let upload = student.upload(b"a photo of page one", &refs(&meta)).await;
    // A classmate cannot hand in someone else's upload.
    let r = classmate
        .post(
            &format!("/v1/homework/{hw_id}/submissions"),
            json!({"upload_ids": [upload]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let key = "handin-1";
    let body = json!({"text": "我的作业", "upload_ids": [upload]});
    let path = format!("/v1/homework/{hw_id}/submissions");
    let first = student
        .call(Method::POST, &path, Some(body.clone()), Some(key))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    // The same request again (a lost response): the same receipt, nothing new.
    let again = student
        .call(Method::POST, &path, Some(body), Some(key))
        .await;
    assert_eq!(again.body, first.body);
    let sub_id = first.body["id"].as_str().unwrap();
    assert_eq!(first.body["attempts"].as_array().unwrap().len(), 1);
    let attachment = first.body["attempts"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Who sees the submission and its file.
    for (who, expect) in [
        (&student, StatusCode::OK),
        (&parent, StatusCode::OK),
        (&lead, StatusCode::OK),
        (&classmate, StatusCode::NOT_FOUND),
        (&other_parent, StatusCode::NOT_FOUND),
        (&assistant_shiqiao, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            who.get(&format!("/v1/submissions/{sub_id}")).await.status,
            expect
        );
        assert_eq!(
            who.get(&format!("/v1/attachments/{attachment}"))
                .await
                .status,
            expect
        );
    }
    let listed = classmate.get(&path).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 0);

    // Only the class's teachers grade; only the parent signs off.
    let grade = json!({"score": 95, "feedback": "很好"});
    let r = assistant_shiqiao
        .post(&format!("/v1/submissions/{sub_id}/grade"), grade.clone())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = student
        .post(&format!("/v1/submissions/{sub_id}/grade"), grade.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = lead
        .post(
            &format!("/v1/submissions/{sub_id}/grade"),
            json!({"score": 101}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = lead
        .post(&format!("/v1/submissions/{sub_id}/grade"), grade)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "graded");
    let r = other_parent
        .post(&format!("/v1/submissions/{sub_id}/sign-off"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = parent
        .post(
            &format!("/v1/submissions/{sub_id}/sign-off"),
            json!({"note": "已检查"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["sign_off"]["note"], "已检查");
    // Graded work cannot be handed in again until it is returned; then history is kept.
    let r = student.post(&path, json!({"text": "again"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = lead
        .post(
            &format!("/v1/submissions/{sub_id}/return"),
            json!({"reason": "字要写工整"}),
        )
        .await;
    assert_eq!(r.body["status"], "returned");
    let r = student.post(&path, json!({"text": "重写了"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let attempts = r.body["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["review"]["feedback"], "字要写工整");
    assert_eq!(attempts[1]["text"], "重写了");

    // The report: who handed in, who did not.
    let report = lead.get(&format!("/v1/homework/{hw_id}/report")).await;
    assert_eq!(report.status, StatusCode::OK);
    let main1 = report.body["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class_id"] == student.student_class())
        .unwrap();
    let handed: Vec<&Value> = main1["students"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["submission_id"].is_string())
        .collect();
    assert_eq!(handed.len(), 1);
    // The assistant's report covers only their class.
    let r = assistant_shiqiao
        .get(&format!("/v1/homework/{hw_id}/report"))
        .await;
    assert_eq!(r.body["classes"].as_array().unwrap().len(), 1);
    let r = lead
        .post(&format!("/v1/homework/{hw_id}/remind"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["reminded"].as_u64().unwrap() >= 5);

    // Deleting with work handed in needs confirmation.
    let r = lead
        .call(Method::DELETE, &format!("/v1/homework/{hw_id}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["field"], "confirm");
    let r = lead
        .call(
            Method::DELETE,
            &format!("/v1/homework/{hw_id}?confirm=true"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        student.get(&format!("/v1/homework/{hw_id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_clock_decides_lateness() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let shiqiao = Api::login(&base, STUDENT_SHIQIAO_A).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let soon = in_a_day() - 86_400_000 + 5_000;
    let strict = assign(
        &lead,
        &shiqiao.student_class(),
        json!({"accepts_late": false, "due_at": soon}),
    )
    .await;
    let lenient = assign(&lead, &shiqiao.student_class(), json!({"due_at": soon})).await;
    // A due time in the past is refused when editing too.
    let r = lead
        .call(
            Method::PATCH,
            &format!("/v1/homework/{}", strict["id"].as_str().unwrap()),
            Some(json!({"due_at": soon - 86_400_000})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wait = (soon + 500 - (in_a_day() - 86_400_000)).max(0) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    let r = student
        .post(
            &format!(
                "/v1/homework/{}/submissions",
                strict["id"].as_str().unwrap()
            ),
            json!({"text": "late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let r = student
        .post(
            &format!(
                "/v1/homework/{}/submissions",
                lenient["id"].as_str().unwrap()
            ),
            json!({"text": "late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["attempts"][0]["late"], true);
    // An edit is marked, and students get it again through sync.
    let id = lenient["id"].as_str().unwrap();
    let r = lead
        .call(
            Method::PATCH,
            &format!("/v1/homework/{id}"),
            Some(json!({"title": "看图写话(改)"})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["edited_at"].is_i64());
    let (items, _) = student.sync_all(None).await;
    let synced = items
        .iter()
        .find(|i| i["type"] == "homework" && i["homework"]["id"] == id)
        .unwrap();
    assert_eq!(synced["homework"]["title"], "看图写话(改)");
    assert!(items.iter().any(|i| i["type"] == "submission"));
}
