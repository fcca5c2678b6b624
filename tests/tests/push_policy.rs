//! Respecting parents' evenings, end to end on the real server binary with its test clock
//! (`LIANXIAO_TEST_CLOCK=1`, moved through `PUT /v1/test/clock`) and the provider fakes:
//! quiet hours hold non-urgent pushes and one digest follows at 07:00; urgent notices from an
//! admin break through quiet hours, the daily cap and parents' settings; a parent's own quiet
//! hours add to the school's; the class's daily cap refuses a notice and the allowance says
//! so; homework graded or missing and a lesson about to start are pushed; a server killed
//! while holding pushes loses none and repeats none. SQLite, or PostgreSQL with
//! `LIANXIAO_TEST_BACKEND=postgres`.

use std::time::{Duration, Instant};

use lianxiao_tests::{
    Backend, TestServer,
    api::{Api, Reply},
    logins::*,
    push_fakes::{Delivered, Fake, Fakes},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);
/// How long the gateway gets to show that it holds something (a few of its polls).
const SETTLE: Duration = Duration::from_millis(2_500);

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// 2030-03-01 00:00 in China (UTC+8): a day well after any real clock running these tests,
/// so homework deadlines and lessons set by it are in the future for the server too.
const DAY0: i64 = 1_898_524_800_000;

/// That day at `h:m`, China time (hours past 24 are the next day).
fn cst(h: i64, m: i64) -> i64 {
    DAY0 + h * HOUR + m * MINUTE
}

struct World {
    fakes: Fakes,
    server: TestServer,
    county: Api,
}

async fn world() -> World {
    world_with(&[]).await
}

