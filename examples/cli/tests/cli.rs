//! The `lianxiao` binary end to end against the real server: two accounts on one device, a
//! teacher's notice to a class by name, a parent's sync, list and 回执, receipts, reminders and
//! their rate limit, a forbidden post, an unknown notice, and an acknowledgment made while
//! the server is down that the next `sync` delivers. One server for the whole story.

mod common;

use common::{Device, login};
use lianxiao_tests::{
    Backend, TestServer,
    logins::{LEAD_TEACHER, PARENT_ONE_CHILD, STUDENT_MAIN_1A},
    places::CLASS_1,
};
use serde_json::Value;

/// Posts as the active (teacher) account and returns the server's id of the notice.
fn post(device: &Device, title: &str) -> String {
    let run = device.ok(&[
        "notices",
        "post",
        "--class",
        CLASS_1,
        "--title",
        title,
        "--body",
        "请家长知悉并回执。",
        "--require-ack",
        "--json",
    ]);
    let v = run.json();
    assert_eq!(v["title"], title);
    assert_eq!(v["post_state"], "delivered");
    assert_eq!(v["requires_ack"], true);
    let id = v["id"].as_str().expect("an id").to_owned();
    assert!(!id.starts_with("local-"), "the server's id: {id}");
    id
}

fn parent_notice<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("notice {id} not in {list:#}"))
}

fn acknowledged(device: &Device, id: &str) -> u64 {
    let report = device.ok(&["notices", "receipts", id, "--json"]).json();
    report["summary"]["acknowledged"].as_u64().expect("a count")
}

#[test]
fn usage_errors_exit_2_and_help_documents_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: "http://127.0.0.1:9".into(),
    };
    device.expect(2, &["notices", "post", "--title", "t", "--body", "b"]);
    let help = device.ok(&["--help"]);
    assert!(help.stdout.contains("3  offline-queued"), "{}", help.stdout);
    assert!(help.stdout.contains("8  rate limited"));
    // Nobody signed in: an auth failure, one line, no panic.
    let run = device.expect(4, &["notices", "list"]);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn the_notice_story_through_the_terminal_client() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };

    // Two accounts on one device: the last sign-in is active; switch back to the teacher.
    login(&device, LEAD_TEACHER);
    login(&device, PARENT_ONE_CHILD);
    let accounts = device.ok(&["accounts", "--json"]).json();
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let active: Vec<&str> = accounts
        .iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["login"].as_str().unwrap())
        .collect();
    assert_eq!(active, [PARENT_ONE_CHILD]);
    device.ok(&["switch", LEAD_TEACHER]);
    let table = device.ok(&["accounts"]).stdout;
    let marked = table.lines().find(|l| l.contains('*')).unwrap();
    assert!(marked.contains(LEAD_TEACHER), "{table}");

    // The teacher posts to a class by its name, asking for an acknowledgment.
    let id = post(&device, "周五家长会");

    // The parent syncs and finds it, unread and waiting for the 回执.
    let parent = ["--account", PARENT_ONE_CHILD];
    let sync = device
        .ok(&[&parent[..], &["sync", "--json"]].concat())
        .json();
    assert_eq!(sync["account"], PARENT_ONE_CHILD);
    assert_eq!(sync["children"].as_array().unwrap().len(), 1);
    assert!(sync["to_acknowledge"].as_u64().unwrap() >= 1);
    let list = device
        .ok(&[&parent[..], &["notices", "list", "--json"]].concat())
        .json();
    let n = parent_notice(&list, &id);
    assert_eq!(n["unread"], true);
    assert_eq!(n["ack_state"], "none");
    assert_eq!(n["author"]["name"], "王丽");
    // --child by name, and by login once the child's own account is on this device.
    let child_name = sync["children"][0]["name"].as_str().unwrap().to_owned();
    let by_name = device
        .ok(&[
            &parent[..],
            &["notices", "list", "--child", &child_name, "--json"],
        ]
        .concat())
        .json();
    parent_notice(&by_name, &id);
    login(&device, STUDENT_MAIN_1A);
    let by_login = device
        .ok(&[
            &parent[..],
            &["notices", "list", "--child", STUDENT_MAIN_1A, "--json"],
        ]
        .concat())
        .json();
    parent_notice(&by_login, &id);
    device.ok(&["switch", LEAD_TEACHER]);
    // The readable table carries the title.
    let table = device
        .ok(&[&parent[..], &["notices", "list"]].concat())
        .stdout;
    assert!(table.contains("周五家长会"), "{table}");

    // The parent acknowledges; the teacher's receipts show it.
    let ack = device.ok(&[&parent[..], &["notices", "ack", &id]].concat());
    assert!(ack.stdout.contains("acknowledged"), "{}", ack.stdout);
    let show = device
        .ok(&[&parent[..], &["notices", "show", &id, "--json"]].concat())
        .json();
    assert_eq!(show["ack_state"], "delivered");
    assert_eq!(acknowledged(&device, &id), 1);

    // Remind the others, once; the second within the hour is rate limited.
    let remind = device.ok(&["notices", "remind", &id]);
    assert!(remind.stdout.contains("reminded"), "{}", remind.stdout);
    let again = device.expect(8, &["notices", "remind", &id]);
    assert!(again.stderr.contains("rate limited"), "{}", again.stderr);
    assert!(again.stdout.is_empty());

    // A parent may not post to the class: forbidden, and the post leaves no trace.
    let forbidden = device.expect(
        5,
        &[
            &parent[..],
            &[
                "notices",
                "post",
                "--class",
                CLASS_1,
                "--title",
                "家长发的",
                "--body",
                "x",
            ],
        ]
        .concat(),
    );
    assert_eq!(forbidden.stderr.lines().count(), 1, "{}", forbidden.stderr);
    // An unknown notice.
    device.expect(6, &["notices", "show", "0000000000000000"]);
    device.expect(
        6,
        &[&parent[..], &["notices", "ack", "ffffffffffff"]].concat(),
    );

    // Offline: a second notice, the server goes down, the parent acknowledges anyway.
    let offline_id = post(&device, "下周停水通知");
    device.ok(&[&parent[..], &["sync"]].concat());
    server.stop();
    let queued = device.expect(
        3,
        &[&parent[..], &["--wait", "1", "notices", "ack", &offline_id]].concat(),
    );
    assert!(queued.stderr.contains("queued"), "{}", queued.stderr);
    assert!(queued.stderr.contains("已保存，联网后发送"));
    let show = device
        .ok(&[&parent[..], &["notices", "show", &offline_id, "--json"]].concat())
        .json();
    assert_eq!(show["ack_state"], "pending", "kept on disk, shown as done");
    // Reading works offline; asking the server does not.
    device.expect(9, &["notices", "receipts", &offline_id]);

    // The server is back: the parent's next command delivers the acknowledgment.
    server.restart();
    let sync = device
        .ok(&[&parent[..], &["sync", "--json"]].concat())
        .json();
    assert_eq!(sync["queued_actions"], 0);
    assert_eq!(acknowledged(&device, &offline_id), 1);

    // Signing the parent out leaves the other accounts.
    device.ok(&[&parent[..], &["logout"]].concat());
    let accounts = device.ok(&["accounts", "--json"]).json();
    let logins: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["login"].as_str().unwrap())
        .collect();
    assert!(!logins.contains(&PARENT_ONE_CHILD), "{logins:?}");
    assert_eq!(logins.len(), 2);
}
