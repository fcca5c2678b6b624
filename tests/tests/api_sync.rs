//! Sync and realtime through the API directly: no change is skipped under concurrent writers,
//! visibility changes arrive as items and tombstones, and events reach connected devices.

use std::{collections::BTreeSet, time::Duration};

use futures::StreamExt;
use lianxiao_tests::{
    Backend, Place, RosterBuilder, TestServer, api::Api, demo_roster, logins::*, places::*,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

fn ids_of(items: &[Value], kind: &str, field: &str) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i["type"] == kind)
        .map(|i| i[field]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Writers commit concurrently while a reader syncs in a loop: the reader must end with every
/// notice, never having moved its cursor past one still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_cursor_never_passes_a_change_still_in_flight() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let classes = lead.taught_classes();

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let parent = parent.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut cursor: Option<String> = None;
            let mut seen = BTreeSet::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (items, next) = parent.sync_all(cursor.as_deref()).await;
                seen.extend(ids_of(&items, "notice", "notice"));
                cursor = Some(next);
                if finished {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let lead = lead.clone();
            let classes = classes.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..8 {
                    let r = lead
                        .post_notice(&classes, &format!("通知 {w}-{i}"), false, false)
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED);
                    ids.push(r.body["id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();
    let mut posted = BTreeSet::new();
    for w in writers {
        posted.extend(w.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    assert_eq!(posted.len(), 48);
    assert_eq!(seen, posted, "incremental syncs delivered every notice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_split_one_transaction_without_losing_or_repeating_items() {
    let server = server();
    let lead = Api::login(&server.url(), LEAD_TEACHER).await;
    for i in 0..7 {
        lead.post_notice(&lead.taught_classes(), &format!("n{i}"), true, false)
            .await;
    }
    let (all, _) = lead.sync_all(None).await;
    let mut cursor: Option<String> = None;
    let mut paged = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sync?limit=2&since={c}"),
            None => "/v1/sync?limit=2".to_owned(),
        };
        let r = lead.get(&path).await;
        paged.extend(r.body["items"].as_array().unwrap().iter().cloned());
        cursor = Some(r.body["cursor"].as_str().unwrap().to_owned());
        if !r.body["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(paged, all);
    assert_eq!(ids_of(&all, "notice", "notice").len(), 7);
    assert_eq!(
        all.iter()
            .filter(|i| i["type"] == "receipt_summary")
            .count(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_child_and_a_moved_student_reach_the_parent_as_items_and_tombstones() {
    let server = server();
    let base = server.url();
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let (items, cursor) = li.sync_all(None).await;
    assert_eq!(ids_of(&items, "child", "child").len(), 1);
    let old_classes = ids_of(&items, "class", "class");
    assert_eq!(old_classes.len(), 1);

    // The child moves to class 2, and a second child (new to the school) is linked.
    let main_2 = Place::class(MAIN_SCHOOL, "main", CLASS_2, GRADE).in_link_group(LINK_GROUP);
    let csv = RosterBuilder::new()
        .student(main_2, STUDENT_MAIN_1A, "李明")
        .student(main_2, "s_li_new", "李小宝")
        .parent(main_2, PARENT_ONE_CHILD, "李建国", "s_li_new")
        .to_csv();
    server.import_roster(&csv).expect("import");

    let (items, _) = li.sync_all(Some(&cursor)).await;
    let removed: Vec<&Value> = items.iter().filter(|i| i["type"] == "removed").collect();
    assert_eq!(removed.len(), 1, "{items:?}");
    assert_eq!(removed[0]["kind"], "class");
    assert_eq!(
        removed[0]["id"],
        Value::String(old_classes.iter().next().unwrap().clone())
    );
    assert_eq!(ids_of(&items, "child", "child").len(), 2);
    assert_eq!(ids_of(&items, "class", "class").len(), 1);
    // The notification settings list one entry per child, so they come again with both.
    let settings: Vec<&Value> = items
        .iter()
        .filter(|i| i["type"] == "notification_settings")
        .collect();
    assert_eq!(settings.len(), 1, "{items:?}");
    assert_eq!(
        settings[0]["settings"]["children"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{settings:?}"
    );

    // Re-importing the whole demo roster moves the child back and changes nothing else.
    server.import_roster(&demo_roster()).expect("import");
    let again = server.import_roster(&demo_roster()).expect("import");
    let report: Value = serde_json::from_str(&again).unwrap();
    assert!(
        report
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| k == "rows" || v == 0),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_import_route_checks_every_row_and_applies_nothing_on_error() {
    let server = server();
    let base = server.url();
    let admin = Api::login(&base, COUNTY_ADMIN).await;
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let csv = format!(
        "{}\n城关中心小学,main,,三年级(9)班,3,student,s_new01,新同学,lianxiao-demo,,\n\
         城关中心小学,castle,,三年级(1)班,3,student,s_new02,新同学,lianxiao-demo,,\n\
         ,,,,,parent,p_new,新家长,short,,nobody\n",
        lianxiao_protocol::ROSTER_HEADER.join(",")
    );
    let post = |api: &Api, body: String| {
        api.http
            .post(format!("{base}/v1/admin/roster"))
            .bearer_auth(&api.access)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let r = post(&lead, csv.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(&admin, csv).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    let lines: BTreeSet<u64> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, BTreeSet::from([3, 4]), "{body}");
    // The good first row was not applied either.
    let r = lianxiao_tests::api::send(
        &base,
        Method::POST,
        "/v1/auth/login",
        Some(serde_json::json!({"login": "s_new01", "password": "lianxiao-demo"})),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let good = format!(
        "{}\n城关中心小学,main,,三年级(9)班,3,student,s_new01,新同学,lianxiao-demo,,\n",
        lianxiao_protocol::ROSTER_HEADER.join(",")
    );
    let r = post(&admin, good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["people_created"], 1);
    assert_eq!(report["classes_created"], 1);
    let again: Value = post(&admin, good).await.unwrap().json().await.unwrap();
    assert_eq!(again["people_created"], 0);
    assert_eq!(again["memberships_created"], 0);
    let r = admin
        .call(
            Method::POST,
            "/v1/admin/roster",
            Some(serde_json::json!({})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "JSON is not CSV");
}

async fn next_event(
    ws: &mut (
             impl futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin
         ),
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn connect(
    ws_base: &str,
    api: &Api,
) -> impl futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin + use<>
{
    let mut req = format!("{ws_base}/v1/events")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", api.access).parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket upgrade");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_parent_hears_about_a_new_notice_and_others_do_not() {
    let server = server();
    let base = server.url();
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let li = Api::login(&base, PARENT_ONE_CHILD).await;
    let yang = Api::login(&base, PARENT_HEKOU).await;
    let mut li_ws = connect(&server.ws_url(), &li).await;
    let mut yang_ws = connect(&server.ws_url(), &yang).await;
    assert_eq!(next_event(&mut li_ws).await["type"], "hello");
    assert_eq!(next_event(&mut yang_ws).await["type"], "hello");

    lead.post_notice(&lead.taught_classes(), "家长会", true, false)
        .await;
    assert_eq!(next_event(&mut li_ws).await["type"], "changed");
    let quiet = tokio::time::timeout(Duration::from_millis(700), yang_ws.next()).await;
    assert!(quiet.is_err(), "another family hears nothing");

    let r = lianxiao_tests::api::send(&base, Method::GET, "/v1/events", None, &[]).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "no socket without a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_posted_through_one_server_reaches_a_device_connected_to_another() {
    let backend = Backend::from_env();
    if !backend.is_postgres() {
        eprintln!("two server processes need PostgreSQL; this backend is {backend:?}");
        return;
    }
    let first = server();
    let second = first.second_instance();
    let lead = Api::login(&first.url(), LEAD_TEACHER).await;
    let li = Api::login(&second.url(), PARENT_ONE_CHILD).await;
    let mut ws = connect(&second.ws_url(), &li).await;
    assert_eq!(next_event(&mut ws).await["type"], "hello");
    let r = lead
        .post_notice(&lead.taught_classes(), "跨服务器", false, false)
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let mut event = next_event(&mut ws).await;
    // A resync nudge from the listener's start may come first; the notice's event follows.
    while event["cursor"] == "" {
        event = next_event(&mut ws).await;
    }
    assert_eq!(event["type"], "changed");
    let (items, _) = li.sync_all(None).await;
    assert!(ids_of(&items, "notice", "notice").contains(&id));
}