async fn world_with(extra: &[(&str, &str)]) -> World {
    let fakes = Fakes::start().await;
    let mut env: Vec<(String, String)> = fakes.env();
    env.push(("LIANXIAO_TEST_CLOCK".into(), "1".into()));
    env.push(("LIANXIAO_PUSH_DIGEST_WINDOW_SECS".into(), "120".into()));
    env.push(("LIANXIAO_PUSH_QUIET_HOURS".into(), "21:30-07:00".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with_env(&Backend::from_env(), &env);
    server.import_demo_roster();
    let county = Api::login(&server.url(), COUNTY_ADMIN).await;
    World {
        fakes,
        server,
        county,
    }
}

impl World {
    fn base(&self) -> String {
        self.server.url()
    }

    async fn login(&self, who: &str) -> Api {
        Api::login(&self.base(), who).await
    }

    /// Moves the server's clock.
    async fn at(&self, t: i64) {
        let r = self
            .county
            .call(Method::PUT, "/v1/test/clock", Some(json!({"now": t})), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(r.body["now"].as_i64().unwrap() >= t);
    }
}

async fn registered(api: &Api, device_id: &str, provider: &str, token: &str) {
    let platform = if provider == "apns" { "ios" } else { "android" };
    let r = api
        .call(
            Method::PUT,
            &format!("/v1/devices/{device_id}"),
            Some(
                json!({"platform": platform, "provider": provider, "token": token,
                        "app_version": "1.0.0", "locale": "zh-CN"}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn post(author: &Api, body: Value) -> Reply {
    author.post("/v1/notices", body).await
}

fn to_classes(classes: &[String], title: &str, urgent: bool) -> Value {
    json!({"title": title, "body": format!("{title}：请家长知悉。"),
           "audience": {"scope": "classes", "class_ids": classes}, "urgent": urgent})
}

async fn posted(author: &Api, body: Value) -> String {
    let r = post(author, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Waits until `token` got `n` pushes, then gives the gateway time to send a wrong extra one.
async fn exactly(fake: &Fake, token: &str, n: usize) -> Vec<Delivered> {
    let start = Instant::now();
    while fake.delivered_to(token).len() < n {
        assert!(
            start.elapsed() < PATIENCE,
            "{token}: {} of {n} pushes; refused {:?}",
            fake.delivered_to(token).len(),
            fake.rejections()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let got = fake.delivered_to(token);
    assert_eq!(got.len(), n, "{token}: {got:?}");
    got
}

fn school_of(admin: &Api) -> String {
    admin.user["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "school_admin")
        .and_then(|m| m["school_id"].as_str())
        .unwrap()
        .to_owned()
}

/// The states of a notice's pushes to one recipient, as its author sees them.
async fn states(author: &Api, notice: &str, user_id: &str) -> Vec<String> {
    let r = author.get(&format!("/v1/notices/{notice}/pushes")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["user_id"] == user_id)
        .flat_map(|p| p["pushes"].as_array().unwrap().clone())
        .map(|p| p["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evening_notices_wait_for_seven_and_come_as_one_digest() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let li = w.login(PARENT_ONE_CHILD).await;
    registered(&li, "li-iphone-0001", "apns", "a1a1a1").await;
    w.at(cst(21, 45)).await;

    let mut ids = Vec::new();
    for title in ["春游通知", "运动会", "家长会"] {
        ids.push(posted(&lead, to_classes(&lead.taught_classes(), title, false)).await);
    }
    tokio::time::sleep(SETTLE).await;
    assert!(w.fakes.apns.delivered_to("a1a1a1").is_empty());
    assert_eq!(states(&lead, &ids[0], &li.user_id()).await, ["queued"]);

    // Still night at 06:59; at 07:00 one digest, about the newest, with the unread count.
    w.at(cst(24 + 6, 59)).await;
    tokio::time::sleep(SETTLE).await;
    assert!(w.fakes.apns.delivered_to("a1a1a1").is_empty());
    w.at(cst(24 + 7, 0)).await;
    let got = exactly(&w.fakes.apns, "a1a1a1", 1).await;
    assert_eq!(got[0].title, "来自城关中心小学的3条新通知");
    assert_eq!(
        (got[0].kind.as_str(), got[0].id.as_str()),
        ("notice", ids[2].as_str())
    );
    assert_eq!(got[0].badge, 3);
    for id in &ids {
        assert_eq!(states(&lead, id, &li.user_id()).await, ["sent"], "{id}");
    }

    // A notice soon after the digest waits for the digest window, then comes on its own.
    let next = posted(&lead, to_classes(&lead.taught_classes(), "午餐", false)).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(w.fakes.apns.delivered_to("a1a1a1").len(), 1);
    w.at(cst(24 + 7, 3)).await;
    let got = exactly(&w.fakes.apns, "a1a1a1", 2).await;
    assert_eq!(
        (got[1].id.as_str(), got[1].title.as_str()),
        (next.as_str(), "午餐")
    );
    for fake in w.fakes.all() {
        assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_notices_come_from_admins_through_quiet_hours_caps_and_settings() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let admin = w.login(SCHOOL_ADMIN).await;
    let li = w.login(PARENT_ONE_CHILD).await;
    let student = w.login(STUDENT_MAIN_1A).await;
    registered(&li, "li-android-001", "getui", "cid-li").await;
    let school = school_of(&admin);
    let classes = lead.taught_classes();

    // A cap of one, already used; the parent turned notices off for their child.
    let r = admin
        .call(
            Method::PUT,
            &format!("/v1/schools/{school}/push-policy"),
            Some(
                json!({"quiet_hours": {"start_minute": 1290, "end_minute": 420},
                        "daily_notice_cap": 1, "utc_offset_minutes": 480}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = li
        .call(
            Method::PUT,
            "/v1/notification-settings",
            Some(json!({"children": [{"child_id": student.user_id(),
                "kinds": {"notices": false, "homework_graded": true,
                          "homework_missing": true, "lesson_starting": true}}]})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    w.at(cst(22, 30)).await;
    posted(&lead, to_classes(&classes, "作业提醒", false)).await;

    // A teacher cannot mark a notice urgent.
    let r = post(&lead, to_classes(&classes, "停课", true)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.code(), "urgent_not_allowed");

    // The school's admin can, past the cap, at night, to a parent who turned notices off.
    let urgent = posted(&admin, to_classes(&classes, "暴雪停课", true)).await;
    let school_wide = posted(
        &admin,
        json!({"title": "明日停课", "body": "全校停课一天。",
               "audience": {"scope": "school", "school_id": school}, "urgent": true}),
    )
    .await;
    let got = exactly(&w.fakes.getui, "cid-li", 2).await;
    let pushed: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    assert!(pushed.contains(&urgent.as_str()) && pushed.contains(&school_wide.as_str()));
    let r = li.get(&format!("/v1/notices/{urgent}")).await;
    assert_eq!(r.body["urgent"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parents_own_quiet_hours_hold_their_pushes_only() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let li = w.login(PARENT_ONE_CHILD).await; // main class 1
    let sun = w.login(PARENT_MAIN_2).await; // main class 2
    registered(&li, "li-iphone-0001", "apns", "li-token").await;
    registered(&sun, "sun-iphone-001", "apns", "sun-token").await;
    let r = li
        .call(
            Method::PUT,
            "/v1/notification-settings",
            Some(
                json!({"quiet_hours": {"start_minute": 20 * 60, "end_minute": 7 * 60 + 30},
                        "children": []}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    w.at(cst(20, 15)).await;
    let notice = posted(&lead, to_classes(&lead.taught_classes(), "春游通知", false)).await;
    exactly(&w.fakes.apns, "sun-token", 1).await;
    assert!(w.fakes.apns.delivered_to("li-token").is_empty());
    // The school's quiet hours are over at 07:00, the parent's own at 07:30.
    w.at(cst(24 + 7, 10)).await;
    tokio::time::sleep(SETTLE).await;
    assert!(w.fakes.apns.delivered_to("li-token").is_empty());
    w.at(cst(24 + 7, 30)).await;
    let got = exactly(&w.fakes.apns, "li-token", 1).await;
    assert_eq!(got[0].id, notice);
    assert_eq!(w.fakes.apns.delivered_to("sun-token").len(), 1);
}

/// The school of the student (or the school admin) `api` is, from their memberships.
fn school_of_member(api: &Api) -> String {
    api.user["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["school_id"].as_str().filter(|s| !s.is_empty()))
        .unwrap()
        .to_owned()
}

async fn set_quiet_hours(by: &Api, school: &str, start_minute: u16, end_minute: u16) {
    let r = by
        .call(
            Method::PUT,
            &format!("/v1/schools/{school}/push-policy"),
            Some(
                json!({"quiet_hours": {"start_minute": start_minute, "end_minute": end_minute},
                        "utc_offset_minutes": 480}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_follows_the_schools_of_the_children_it_is_about() {
    let w = world().await;
    // A parent whose only child is in 石桥小学, beside the demo's 李 (主校) and 赵, whose two
    // children are in both (the student row repeated, so the file stands on its own).
    let shiqiao = lianxiao_tests::Place::class(
        lianxiao_tests::places::BRANCH_SHIQIAO,
        "branch",
        lianxiao_tests::places::CLASS_1,
        lianxiao_tests::places::GRADE,
    );
    w.server
        .import_roster(
            &lianxiao_tests::RosterBuilder::new()
                .student(shiqiao, STUDENT_SHIQIAO_B, "马欣怡")
                .parent(shiqiao, "p_ma", "马爸爸", STUDENT_SHIQIAO_B)
                .to_csv(),
        )
        .unwrap();
    let lead = w.login(LEAD_TEACHER).await;
    let branch_teacher = w.login(BRANCH_TEACHER).await;
    let zhou = w.login(ASSISTANT_SHIQIAO).await;
    let li = w.login(PARENT_ONE_CHILD).await;
    let ma = w.login("p_ma").await;
    let zhao = w.login(PARENT_TWO_CHILDREN).await;
    let main_student = w.login(STUDENT_MAIN_1A).await;
    let branch_student = w.login(STUDENT_SHIQIAO_A).await;
    let (main_school, branch_school) = (
        school_of_member(&main_student),
        school_of_member(&branch_student),
    );
    registered(&li, "li-iphone-0001", "apns", "li-token").await;
    registered(&ma, "ma-iphone-0001", "apns", "ma-token").await;
    registered(&zhao, "zhao-pixel-001", "fcm", "zhao-token").await;

    // The school first by id (the one a push used to keep for 赵) keeps no quiet hours, the
    // other its evenings: whichever way the ids fall, 赵's pushes about both children must
    // wait for the other's.
    let (open, quiet) = if main_school < branch_school {
        (main_school.clone(), branch_school.clone())
    } else {
        (branch_school.clone(), main_school.clone())
    };
    let parent_in = |school: &str| -> (&Api, &str) {
        if *school == main_school {
            (&li, "li-token")
        } else {
            (&ma, "ma-token")
        }
    };
    let ((_, open_token), (_, quiet_token)) = (parent_in(&open), parent_in(&quiet));
    set_quiet_hours(&w.county, &open, 0, 0).await;
    set_quiet_hours(&w.county, &quiet, 21 * 60 + 30, 7 * 60).await;
    // 赵's own quiet hours, on top of the schools'.
    let r = zhao
        .call(
            Method::PUT,
            "/v1/notification-settings",
            Some(
                json!({"quiet_hours": {"start_minute": 7 * 60, "end_minute": 7 * 60 + 30},
                        "children": []}),
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // 22:00: a county notice, about both of 赵's children.
    w.at(cst(22, 0)).await;
    let county_wide = posted(
        &w.county,
        json!({"title": "寒假安排", "body": "寒假安排如下。", "audience": {"scope": "county"}}),
    )
    .await;
    let got = exactly(&w.fakes.apns, open_token, 1).await;
    assert_eq!(got[0].id, county_wide);
    assert!(w.fakes.apns.delivered_to(quiet_token).is_empty());
    assert!(
        w.fakes.fcm.delivered_to("zhao-token").is_empty(),
        "a push about a child of the quiet school went in its quiet hours"
    );
    assert_eq!(
        states(&w.county, &county_wide, &zhao.user_id()).await,
        ["queued"]
    );
    // 07:00: the quiet school's evening is over, 赵's own hours are not.
    w.at(cst(24 + 7, 0)).await;
    exactly(&w.fakes.apns, quiet_token, 1).await;
    assert!(w.fakes.fcm.delivered_to("zhao-token").is_empty());
    w.at(cst(24 + 7, 30)).await;
    let got = exactly(&w.fakes.fcm, "zhao-token", 1).await;
    assert_eq!(got[0].id, county_wide);

    // The next day the quiet school rests 13:00–15:00.
    w.at(cst(24 + 10, 0)).await;
    set_quiet_hours(&w.county, &quiet, 13 * 60, 15 * 60).await;
    // 13:30: a class notice about 赵's child in the open school only comes at once, though
    // the other child's school is quiet.
    w.at(cst(24 + 13, 30)).await;
    let (teacher, class) = if open == main_school {
        (&lead, main_student.student_class())
    } else {
        (&branch_teacher, branch_student.student_class())
    };
    let one_child = posted(teacher, to_classes(&[class], "午餐费", false)).await;
    let got = exactly(&w.fakes.fcm, "zhao-token", 2).await;
    assert_eq!(got[1].id, one_child);
    exactly(&w.fakes.apns, open_token, 2).await;

    // A linked lesson at 14:00 (主校 leads, 石桥 receives), pushed ten minutes before: to the
    // open school's parent at once, to the quiet school's and to 赵 when it is over.
    let r = lead
        .post(
            "/v1/lessons",
            json!({"subject": "语文", "title": "古诗两首", "starts_at": cst(24 + 14, 0),
                   "ends_at": cst(24 + 14, 40), "mode": "interactive",
                   "lead_class_id": main_student.student_class(),
                   "receiving": [{"class_id": branch_student.student_class(),
                                  "assistant_id": zhou.user_id()}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    w.at(cst(24 + 13, 51)).await;
    let got = exactly(&w.fakes.apns, open_token, 3).await;
    assert_eq!(
        (got[2].kind.as_str(), got[2].id.as_str()),
        ("lesson", lesson.as_str())
    );
    assert_eq!(w.fakes.apns.delivered_to(quiet_token).len(), 1);
    assert_eq!(w.fakes.fcm.delivered_to("zhao-token").len(), 2);
    w.at(cst(24 + 15, 0)).await;
    for (fake, token, n) in [
        (&w.fakes.apns, quiet_token, 2),
        (&w.fakes.fcm, "zhao-token", 3),
    ] {
        let got = exactly(fake, token, n).await;
        let last = got.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.id.as_str()),
            ("lesson", lesson.as_str()),
            "{token}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_refuses_a_notice_and_the_allowance_says_so() {
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let admin = w.login(SCHOOL_ADMIN).await;
    let branch_teacher = w.login(BRANCH_TEACHER).await;
    let school = school_of(&admin);
    let class = lead.taught_classes()[0].clone();
    let policy_path = format!("/v1/schools/{school}/push-policy");
    let allowance_path = format!("/v1/classes/{class}/notice-allowance");

    // Defaults until the school sets its own; only its admin and county admins see them.
    let r = admin.get(&policy_path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"quiet_hours": {"start_minute": 1290, "end_minute": 420}, "utc_offset_minutes": 480})
    );
    assert_eq!(lead.get(&policy_path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(w.county.get(&policy_path).await.status, StatusCode::OK);
    let cap = json!({"quiet_hours": {"start_minute": 1290, "end_minute": 420},
                     "daily_notice_cap": 2, "utc_offset_minutes": 480});
    let r = lead
        .call(Method::PUT, &policy_path, Some(cap.clone()), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut bad = cap.clone();
    bad["quiet_hours"]["start_minute"] = json!(1440);
    let r = admin.call(Method::PUT, &policy_path, Some(bad), None).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("quiet_hours"))
    );
    let r = admin
        .call(Method::PUT, &policy_path, Some(cap.clone()), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(admin.get(&policy_path).await.body, cap);

    // Only the class's teachers ask for its allowance.
    assert_eq!(
        branch_teacher.get(&allowance_path).await.status,
        StatusCode::FORBIDDEN
    );
    w.at(cst(10, 0)).await;
    let r = lead.get(&allowance_path).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"class_id": class, "daily_cap": 2, "sent_today": 0, "remaining": 2})
    );
    posted(&lead, to_classes(std::slice::from_ref(&class), "一", false)).await;
    posted(&lead, to_classes(std::slice::from_ref(&class), "二", false)).await;
    assert_eq!(lead.get(&allowance_path).await.body["remaining"], 0);

    let before = lead.get("/v1/notices").await.body["notices"]
        .as_array()
        .unwrap()
        .len();
    let r = post(&lead, to_classes(std::slice::from_ref(&class), "三", false)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "daily_notice_cap");
    assert_eq!(r.body["field"], format!("class:{class}"));
    assert!(r.body["message"].as_str().unwrap().contains(&class));
    let after = lead.get("/v1/notices").await.body["notices"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused notice was posted");

    // An urgent notice from the admin is not refused and does not count.
    posted(
        &admin,
        to_classes(std::slice::from_ref(&class), "停水", true),
    )
    .await;
    assert_eq!(lead.get(&allowance_path).await.body["sent_today"], 2);
    // The next local day (midnight in the school's offset) starts afresh.
    w.at(cst(23, 59)).await;
    assert_eq!(lead.get(&allowance_path).await.body["remaining"], 0);
    w.at(cst(24, 0)).await;
    assert_eq!(lead.get(&allowance_path).await.body["remaining"], 2);
    posted(&lead, to_classes(&[class], "四", false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_graded_and_missing_and_lessons_starting_are_pushed() {
    let w = world_with(&[("LIANXIAO_PUSH_LESSON_LEAD_MINUTES", "10")]).await;
    let lead = w.login(LEAD_TEACHER).await;
    let li = w.login(PARENT_ONE_CHILD).await; // s_li01's parent
    let zhao = w.login(PARENT_TWO_CHILDREN).await; // s_zhao01's (and s_zhao03's)
    let student = w.login(STUDENT_MAIN_1A).await; // s_li01
    registered(&li, "li-iphone-0001", "apns", "li-token").await;
    registered(&zhao, "zhao-pixel-001", "fcm", "zhao-token").await;
    registered(&student, "li-ming-tab-01", "getui", "student-token").await;
    let class = student.student_class();

    w.at(cst(10, 0)).await;
    // Homework due at 11:00 by the server clock; s_li01 hands in, s_zhao01 does not.
    let r = lead
        .post(
            "/v1/homework",
            json!({"title": "古诗默写", "instructions": "默写两首古诗", "class_ids": [class],
                   "due_at": cst(11, 0), "accepted_kinds": ["text"], "max_score": 100}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let homework = r.body["id"].as_str().unwrap().to_owned();
    let r = student
        .post(
            &format!("/v1/homework/{homework}/submissions"),
            json!({"text": "床前明月光"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let submission = r.body["id"].as_str().unwrap().to_owned();

    // Graded: the student and their parent, opening the homework.
    let r = lead
        .post(
            &format!("/v1/submissions/{submission}/grade"),
            json!({"score": 95, "feedback": "好"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (fake, token) in [
        (&w.fakes.apns, "li-token"),
        (&w.fakes.getui, "student-token"),
    ] {
        let got = exactly(fake, token, 1).await;
        assert_eq!(
            (got[0].kind.as_str(), got[0].id.as_str()),
            ("homework", homework.as_str())
        );
        assert_eq!(got[0].title, "作业已批改");
    }
    assert!(w.fakes.fcm.delivered_to("zhao-token").is_empty());

    // Deadline passed: only the parent of the child who handed nothing in.
    w.at(cst(11, 1)).await;
    let got = exactly(&w.fakes.fcm, "zhao-token", 1).await;
    assert_eq!(
        (got[0].kind.as_str(), got[0].id.as_str()),
        ("homework", homework.as_str())
    );
    assert_eq!(got[0].title, "作业未交");
    assert_eq!(w.fakes.apns.delivered_to("li-token").len(), 1);

    // A lesson at 14:00 for the class: nothing at 13:40, students and parents at 13:51.
    let r = lead
        .post(
            "/v1/lessons",
            json!({"subject": "语文", "title": "古诗两首", "starts_at": cst(14, 0),
                   "ends_at": cst(14, 40), "mode": "interactive", "lead_class_id": class,
                   "receiving": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lesson = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    w.at(cst(13, 40)).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(w.fakes.getui.delivered_to("student-token").len(), 1);
    w.at(cst(13, 51)).await;
    for (fake, token, n) in [
        (&w.fakes.getui, "student-token", 2),
        (&w.fakes.apns, "li-token", 2),
        (&w.fakes.fcm, "zhao-token", 2),
    ] {
        let got = exactly(fake, token, n).await;
        let last = got.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.id.as_str()),
            ("lesson", lesson.as_str()),
            "{token}"
        );
        assert_eq!(last.title, "语文课快开始了");
    }
    // Once per event: the scheduler keeps looking, nothing more comes.
    w.at(cst(13, 55)).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(w.fakes.getui.delivered_to("student-token").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_holding_loses_nothing_and_sends_nothing_twice() {
    let mut w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let li = w.login(PARENT_ONE_CHILD).await;
    let zhao = w.login(PARENT_TWO_CHILDREN).await;
    registered(&li, "li-iphone-0001", "apns", "li-token").await;
    registered(&zhao, "zhao-pixel-001", "fcm", "zhao-token").await;
    w.at(cst(22, 0)).await;
    let first = posted(&lead, to_classes(&lead.taught_classes(), "春游通知", false)).await;
    let second = posted(&lead, to_classes(&lead.taught_classes(), "运动会", false)).await;
    tokio::time::sleep(SETTLE).await;

    // Killed at night; back up (its clock is the system's again until moved).
    w.server.restart();
    w.county = w.login(COUNTY_ADMIN).await;
    w.at(cst(24 + 7, 1)).await;
    for (fake, token) in [(&w.fakes.apns, "li-token"), (&w.fakes.fcm, "zhao-token")] {
        let got = exactly(fake, token, 1).await;
        assert_eq!(got[0].id, second, "{token}");
    }
    // And once more: nothing is sent again.
    w.server.restart();
    w.county = w.login(COUNTY_ADMIN).await;
    w.at(cst(24 + 9, 0)).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(w.fakes.apns.delivered_to("li-token").len(), 1);
    assert_eq!(w.fakes.fcm.delivered_to("zhao-token").len(), 1);
    for id in [&first, &second] {
        assert_eq!(states(&lead, id, &li.user_id()).await, ["sent"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_clock_is_off_unless_asked_for() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let county = Api::login(&server.url(), COUNTY_ADMIN).await;
    let r = county
        .call(
            Method::PUT,
            "/v1/test/clock",
            Some(json!({"now": cst(7, 0)})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let w = world().await;
    let lead = w.login(LEAD_TEACHER).await;
    let r = lead
        .call(
            Method::PUT,
            "/v1/test/clock",
            Some(json!({"now": cst(7, 0)})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
