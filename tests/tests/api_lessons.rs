//! The timetable through the API: scheduling a lead class with receiving classes of the link
//! group, clashes refused with the lesson in the way named, who sees which lessons, moving and
//! cancelling.

use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const WEEK: i64 = 7 * 24 * HOUR;

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

/// Tomorrow at a whole hour, so tests are far from "now".
fn tomorrow() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now / HOUR + 24) * HOUR
}

struct School {
    lead: Api,
    main_1: String,
    main_2: String,
    shiqiao: String,
    hekou: String,
    a_zhou: String,
    a_sun: String,
}

async fn school(base: &str) -> School {
    let lead = Api::login(base, LEAD_TEACHER).await;
    let main_1 = Api::login(base, STUDENT_MAIN_1A).await.student_class();
    let main_2 = Api::login(base, STUDENT_MAIN_2A).await.student_class();
    let zhou = Api::login(base, ASSISTANT_SHIQIAO).await;
    let sun = Api::login(base, ASSISTANT_HEKOU).await;
    School {
        lead,
        main_1,
        main_2,
        shiqiao: zhou.taught_classes()[0].clone(),
        hekou: sun.taught_classes()[0].clone(),
        a_zhou: zhou.user_id(),
        a_sun: sun.user_id(),
    }
}

/// 语文 from main class 1 to 石桥 and 河口, 40 minutes, `weeks` weeks from `start`.
fn linked_lesson(s: &School, start: i64, weeks: i64) -> Value {
    let mut body = json!({
        "subject": "语文",
        "title": "古诗两首",
        "starts_at": start,
        "ends_at": start + 40 * 60_000,
        "mode": "interactive",
        "lead_class_id": s.main_1,
        "receiving": [
            {"class_id": s.shiqiao, "assistant_id": s.a_zhou},
            {"class_id": s.hekou, "assistant_id": s.a_sun},
        ],
    });
    if weeks > 1 {
        body["weekly_until"] = json!(start + (weeks - 1) * WEEK + 1);
    }
    body
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashes_are_refused_naming_the_lesson_in_the_way() {
    let server = server();
    let base = server.url();
    let s = school(&base).await;
    let start = tomorrow();

    let r = s
        .lead
        .call(
            Method::POST,
            "/v1/lessons",
            Some(linked_lesson(&s, start, 4)),
            Some("k1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let lessons = r.body["lessons"].as_array().unwrap().clone();
    assert_eq!(lessons.len(), 4);
    let series = r.body["series_id"].as_str().unwrap();
    assert_eq!(lessons[0]["id"], series);
    assert!(lessons.iter().all(|l| l["series_id"] == series));
    assert_eq!(lessons[3]["starts_at"], start + 3 * WEEK);
    let classes = lessons[0]["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 3);
    assert_eq!(classes[0]["lead"], true);
    assert_eq!(classes[0]["class_id"], s.main_1.as_str());
    assert!(
        classes
            .iter()
            .any(|c| c["assistant"]["id"] == s.a_zhou.as_str())
    );

    // The same request again (a lost response) replays; nothing is booked twice.
    let again = s
        .lead
        .call(
            Method::POST,
            "/v1/lessons",
            Some(linked_lesson(&s, start, 4)),
            Some("k1"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["series_id"], series);

    // The lead teacher cannot teach main class 2 at the same time.
    let mut other = linked_lesson(&s, start + 20 * 60_000, 1);
    other["lead_class_id"] = json!(s.main_2);
    other["receiving"] = json!([]);
    let r = s.lead.post("/v1/lessons", other).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "conflict");
    assert_eq!(r.body["clash"]["lesson_id"], series);
    assert_eq!(r.body["clash"]["teacher_id"], s.lead.user_id().as_str());
    assert!(r.body["message"].as_str().unwrap().contains(series));

    // 石桥's own maths teacher cannot use the class in week three of the series.
    let chen = Api::login(&base, BRANCH_TEACHER).await;
    let week3 = start + 2 * WEEK;
    let maths = json!({
        "subject": "数学", "title": "两位数乘法", "mode": "broadcast",
        "starts_at": week3 + 30 * 60_000, "ends_at": week3 + 70 * 60_000,
        "lead_class_id": s.shiqiao,
    });
    let r = chen.post("/v1/lessons", maths.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["clash"]["lesson_id"], lessons[2]["id"]);
    assert_eq!(r.body["clash"]["class_id"], s.shiqiao.as_str());
    assert_eq!(r.body["clash"]["requested_start"], week3 + 30 * 60_000);

    // Right after the lesson ends, the class is free.
    let mut later = maths.clone();
    later["starts_at"] = json!(week3 + 40 * 60_000);
    later["ends_at"] = json!(week3 + 80 * 60_000);
    let r = chen.post("/v1/lessons", later).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Nobody schedules what is not theirs; bad times are named.
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let r = student
        .post("/v1/lessons", linked_lesson(&s, start + 5 * WEEK, 1))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let mut into_main = maths.clone();
    into_main["starts_at"] = json!(start + 6 * WEEK);
    into_main["ends_at"] = json!(start + 6 * WEEK + HOUR);
    into_main["lead_class_id"] = json!(s.main_1);
    let r = chen.post("/v1/lessons", into_main).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let mut backwards = linked_lesson(&s, start + 5 * WEEK, 1);
    backwards["ends_at"] = json!(start + 5 * WEEK - 1);
    let r = s.lead.post("/v1/lessons", backwards).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "ends_at");
    let r = s
        .lead
        .post("/v1/lessons", linked_lesson(&s, start - 48 * HOUR, 1))
        .await;
    assert_eq!(r.body["field"], "starts_at", "{:?}", r.body);
    let mut wrong_assistant = linked_lesson(&s, start + 5 * WEEK, 1);
    wrong_assistant["receiving"][0]["assistant_id"] = json!(s.a_sun);
    let r = s.lead.post("/v1/lessons", wrong_assistant).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "receiving");

    // The school admin schedules for the lead teacher.
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let mut for_wang = linked_lesson(&s, start + 5 * WEEK, 1);
    for_wang["lead_teacher_id"] = json!(s.lead.user_id());
    let r = admin.post("/v1/lessons", for_wang).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["lessons"][0]["lead_teacher"]["id"],
        s.lead.user_id().as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_sees_their_own_timetable_and_hears_of_moves_and_cancellations() {
    let server = server();
    let base = server.url();
    let s = school(&base).await;
    let start = tomorrow();
    let r = s
        .lead
        .post("/v1/lessons", linked_lesson(&s, start, 3))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let series: Vec<String> = ids(&r.body["lessons"]);
    let window = format!("/v1/lessons?from={}&to={}", start - HOUR, start + 4 * WEEK);

    // In the lesson: its students (lead and receiving classes), their parents, its staff.
    for who in [
        STUDENT_MAIN_1A,
        STUDENT_SHIQIAO_A,
        STUDENT_HEKOU_B,
        PARENT_ONE_CHILD,
        PARENT_TWO_CHILDREN,
        ASSISTANT_SHIQIAO,
        LEAD_TEACHER,
    ] {
        let api = Api::login(&base, who).await;
        let r = api.get(&window).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(ids(&r.body), series, "{who}");
        let (items, _) = api.sync_all(None).await;
        let synced = items.iter().filter(|i| i["type"] == "lesson").count();
        assert_eq!(synced, 3, "{who} syncs the series");
    }
    // Not in it: main class 2, its parent, the teaching point's pupils.
    for who in [STUDENT_MAIN_2A, PARENT_MAIN_2, STUDENT_TEACHING_POINT_A] {
        let api = Api::login(&base, who).await;
        assert_eq!(api.get(&window).await.body, json!([]), "{who}");
        let r = api.get(&format!("/v1/lessons/{}", series[0])).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}");
    }

    // Moving and cancelling: only the lead (or an admin); everyone in it gets the change.
    let student = Api::login(&base, STUDENT_MAIN_1A).await;
    let (_, cursor) = student.sync_all(None).await;
    let moved_to = start + 2 * HOUR;
    let to = json!({"starts_at": moved_to, "ends_at": moved_to + 40 * 60_000});
    let r = student
        .post(&format!("/v1/lessons/{}/move", series[0]), to.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let outsider = Api::login(&base, PARENT_MAIN_2).await;
    let r = outsider
        .post(&format!("/v1/lessons/{}/move", series[0]), to.clone())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .lead
        .post(&format!("/v1/lessons/{}/move", series[0]), to)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["starts_at"], moved_to);
    assert_eq!(r.body["moved_from"], start);

    let r = s
        .lead
        .post(
            &format!("/v1/lessons/{}/cancel", series[1]),
            json!({"reason": "县里统一教研", "and_following": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(ids(&r.body), series[1..].to_vec());
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "cancelled")
    );

    let (items, _) = student.sync_all(Some(&cursor)).await;
    let lessons: Vec<&Value> = items.iter().filter(|i| i["type"] == "lesson").collect();
    assert_eq!(lessons.len(), 3, "{items:?}");
    let moved = lessons
        .iter()
        .find(|i| i["lesson"]["id"] == series[0].as_str())
        .unwrap();
    assert_eq!(moved["lesson"]["moved_from"], start);
    let cancelled = lessons
        .iter()
        .find(|i| i["lesson"]["id"] == series[2].as_str())
        .unwrap();
    assert_eq!(cancelled["lesson"]["cancel_reason"], "县里统一教研");

    // A cancelled lesson frees its slot; a cancelled lesson cannot be moved.
    let mut other = linked_lesson(&s, start + WEEK, 1);
    other["lead_class_id"] = json!(s.main_2);
    other["receiving"] = json!([]);
    let r = s.lead.post("/v1/lessons", other).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = s
        .lead
        .post(
            &format!("/v1/lessons/{}/move", series[1]),
            json!({"starts_at": start + WEEK + HOUR * 3, "ends_at": start + WEEK + HOUR * 4}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
}

/// Two schedulers cannot both book: many at once, for one class or one teacher at one time
/// (the lead, the school admin and the county admin for the lead, some for the lead's other
/// class), and exactly one wins; every other is a 409 naming the winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_schedulers_cannot_both_book_a_class_or_a_teacher() {
    let server = server();
    let base = server.url();
    let s = school(&base).await;
    let admin = Api::login(&base, SCHOOL_ADMIN).await;
    let county = Api::login(&base, COUNTY_ADMIN).await;
    let start = tomorrow() + 5 * HOUR;
    let lead_id = s.lead.user_id();

    for round in 0..3 {
        let at = start + round * WEEK;
        let mut requests = Vec::new();
        for (k, who) in [
            &s.lead, &s.lead, &admin, &county, &s.lead, &admin, &county, &s.lead,
        ]
        .into_iter()
        .enumerate()
        {
            let mut body = linked_lesson(&s, at + (k as i64) * 60_000, 1);
            body["title"] = json!(format!("第{k}课"));
            if k % 4 == 3 {
                // The lead's other class: a teacher clash, not a class clash.
                body["lead_class_id"] = json!(s.main_2);
                body["receiving"] = json!([]);
            }
            if !std::ptr::eq(who, &s.lead) {
                body["lead_teacher_id"] = json!(lead_id);
            }
            requests.push(who.post("/v1/lessons", body));
        }
        let replies = futures::future::join_all(requests).await;
        let won: Vec<&lianxiao_tests::api::Reply> = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {:?}",
            replies
                .iter()
                .map(|r| (r.status, &r.body))
                .collect::<Vec<_>>()
        );
        let winner = won[0].body["series_id"].as_str().unwrap();
        for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
            assert_eq!(
                r.status,
                StatusCode::CONFLICT,
                "round {round}: {:?}",
                r.body
            );
            assert_eq!(r.body["clash"]["lesson_id"], winner, "{:?}", r.body);
        }
        // One lesson in the teacher's timetable at that hour.
        let window = format!("/v1/lessons?from={}&to={}", at - HOUR, at + 2 * HOUR);
        let listed = s.lead.get(&window).await;
        assert_eq!(
            listed.body.as_array().unwrap().len(),
            1,
            "{:?}",
            listed.body
        );
    }
}

/// Times at the ends of what an i64 holds are a 422 naming the field, never a panic (a
/// dropped connection in a debug build), and the server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_at_the_ends_of_the_range_are_refused_not_overflowed() {
    let server = server();
    let base = server.url();
    let s = school(&base).await;
    let start = tomorrow();

    let mut forever = linked_lesson(&s, start, 1);
    forever["weekly_until"] = json!(i64::MAX);
    let r = s.lead.post("/v1/lessons", forever).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "weekly_until");

    for (starts_at, ends_at, field) in [
        (i64::MAX - 1, i64::MAX, "starts_at"),
        (
            i64::MAX - 10 * WEEK,
            i64::MAX - 10 * WEEK + HOUR,
            "starts_at",
        ),
        (start, i64::MAX, "ends_at"),
        (start, i64::MIN, "ends_at"),
        (i64::MIN, start, "starts_at"),
    ] {
        let mut body = linked_lesson(&s, start, 1);
        body["starts_at"] = json!(starts_at);
        body["ends_at"] = json!(ends_at);
        let r = s.lead.post("/v1/lessons", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
        assert_eq!(r.body["field"], field, "{body}");
        body["weekly_until"] = json!(i64::MAX);
        let r = s.lead.post("/v1/lessons", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
    }

    // A lesson to move, then moves to the ends of the range.
    let r = s
        .lead
        .post("/v1/lessons", linked_lesson(&s, start, 1))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["lessons"][0]["id"].as_str().unwrap().to_owned();
    for (starts_at, ends_at) in [
        (i64::MAX - 1, i64::MAX),
        (start, i64::MAX),
        (start, i64::MIN),
    ] {
        let r = s
            .lead
            .post(
                &format!("/v1/lessons/{id}/move"),
                json!({"starts_at": starts_at, "ends_at": ends_at}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    }

    let (min, max) = (i64::MIN, i64::MAX);
    for query in [
        format!("from={min}&to={max}"),
        format!("from={max}&to={min}"),
        format!("from={max}"),
        format!("from={}", max - 1),
        format!("from={min}&to={}", min + 1),
    ] {
        let r = s.lead.get(&format!("/v1/lessons?{query}")).await;
        let ok = r.status == StatusCode::UNPROCESSABLE_ENTITY
            || (r.status == StatusCode::OK && r.body.as_array().is_some_and(|a| a.is_empty()));
        assert!(ok, "{query}: {} {:?}", r.status, r.body);
    }
    let r = s
        .lead
        .get(&format!("/v1/lessons?from={min}&to={max}"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "to");
    let r = s.lead.get(&format!("/v1/lessons?from={max}")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "from");

    // Still answering, and nothing was booked by the refusals.
    let listed = s
        .lead
        .get(&format!(
            "/v1/lessons?from={}&to={}",
            start - HOUR,
            start + 20 * WEEK
        ))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "{:?}",
        listed.body
    );
}
