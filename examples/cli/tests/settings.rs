//! Notification settings and unreachable parents through the `lianxiao` binary against the
//! real server: p_zhao turns "homework graded" off for one child and sets quiet hours, the
//! settings show the change, a second device of the same account sees it after sync, a
//! change typed while the server is down is kept (exit 3) and sent by the next command, a
//! child not theirs is refused; the lead teacher lists the class's unreachable parents and a
//! parent may not.

mod common;

use common::{Device, as_str, login, user_id, with};
use lianxiao_tests::{
    Backend, TestServer,
    logins::{LEAD_TEACHER, PARENT_TWO_CHILDREN, STUDENT_MAIN_1A, STUDENT_SHIQIAO_A},
    places::{CLASS_1, MAIN_SCHOOL},
};
use serde_json::Value;

fn kinds<'a>(settings: &'a Value, child: &str) -> &'a Value {
    &settings["children"]
        .as_array()
        .unwrap_or_else(|| panic!("no children: {settings:#}"))
        .iter()
        .find(|c| c["child_id"] == child)
        .unwrap_or_else(|| panic!("{child} not in {settings:#}"))["kinds"]
}

#[test]
fn settings_and_unreachable_parents_through_the_terminal_client() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, STUDENT_SHIQIAO_A);
    login(&device, STUDENT_MAIN_1A);
    login(&device, LEAD_TEACHER);
    login(&device, PARENT_TWO_CHILDREN);
    let shiqiao_child = user_id(&device, STUDENT_SHIQIAO_A);
    let stranger = user_id(&device, STUDENT_MAIN_1A);
    let zhao = ["--account", PARENT_TWO_CHILDREN];

    // Defaults: both children, everything on.
    let shown = device.ok(&with(&zhao, &["settings", "--json"])).json();
    assert_eq!(shown["children"].as_array().unwrap().len(), 2, "{shown:#}");
    assert_eq!(kinds(&shown, &shiqiao_child)["homework_graded"], true);
    assert_eq!(shown["pending"], false);

    let changed = device
        .ok(&with(
            &zhao,
            &[
                "settings",
                "set",
                "--child",
                &shiqiao_child,
                "--homework-graded",
                "off",
                "--quiet",
                "22:00-06:30",
                "--json",
            ],
        ))
        .json();
    assert_eq!(kinds(&changed, &shiqiao_child)["homework_graded"], false);
    assert_eq!(kinds(&changed, &shiqiao_child)["notices"], true);
    assert_eq!(changed["quiet_hours"]["start_minute"], 22 * 60);
    assert_eq!(changed["quiet_hours"]["end_minute"], 6 * 60 + 30);
    assert_eq!(changed["pending"], false, "delivered: {changed:#}");
    let text = device.ok(&with(&zhao, &["settings"]));
    assert!(text.stdout.contains("22:00-06:30"), "{}", text.stdout);

    // A second device of the same account sees it after sync.
    let dir2 = tempfile::tempdir().unwrap();
    let other = Device {
        dir: dir2.path(),
        server: server.url(),
    };
    login(&other, PARENT_TWO_CHILDREN);
    other.ok(&["sync"]);
    let there = other.ok(&["settings", "--json"]).json();
    assert_eq!(kinds(&there, &shiqiao_child)["homework_graded"], false);

    // Not this parent's child: not found among hers, nothing changed; bad quiet hours: usage.
    let refused = device.expect(
        6,
        &with(
            &zhao,
            &["settings", "set", "--child", &stranger, "--notices", "off"],
        ),
    );
    assert!(refused.stderr.contains("child"), "{}", refused.stderr);
    device.expect(
        2,
        &with(&zhao, &["settings", "set", "--quiet", "25:00-06:00"]),
    );

    // The server is down: the change is kept and shown, and goes with the next command.
    server.stop();
    let queued = device.expect(
        3,
        &with(
            &zhao,
            &["--wait", "1", "settings", "set", "--quiet", "off", "--json"],
        ),
    );
    assert!(queued.stderr.contains("queued"), "{}", queued.stderr);
    let offline = device.ok(&with(&zhao, &["settings", "--json"])).json();
    assert_eq!(offline["pending"], true);
    assert!(offline.get("quiet_hours").is_none(), "{offline:#}");
    server.restart();
    let sync = device.ok(&with(&zhao, &["sync", "--json"])).json();
    assert_eq!(sync["queued_actions"], 0);
    other.ok(&["sync"]);
    let there = other.ok(&["settings", "--json"]).json();
    assert!(there.get("quiet_hours").is_none(), "{there:#}");
    assert_eq!(kinds(&there, &shiqiao_child)["homework_graded"], false);

    // The lead teacher's class: p_li (李建国) has never been in touch; p_zhao has.
    let lead = ["--account", LEAD_TEACHER];
    let listed = device
        .ok(&with(&lead, &["unreachable", CLASS_1, "--json"]))
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| as_str(&p["parent"]["name"]))
        .collect();
    assert_eq!(names, vec!["李建国"], "{listed:#}");
    assert!(listed[0].get("last_seen_at").is_none(), "{listed:#}");
    let table = device.ok(&with(&lead, &["unreachable", CLASS_1]));
    assert!(table.stdout.contains("never"), "{}", table.stdout);
    let main_class = format!("{MAIN_SCHOOL} · {CLASS_1}");
    device.expect(5, &with(&zhao, &["unreachable", &main_class]));
}
