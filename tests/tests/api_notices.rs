//! Notices through the API directly: who may post where, who sees what, receipts, reminders,
//! idempotency.

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

/// What an answer tells the caller, with the id it named taken out.
fn shape(r: &lianxiao_tests::api::Reply, id: &str) -> (StatusCode, String, String) {
    let text = |key: &str| r.body[key].as_str().unwrap_or_default().replace(id, "<id>");
    (r.status, text("code"), text("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_cannot_post_to_a_class_they_do_not_teach() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let branch = Api::login(&base, BRANCH_TEACHER).await;
    let shiqiao_parent = Api::login(&base, PARENT_TWO_CHILDREN).await;

    let r = lead
        .post_notice(&branch.taught_classes(), "Not my class", false, false)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "forbidden");
    // Mixed with a class they do teach: still refused, and nothing is posted.
    let mut mixed = lead.taught_classes();
    mixed.extend(branch.taught_classes());
    assert_eq!(
        lead.post_notice(&mixed, "Mixed", false, false).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(lead.notice_ids().await.is_empty());
    assert!(shiqiao_parent.notice_ids().await.is_empty());

    // A made-up class answers like a real class of another school, so ids cannot be probed.
    let real_id = branch.taught_classes()[0].clone();
    let real = lead
        .post_notice(std::slice::from_ref(&real_id), "Nowhere", false, false)
        .await;
    let fake_id = "c-00000000000000000000000000000000";
    let fake = lead
        .post_notice(&[fake_id.to_owned()], "Nowhere", false, false)
        .await;
    assert_eq!(shape(&real, &real_id), shape(&fake, fake_id));
    assert_eq!(real.status, StatusCode::FORBIDDEN);

    // The same for a school: the main school's admin posting to a branch school or to none.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let branch_school = branch.user["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["school_id"].as_str().filter(|s| !s.is_empty()))
        .unwrap()
        .to_owned();
    let to_school = |school: &str| json!({"title": "t", "body": "b", "audience": {"scope": "school", "school_id": school}});
    let real = admin.post("/v1/notices", to_school(&branch_school)).await;
    let fake_school = "s-00000000000000000000000000000000";
    let fake = admin.post("/v1/notices", to_school(fake_school)).await;
    assert_eq!(real.status, StatusCode::FORBIDDEN, "{:?}", real.body);
    assert_eq!(shape(&real, &branch_school), shape(&fake, fake_school));
    // Only a county admin, who may post to every school, learns that a school does not exist.
    let county = Api::login(&base, COUNTY_ADMIN).await;
    let r = county.post("/v1/notices", to_school(fake_school)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(lead.notice_ids().await.is_empty());

    // Parents and students cannot post at all.
    let r = shiqiao_parent
        .post_notice(&lead.taught_classes(), "Parent post", false, false)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = shiqiao_parent
        .post(
            "/v1/notices",
            json!({"title": "t", "body": "b", "audience": {"scope": "county"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_see_only_their_own_notices_and_no_receipts() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let branch = Api::login(&base, BRANCH_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await; // child in main class 1
    let yang = Api::login(&base, PARENT_HEKOU).await; // child in Hekou

    let main_notice = lead
        .post_notice(&lead.taught_classes(), "春游通知", true, false)
        .await;
    assert_eq!(main_notice.status, StatusCode::CREATED);
    let id = main_notice.body["id"].as_str().unwrap().to_owned();
    let shiqiao = branch
        .post_notice(&branch.taught_classes(), "数学作业", false, false)
        .await;
    let shiqiao_id = shiqiao.body["id"].as_str().unwrap().to_owned();

    assert_eq!(li.notice_ids().await, vec![id.clone()]);
    assert!(yang.notice_ids().await.is_empty());
    let r = yang.get(&format!("/v1/notices/{id}")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another family's notice does not exist for them"
    );
    assert_eq!(
        yang.call(Method::POST, &format!("/v1/notices/{id}/ack"), None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        yang.get(&format!("/v1/notices/{id}/receipts")).await.status,
        StatusCode::NOT_FOUND
    );
    // A recipient is not the author: no receipts, no reminders, no retraction.
    assert_eq!(
        li.get(&format!("/v1/notices/{id}/receipts")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        li.call(
            Method::POST,
            &format!("/v1/notices/{id}/remind"),
            None,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        li.call(Method::DELETE, &format!("/v1/notices/{id}"), None, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Another teacher cannot see the receipts either.
    assert_eq!(
        branch
            .get(&format!("/v1/notices/{id}/receipts"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        lead.get(&format!("/v1/notices/{shiqiao_id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_see_notices_only_when_they_are_included() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let parents_only = lead
        .post_notice(&lead.taught_classes(), "家长会", true, false)
        .await;
    let parents_only = parents_only.body["id"].as_str().unwrap().to_owned();
    let everyone = lead
        .post_notice(&lead.taught_classes(), "运动会", false, true)
        .await;
    let everyone = everyone.body["id"].as_str().unwrap().to_owned();

    assert_eq!(student.notice_ids().await, vec![everyone.clone()]);
    assert_eq!(
        student
            .get(&format!("/v1/notices/{parents_only}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (items, _) = student.sync_all(None).await;
    let synced: Vec<_> = items
        .iter()
        .filter(|i| i["type"] == "notice")
        .map(|i| i["notice"]["id"].clone())
        .collect();
    assert_eq!(synced, vec![json!(everyone)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_of_two_children_gets_one_notice_naming_both_and_the_author_sees_who_has_not_acted()
 {
    let server = server();
    let base = server.url();
    let admin = Api::login(&base, COUNTY_ADMIN).await;
    let zhao = Api::login(&base, PARENT_TWO_CHILDREN).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;

    let (items, _) = admin.sync_all(None).await;
    let group = items
        .iter()
        .find(|i| i["type"] == "link_group")
        .expect("county admin sees the link group");
    let group_id = group["link_group"]["id"].as_str().unwrap();
    let r = admin
        .post(
            "/v1/notices",
            json!({"title": "联校通知", "body": "下周联校教研活动", "requires_ack": true,
                   "audience": {"scope": "link_group", "link_group_id": group_id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    let notice = zhao.get(&format!("/v1/notices/{id}")).await.body;
    let children: Vec<_> = notice["receipt"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        children.len(),
        2,
        "one notice for the parent, naming both children: {notice}"
    );
    assert_eq!(zhao.notice_ids().await.len(), 1);

    let report = admin.get(&format!("/v1/notices/{id}/receipts")).await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(
        report.body["summary"]["recipients"], 5,
        "five families in the demo county"
    );
    assert_eq!(report.body["summary"]["acknowledged"], 0);

    let r = zhao
        .call(
            Method::POST,
            &format!("/v1/notices/{id}/ack"),
            None,
            Some("zhao-ack-1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let acked_at = r.body["receipt"]["acked_at"].clone();
    assert!(acked_at.is_i64());
    // Acknowledging again, even with a new key, keeps the first time.
    let again = zhao
        .call(
            Method::POST,
            &format!("/v1/notices/{id}/ack"),
            None,
            Some("zhao-ack-2"),
        )
        .await;
    assert_eq!(again.body["receipt"]["acked_at"], acked_at);
    li.call(Method::POST, &format!("/v1/notices/{id}/read"), None, None)
        .await;

    let report = admin.get(&format!("/v1/notices/{id}/receipts")).await.body;
    assert_eq!(report["summary"]["read"], 2);
    assert_eq!(report["summary"]["acknowledged"], 1);
    // Zhao's two classes both count her acknowledgment.
    let per_class: Vec<_> = report["summary"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["acknowledged"].as_u64().unwrap())
        .collect();
    assert_eq!(per_class.iter().sum::<u64>(), 2);
    let not_acked: Vec<String> = report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["not_acknowledged"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        not_acked.contains(&li.user_id()),
        "read but not acknowledged"
    );
    assert!(!not_acked.contains(&zhao.user_id()));
    assert_eq!(not_acked.len(), 4);

    // Remind reaches the four who have not acknowledged, then not again within the hour.
    let r = admin
        .call(
            Method::POST,
            &format!("/v1/notices/{id}/remind"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["reminded"], 4);
    let li_notice = li.get(&format!("/v1/notices/{id}")).await.body;
    assert!(li_notice["receipt"]["reminded_at"].is_i64());
    let zhao_notice = zhao.get(&format!("/v1/notices/{id}")).await.body;
    assert!(
        zhao_notice["receipt"].get("reminded_at").is_none(),
        "who acted is not reminded"
    );
    let r = admin
        .call(
            Method::POST,
            &format!("/v1/notices/{id}/remind"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body["retry_after_secs"].as_u64().unwrap() > 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_applies_a_post_once_and_refuses_a_different_body() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let body = json!({"title": "停水通知", "body": "明天停水", "audience": {"scope": "classes", "class_ids": lead.taught_classes()}});
    let first = lead
        .call(
            Method::POST,
            "/v1/notices",
            Some(body.clone()),
            Some("key-1"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = lead
        .call(
            Method::POST,
            "/v1/notices",
            Some(body.clone()),
            Some("key-1"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(lead.notice_ids().await.len(), 1);

    let mut other = body.clone();
    other["title"] = json!("另一个通知");
    let r = lead
        .call(Method::POST, "/v1/notices", Some(other), Some("key-1"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "conflict");

    // Keys are scoped to the caller: another teacher's "key-1" is theirs.
    let branch = Api::login(&base, BRANCH_TEACHER).await;
    let body = json!({"title": "t", "body": "b", "audience": {"scope": "classes", "class_ids": branch.taught_classes()}});
    assert_eq!(
        branch
            .call(Method::POST, "/v1/notices", Some(body), Some("key-1"))
            .await
            .status,
        StatusCode::CREATED
    );

    // Ten concurrent repeats of one new key still make one notice.
    let body = json!({"title": "并发", "body": "b", "audience": {"scope": "classes", "class_ids": lead.taught_classes()}});
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let lead = lead.clone();
            let body = body.clone();
            tokio::spawn(async move {
                lead.call(Method::POST, "/v1/notices", Some(body), Some("key-2"))
                    .await
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.insert(r.body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(lead.notice_ids().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_notice_leaves_every_phone() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let id = lead
        .post_notice(&lead.taught_classes(), "发错了", false, false)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, cursor) = li.sync_all(None).await;
    let r = lead
        .call(Method::DELETE, &format!("/v1/notices/{id}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (items, _) = li.sync_all(Some(&cursor)).await;
    assert_eq!(
        items,
        vec![json!({"type": "removed", "kind": "notice", "id": id})]
    );
    assert!(li.notice_ids().await.is_empty());
}
