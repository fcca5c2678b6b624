//! Roster import through `POST /v1/admin/roster` on the real server binary, on top of the demo
//! county: every problem of a file comes back in one answer, each with its line (a row's own
//! mistakes and what only the database can tell, such as an unknown child, together), nothing
//! is applied while any is left, and a file of parent rows alone links parents to children
//! imported before. SQLite, or PostgreSQL with `LIANXIAO_TEST_BACKEND=postgres`.

use std::collections::BTreeSet;

use lianxiao_tests::{
    Backend, DEMO_PASSWORD, Place, RosterBuilder, TestServer,
    api::{self, Api},
    logins::*,
    places::*,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

/// Posts a CSV as the county admin; the status and the JSON answer.
async fn import(admin: &Api, csv: &str) -> (StatusCode, Value) {
    let r = admin
        .http
        .post(format!("{}/v1/admin/roster", admin.base))
        .bearer_auth(&admin.access)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("server reachable");
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

/// (line, column) of each row error of a refused import.
fn places_of(body: &Value) -> Vec<(u64, String)> {
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {body}"))
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn can_sign_in(base: &str, login: &str) -> bool {
    let r = api::send(
        base,
        Method::POST,
        "/v1/auth/login",
        Some(json!({"login": login, "password": DEMO_PASSWORD})),
        &[],
    )
    .await;
    r.status == StatusCode::OK
}

fn csv(rows: &[&str]) -> String {
    let mut csv = lianxiao_protocol::ROSTER_HEADER.join(",");
    for row in rows {
        csv.push('\n');
        csv.push_str(row);
    }
    csv.push('\n');
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_of_a_file_comes_back_at_once_with_its_line() {
    let server = server();
    let base = server.url();
    let admin = Api::login(&base, COUNTY_ADMIN).await;

    let file = csv(&[
        // 2: fine on its own.
        "城关中心小学,main,城关联校,三年级(1)班,3,student,s_new01,新同学,lianxiao-demo,,",
        // 3: a school kind that does not exist (found reading the row).
        "城关中心小学,village,城关联校,三年级(1)班,3,student,s_new02,新同学,lianxiao-demo,,",
        // 4: a child nobody has heard of (found only against the database).
        ",,,,,parent,p_new01,新家长,lianxiao-demo,,s_nobody",
        // 5: a child who is a teacher in the database, not a student.
        ",,,,,parent,p_new02,新家长,lianxiao-demo,,t_wang",
        // 6: a parent of the student refused on line 3: only line 3 is reported for it.
        ",,,,,parent,p_new03,新家长,lianxiao-demo,,s_new02",
        // 7: a new login without a password (database), beside an over-long name (row).
        &format!(
            "城关中心小学,main,,三年级(1)班,3,student,s_new04,{},,,",
            "名".repeat(65)
        ),
        "城关中心小学,main,,三年级(1)班,3,student,s_new05,新同学,,,",
    ]);
    let (status, body) = import(&admin, &file).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation");
    assert_eq!(
        places_of(&body),
        [
            (3, "school_kind".to_owned()),
            (4, "child_login".to_owned()),
            (5, "child_login".to_owned()),
            (7, "name".to_owned()),
            (8, "password".to_owned()),
        ],
        "{body}"
    );
    let reasons: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[1].contains("s_nobody"), "{reasons:?}");
    assert!(reasons[2].contains("t_wang"), "{reasons:?}");

    // Nothing of it was applied, not even the good row.
    for login in ["s_new01", "p_new01", "p_new02", "p_new03"] {
        assert!(!can_sign_in(&base, login).await, "{login} was imported");
    }

    // Fixed, the same file goes in whole.
    let fixed = csv(&[
        "城关中心小学,main,城关联校,三年级(1)班,3,student,s_new01,新同学,lianxiao-demo,,",
        "城关中心小学,main,城关联校,三年级(1)班,3,student,s_new02,新同学,lianxiao-demo,,",
        ",,,,,parent,p_new03,新家长,lianxiao-demo,,s_new02",
    ]);
    let (status, body) = import(&admin, &fixed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["people_created"], 3, "{body}");
    assert!(can_sign_in(&base, "p_new03").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_parent_rows_alone_links_children_imported_before() {
    let server = server();
    let base = server.url();
    let admin = Api::login(&base, COUNTY_ADMIN).await;
    let main_1 = Place::class(MAIN_SCHOOL, "main", CLASS_1, GRADE);
    let shiqiao = Place::class(BRANCH_SHIQIAO, "branch", CLASS_1, GRADE);

    // A second parent for a main-school child (naming the child's class, as the builder
    // does), another naming no class, and a new child for a parent already imported.
    let parents = RosterBuilder::new()
        .parent(main_1, "p_li_mum", "李妈妈", STUDENT_MAIN_1A)
        .row([
            "",
            "",
            "",
            "",
            "",
            "parent",
            "p_ma",
            "马爸爸",
            DEMO_PASSWORD,
            "",
            STUDENT_SHIQIAO_B,
        ])
        .parent(shiqiao, PARENT_ONE_CHILD, "李建国", STUDENT_SHIQIAO_B)
        .to_csv();
    let (status, body) = import(&admin, &parents).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["people_created"], 2, "{body}");
    assert_eq!(body["memberships_created"], 3, "{body}");
    assert_eq!(body["schools_created"], 0, "{body}");

    let children = |api: &Api| -> BTreeSet<String> {
        api.user["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "parent")
            .map(|m| m["child_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let li_ming_api = Api::login(&base, STUDENT_MAIN_1A).await;
    let li_ming = li_ming_api.user_id();
    let ma = Api::login(&base, STUDENT_SHIQIAO_B).await.user_id();
    let mum = Api::login(&base, "p_li_mum").await;
    assert_eq!(children(&mum), BTreeSet::from([li_ming.clone()]));
    assert_eq!(
        children(&Api::login(&base, "p_ma").await),
        BTreeSet::from([ma.clone()])
    );
    assert_eq!(
        children(&Api::login(&base, PARENT_ONE_CHILD).await),
        BTreeSet::from([li_ming, ma])
    );
    // The new parent sees their child's class notices like any other.
    let lead = Api::login(&base, LEAD_TEACHER).await;
    let r = lead
        .post_notice(&[li_ming_api.student_class()], "春游通知", false, false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let notice = r.body["id"].as_str().unwrap().to_owned();
    assert!(mum.notice_ids().await.contains(&notice));

    // Importing it again changes nothing.
    let (status, body) = import(&admin, &parents).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["people_created"], &body["memberships_created"]),
        (&json!(0), &json!(0)),
        "{body}"
    );

    // A parent row that places a child imported before in another class is refused, naming
    // the class on record; so is one that places them in another school.
    let wrong = RosterBuilder::new()
        .parent(shiqiao, "p_wrong1", "某", STUDENT_MAIN_1A)
        .parent(
            Place::class(MAIN_SCHOOL, "main", CLASS_2, GRADE),
            "p_wrong2",
            "某",
            STUDENT_MAIN_1B,
        )
        .to_csv();
    let (status, body) = import(&admin, &wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        places_of(&body),
        [(2, "school".to_owned()), (3, "class".to_owned())],
        "{body}"
    );
    assert!(!can_sign_in(&base, "p_wrong1").await);
}
