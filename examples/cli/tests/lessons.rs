//! The timetable through the `lianxiao` binary against the real server, on one device with
//! three accounts: the lead teacher schedules a weekly linked lesson for 三年级(1)班 with 石桥's
//! class receiving it (its assistant named); a clashing lesson exits with the conflict code
//! and names the lesson in the way; the student sees the series, the teacher cancels one
//! lesson, the student is told; with the server stopped, today, now, next and the change are
//! still there, and marking the change seen works offline.

mod common;

use chrono::{Duration, Utc};
use common::{Device, as_str, login, user_id, with};
use lianxiao_tests::{
    Backend, TestServer,
    logins::{ASSISTANT_SHIQIAO, LEAD_TEACHER, STUDENT_MAIN_1A},
    places::CLASS_1,
};
use serde_json::Value;

fn ids(lessons: &Value) -> Vec<&str> {
    lessons
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {lessons:#}"))
        .iter()
        .map(|l| as_str(&l["id"]))
        .collect()
}

#[test]
fn the_timetable_through_the_terminal_client() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, ASSISTANT_SHIQIAO);
    login(&device, STUDENT_MAIN_1A);
    login(&device, LEAD_TEACHER);
    let student = ["--account", STUDENT_MAIN_1A];
    let zhou = ["--account", ASSISTANT_SHIQIAO];

    // The receiving class: the one 石桥's assistant teacher assists in.
    let zhou_id = user_id(&device, ASSISTANT_SHIQIAO);
    let synced = device.ok(&with(&zhou, &["sync", "--json"])).json();
    let shiqiao = as_str(&synced["classes"][0]["id"]).to_owned();
    let receiving = format!("{shiqiao}:{zhou_id}");

    // Weekly from tomorrow 10:00 school time (UTC+8) for three weeks.
    let tomorrow = (Utc::now() + Duration::hours(8) + Duration::days(1)).date_naive();
    let start = format!("{} 10:00", tomorrow.format("%Y-%m-%d"));
    let until = (tomorrow + Duration::days(14))
        .format("%Y-%m-%d")
        .to_string();
    let scheduled = device
        .ok(&[
            "lessons",
            "schedule",
            "--class",
            CLASS_1,
            "--subject",
            "语文",
            "--title",
            "古诗两首",
            "--start",
            &start,
            "--minutes",
            "40",
            "--mode",
            "interactive",
            "--receiving",
            &receiving,
            "--weekly-until",
            &until,
            "--json",
        ])
        .json();
    let series = as_str(&scheduled["series_id"]).to_owned();
    let lessons = ids(&scheduled["lessons"])
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(lessons.len(), 3, "{scheduled:#}");
    let first = &scheduled["lessons"][0];
    assert_eq!(first["starts"], format!("{}T10:00:00+08:00", tomorrow));
    assert_eq!(
        first["ends_at"].as_i64().unwrap() - first["starts_at"].as_i64().unwrap(),
        40 * 60_000
    );
    let classes = first["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 2, "{first:#}");
    assert_eq!(classes[0]["class_name"], CLASS_1);
    assert_eq!(classes[0]["lead"], true);
    assert_eq!(classes[1]["class_id"], shiqiao.as_str());
    assert_eq!(classes[1]["assistant"]["id"], zhou_id.as_str());

    // The same class twenty minutes later: refused, naming the lesson in the way.
    let later = format!("{} 10:20", tomorrow.format("%Y-%m-%d"));
    let clash = device.expect(
        10,
        &[
            "lessons",
            "schedule",
            "--class",
            CLASS_1,
            "--subject",
            "数学",
            "--title",
            "口算",
            "--start",
            &later,
            "--mode",
            "broadcast",
        ],
    );
    assert!(clash.stderr.contains(&lessons[0]), "{}", clash.stderr);
    assert!(clash.stdout.is_empty(), "{}", clash.stdout);

    // The student learns of the series by sync and lists it.
    device.ok(&with(&student, &["sync"]));
    let listed = device
        .ok(&with(
            &student,
            &["lessons", "list", "--days", "30", "--json"],
        ))
        .json();
    for id in &lessons {
        assert!(
            ids(&listed).contains(&id.as_str()),
            "{id} not in {listed:#}"
        );
    }
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["series_id"] == series.as_str() && l["status"] == "scheduled")
    );
    // A week shows only the first; a prefix of an id is enough to show it.
    let week = device
        .ok(&with(&student, &["lessons", "list", "--json"]))
        .json();
    assert_eq!(ids(&week), [lessons[0].as_str()]);
    let prefix = &lessons[1][..lessons[1].len() - 2];
    let shown = device
        .ok(&with(&student, &["lessons", "show", prefix, "--json"]))
        .json();
    assert_eq!(shown["id"], lessons[1].as_str());
    let text = device.ok(&with(&student, &["lessons", "show", &lessons[1]]));
    assert!(text.stdout.contains("古诗两首"), "{}", text.stdout);
    device.expect(6, &with(&student, &["lessons", "show", "no-such-lesson"]));

    // The teacher cancels week two; the student is told.
    let cancelled = device
        .ok(&[
            "lessons",
            "cancel",
            &lessons[1],
            "--reason",
            "教研活动",
            "--json",
        ])
        .json();
    assert_eq!(ids(&cancelled), [lessons[1].as_str()]);
    assert_eq!(cancelled[0]["status"], "cancelled");
    // Week three moves to the afternoon, by an id prefix; its length stays.
    let week3 = (tomorrow + Duration::days(14))
        .format("%Y-%m-%d")
        .to_string();
    let afternoon = format!("{week3} 14:30");
    let moved = device
        .ok(&[
            "lessons",
            "move",
            &lessons[2][..lessons[2].len() - 2],
            "--start",
            &afternoon,
            "--json",
        ])
        .json();
    assert_eq!(moved["id"], lessons[2].as_str());
    assert_eq!(moved["starts"], format!("{week3}T14:30:00+08:00"));
    assert_eq!(moved["ends"], format!("{week3}T15:10:00+08:00"));
    assert!(moved["moved_from"].is_i64(), "{moved:#}");
    device.ok(&with(&student, &["sync"]));
    let changes = device
        .ok(&with(&student, &["lessons", "changes", "--json"]))
        .json();
    let all = changes["changes"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{changes:#}");
    let change = all
        .iter()
        .find(|c| c["kind"] == "cancelled")
        .unwrap_or_else(|| panic!("no cancellation in {changes:#}"));
    assert_eq!(change["lesson"]["id"], lessons[1].as_str());
    assert_eq!(change["lesson"]["cancel_reason"], "教研活动");
    assert!(
        all.iter()
            .any(|c| c["kind"] == "moved" && c["lesson"]["id"] == lessons[2].as_str()),
        "{changes:#}"
    );
    let text = device.ok(&with(&student, &["lessons", "changes"]));
    assert!(text.stdout.contains("教研活动"), "{}", text.stdout);
    assert_eq!(changes["acknowledged"], false);

    // The server goes away: today, now, next and the change are still on the device.
    server.stop();
    let today = device
        .ok(&with(&student, &["lessons", "today", "--json"]))
        .json();
    assert_eq!(today["utc_offset_minutes"], 480);
    assert!(today["today"].as_array().is_some(), "{today:#}");
    assert_eq!(today["now"], Value::Null);
    assert_eq!(today["next"]["id"], lessons[0].as_str(), "{today:#}");
    assert_eq!(today["changes"].as_array().unwrap().len(), 2, "{today:#}");
    let text = device.ok(&with(&student, &["lessons", "today"]));
    assert!(text.stdout.contains("古诗两首"), "{}", text.stdout);
    let acked = device
        .ok(&with(&student, &["lessons", "changes", "--ack", "--json"]))
        .json();
    assert_eq!(acked["acknowledged"], true);
    assert_eq!(acked["changes"].as_array().unwrap().len(), 2);
    let after = device
        .ok(&with(&student, &["lessons", "changes", "--json"]))
        .json();
    assert_eq!(after["changes"], Value::Array(vec![]));
    // Scheduling needs the server.
    device.expect(
        9,
        &[
            "lessons",
            "schedule",
            "--class",
            CLASS_1,
            "--subject",
            "数学",
            "--title",
            "口算",
            "--start",
            &later,
            "--mode",
            "broadcast",
        ],
    );
}
