//! Homework through the `lianxiao` binary against the real server, on one device with three
//! accounts: the lead teacher assigns to both of their classes by name with a worksheet; the
//! student opens the worksheet, drafts text and photos (shrunk on the device, reordered,
//! one removed) and hands in waiting for delivery; the teacher's report shows who is
//! missing, the work goes back for redo and comes in again; a student cannot grade; the
//! teacher grades with voice feedback; the parent sees the grade and signs off; reminders
//! and their rate limit; deleting needs --confirm. Then work handed in while the server is
//! down reaches it with a later command.

mod common;

use std::path::Path;

use common::{Device, as_str, login, user_id, with};
use lianxiao_tests::{
    Backend, TestServer,
    logins::{LEAD_TEACHER, PARENT_ONE_CHILD, STUDENT_MAIN_1A},
    places::{CLASS_1, CLASS_2},
};
use serde_json::Value;

/// A photo as a phone camera would hand it over.
fn photo(dir: &Path, name: &str, (w, h): (u32, u32)) -> String {
    let path = dir.join(name);
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x / 7 % 256) as u8,
            (y / 5 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    })
    .save(&path)
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn bytes(dir: &Path, name: &str, n: usize) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        (0..n).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn file_names(draft: &Value) -> Vec<&str> {
    draft["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| as_str(&f["file_name"]))
        .collect()
}

fn class<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class_name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

fn ids(people: &Value) -> Vec<&str> {
    people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| as_str(&p["id"]))
        .collect()
}

#[test]
fn the_homework_story_through_the_terminal_client() {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, STUDENT_MAIN_1A);
    login(&device, PARENT_ONE_CHILD);
    login(&device, LEAD_TEACHER);
    let student = ["--account", STUDENT_MAIN_1A];
    let parent = ["--account", PARENT_ONE_CHILD];
    let student_id = user_id(&device, STUDENT_MAIN_1A);

    // 同步作业: one homework for both of the teacher's classes, named as the school names them.
    let sheet = bytes(files.path(), "worksheet.pdf", 30_000);
    let hw = device
        .ok(&[
            "homework",
            "assign",
            "--class",
            CLASS_1,
            "--class",
            CLASS_2,
            "--title",
            "看图写话",
            "--instructions",
            "看图，写三句话，拍照上传。",
            "--due",
            "+1d",
            "--kinds",
            "text,photo",
            "--max-score",
            "100",
            "--parent-sign-off",
            "--attach",
            &sheet,
            "--json",
        ])
        .json();
    let id = as_str(&hw["id"]).to_owned();
    assert_eq!(hw["classes"].as_array().unwrap().len(), 2);
    assert_eq!(hw["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(hw["attachments"][0]["file_name"], "worksheet.pdf");
    assert_eq!(
        (hw["authored"].clone(), hw["accepts_late"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(hw["requires_signoff"], true);
    assert_eq!(hw["accepted_kinds"], serde_json::json!(["text", "photo"]));

    // The student syncs and finds it, not started; the worksheet downloads whole.
    device.ok(&with(&student, &["sync"]));
    let list = device
        .ok(&with(&student, &["homework", "list", "--json"]))
        .json();
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["work"][0]["state"], "not_started");
    assert_eq!(listed[0]["work"][0]["student_id"], student_id.as_str());
    let table = device.ok(&with(&student, &["homework", "list"])).stdout;
    assert!(
        table.contains("看图写话") && table.contains("未开始"),
        "{table}"
    );
    let att = as_str(&hw["attachments"][0]["id"]).to_owned();
    let out_dir = files.path().join("downloads");
    std::fs::create_dir(&out_dir).unwrap();
    let got = device
        .ok(&with(
            &student,
            &[
                "homework",
                "attachment",
                &att,
                "--out",
                out_dir.to_str().unwrap(),
                "--json",
            ],
        ))
        .json();
    assert_eq!(got["path"], out_dir.join("worksheet.pdf").to_str().unwrap());
    assert_eq!(
        std::fs::read(out_dir.join("worksheet.pdf")).unwrap(),
        std::fs::read(&sheet).unwrap()
    );

    // A draft: text and two photos, shrunk on the device; reordered; one removed. A kind the
    // homework does not take is refused before anything changes.
    let big = photo(files.path(), "IMG_0001.png", (2400, 1800));
    let small = photo(files.path(), "IMG_0002.png", (400, 300));
    let recording = bytes(files.path(), "read.m4a", 2_000);
    let refused = device.expect(
        7,
        &with(
            &student,
            &["homework", "draft", &id, "--text", "x", "--add", &recording],
        ),
    );
    assert!(refused.stderr.contains("audio"), "{}", refused.stderr);
    let draft = device
        .ok(&with(&student, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(draft["work"][0]["draft"], Value::Null, "nothing changed");
    let draft = device
        .ok(&with(
            &student,
            &[
                "homework",
                "draft",
                &id,
                "--text",
                "图上有一只小猫。",
                "--add",
                &big,
                "--add",
                &small,
                "--json",
            ],
        ))
        .json();
    assert_eq!(draft["text"], "图上有一只小猫。");
    assert_eq!(file_names(&draft), ["IMG_0001.jpg", "IMG_0002.jpg"]);
    assert_eq!(draft["files"][0]["content_type"], "image/jpeg");
    assert_eq!(draft["files"][1]["position"], 2);
    let draft = device
        .ok(&with(
            &student,
            &["homework", "draft", &id, "--move", "2", "1", "--json"],
        ))
        .json();
    assert_eq!(file_names(&draft), ["IMG_0002.jpg", "IMG_0001.jpg"]);
    let draft = device
        .ok(&with(
            &student,
            &["homework", "draft", &id, "--remove", "1", "--json"],
        ))
        .json();
    assert_eq!(file_names(&draft), ["IMG_0001.jpg"]);
    device.expect(
        7,
        &with(&student, &["homework", "draft", &id, "--remove", "5"]),
    );
    let shown = device
        .ok(&with(&student, &["homework", "show", &id]))
        .stdout;
    assert!(shown.contains("1. IMG_0001.jpg"), "{shown}");
    assert!(shown.contains("草稿 draft"), "{shown}");

    // Hand in and wait until the server has it: its receipt time comes back.
    let handed = device.ok(&with(
        &student,
        &["homework", "hand-in", &id, "--wait", "--json"],
    ));
    let work = handed.json();
    assert_eq!(work["state"], "delivered", "{work:#}");
    // Progress went to stderr (lines, not a bar: stderr is not a terminal here).
    assert!(
        handed.stderr.contains("uploading") || handed.stderr.contains("handing in"),
        "{}",
        handed.stderr
    );
    assert!(work["received_at"].as_i64().unwrap() > 0);
    assert_eq!(
        (work["attempt"].as_u64(), work["late"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(work["handin"]["state"], "delivered");
    let attempt = &work["submission"]["attempts"][0];
    assert_eq!(attempt["text"], "图上有一只小猫。");
    assert_eq!(attempt["attachments"][0]["kind"], "photo");
    let shown = device
        .ok(&with(&student, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["work"][0]["state"], "delivered");
    assert_eq!(
        shown["work"][0]["draft"],
        Value::Null,
        "the draft left with the hand-in"
    );
    assert_eq!(shown["work"][0]["received_at"], work["received_at"]);

    // The teacher's report: who handed in and who is missing, per class.
    let report = device.ok(&["homework", "report", &id, "--json"]).json();
    let class1 = class(&report, CLASS_1);
    assert_eq!(ids(&class1["submitted"]), [student_id.as_str()]);
    let missing = ids(&class1["missing"]);
    assert_eq!(
        missing.len(),
        class1["students"].as_array().unwrap().len() - 1
    );
    assert!(!missing.contains(&student_id.as_str()));
    let class2 = class(&report, CLASS_2);
    assert!(class2["submitted"].as_array().unwrap().is_empty());
    assert!(!class2["missing"].as_array().unwrap().is_empty());
    let table = device.ok(&["homework", "report", &id]).stdout;
    assert!(
        table.contains("未交 missing") && table.contains(CLASS_2),
        "{table}"
    );

    // The teacher fetches the work, opens the photo: shrunk to 1600 px on the phone.
    let subs = device
        .ok(&["homework", "submissions", &id, "--json"])
        .json();
    let subs = subs.as_array().unwrap();
    assert_eq!(subs.len(), 1);
    let sub = as_str(&subs[0]["id"]).to_owned();
    let photo_id = as_str(&subs[0]["attempts"][0]["attachments"][0]["id"]).to_owned();
    let opened = device
        .ok(&["homework", "attachment", &photo_id, "--json"])
        .json();
    let size = image::ImageReader::open(as_str(&opened["path"]))
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!(size, (1600, 1200));

    // Back for redo; the student sees why and hands in again (text only this time).
    let returned = device
        .ok(&[
            "homework",
            "return",
            &sub,
            "--feedback",
            "请写满三句话。",
            "--json",
        ])
        .json();
    assert_eq!(returned["status"], "returned");
    device.ok(&with(&student, &["sync"]));
    let shown = device
        .ok(&with(&student, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["work"][0]["state"], "returned");
    assert_eq!(shown["work"][0]["reason"], "请写满三句话。");
    device.ok(&with(
        &student,
        &[
            "homework",
            "draft",
            &id,
            "--text",
            "图上有一只小猫。它在睡觉。它很可爱。",
        ],
    ));
    let again = device
        .ok(&with(&student, &["homework", "hand-in", &id, "--json"]))
        .json();
    assert_eq!(
        (again["state"].clone(), again["attempt"].clone()),
        ("delivered".into(), 2.into())
    );

    // A student cannot grade (the server refuses; the action does not linger in the queue).
    let forbidden = device.expect(
        5,
        &with(&student, &["homework", "grade", &sub, "--score", "100"]),
    );
    assert_eq!(forbidden.stderr.lines().count(), 1, "{}", forbidden.stderr);
    assert!(forbidden.stdout.is_empty());
    let sync = device.ok(&with(&student, &["sync", "--json"])).json();
    assert_eq!(sync["queued_actions"], 0);

    // The teacher grades by a prefix of the id, with spoken feedback; the score is checked.
    device.ok(&["sync"]);
    device.expect(7, &["homework", "grade", &sub, "--score", "101"]);
    let voice = bytes(files.path(), "feedback.m4a", 20_000);
    let graded = device
        .ok(&[
            "homework",
            "grade",
            &sub[..12],
            "--score",
            "95",
            "--feedback",
            "写得很好",
            "--voice",
            &voice,
            "--json",
        ])
        .json();
    assert_eq!(graded["status"], "graded");
    let review = &graded["attempts"][1]["review"];
    assert_eq!(
        (review["score"].clone(), review["feedback"].clone()),
        (95.into(), "写得很好".into())
    );
    assert_eq!(review["voice"]["kind"], "audio");

    // The parent sees the grade, hears the feedback, and signs off by the homework's id.
    let summary = device.ok(&with(&parent, &["sync", "--json"])).json();
    assert_eq!(summary["to_sign_off"], 1);
    let mine = device
        .ok(&with(
            &parent,
            &["homework", "list", "--child", STUDENT_MAIN_1A, "--json"],
        ))
        .json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let seen = device
        .ok(&with(&parent, &["homework", "show", &id, "--json"]))
        .json();
    let child = &seen["work"][0];
    assert_eq!(
        (child["state"].clone(), child["score"].clone()),
        ("graded".into(), 95.into())
    );
    assert_eq!(child["max_score"], 100);
    assert_eq!(child["needs_sign_off"], true);
    let voice_id = as_str(&child["submission"]["attempts"][1]["review"]["voice"]["id"]).to_owned();
    let heard = device
        .ok(&with(
            &parent,
            &["homework", "attachment", &voice_id, "--json"],
        ))
        .json();
    assert_eq!(heard["size"], 20_000);
    let signed = device
        .ok(&with(
            &parent,
            &["homework", "sign-off", &id, "--note", "已检查", "--json"],
        ))
        .json();
    assert_eq!(signed["sign_off"]["note"], "已检查");
    let seen = device
        .ok(&with(&parent, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(seen["work"][0]["needs_sign_off"], false);
    let report = device.ok(&["homework", "report", &id, "--json"]).json();
    assert_eq!(
        class(&report, CLASS_1)["not_signed_off"],
        serde_json::json!([])
    );
    let signed: u64 = report["summary"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["signed_off"].as_u64().unwrap())
        .sum();
    assert_eq!(signed, 1);

    // Remind those who have not handed in; a second reminder within the hour is refused.
    let reminded = device.ok(&["homework", "remind", &id, "--json"]).json();
    assert!(reminded["reminded"].as_u64().unwrap() >= 1, "{reminded:#}");
    let again = device.expect(8, &["homework", "remind", &id]);
    assert!(again.stderr.contains("rate limited"), "{}", again.stderr);

    // Deleting a homework with work handed in needs --confirm; then it is gone.
    let refused = device.expect(7, &["homework", "delete", &id]);
    assert!(refused.stderr.contains("--confirm"), "{}", refused.stderr);
    device.ok(&["homework", "delete", &id, "--confirm", "--json"]);
    device.expect(6, &["homework", "show", &id]);
    device.expect(6, &["homework", "show", "ffffffffffffffff"]);
}

#[test]
fn work_handed_in_while_the_server_is_down_arrives_with_a_later_command() {
    let mut server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let device = Device {
        dir: dir.path(),
        server: server.url(),
    };
    login(&device, STUDENT_MAIN_1A);
    login(&device, LEAD_TEACHER);
    let student = ["--account", STUDENT_MAIN_1A];
    let hw = device
        .ok(&[
            "homework",
            "assign",
            "--class",
            CLASS_1,
            "--title",
            "口算练习",
            "--due",
            "+2h",
            "--kinds",
            "photo",
            "--json",
        ])
        .json();
    let id = as_str(&hw["id"]).to_owned();
    device.ok(&with(&student, &["sync"]));
    let page = photo(files.path(), "page.png", (1200, 900));
    device.ok(&with(&student, &["homework", "draft", &id, "--add", &page]));

    // The server goes away: the hand-in stays on the device, shown as such.
    server.stop();
    let queued = device.expect(
        3,
        &with(
            &student,
            &["--wait", "1", "homework", "hand-in", &id, "--json"],
        ),
    );
    assert!(queued.stderr.contains("queued"), "{}", queued.stderr);
    let state = queued.json()["state"].clone();
    assert!(state == "on_device" || state == "uploading", "{state}");
    let shown = device
        .ok(&with(&student, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["work"][0]["handin"]["state"], state);
    assert_eq!(shown["work"][0]["draft"], Value::Null);

    // Back: the next sync sends the photo and the hand-in, once.
    server.restart();
    let sync = device
        .ok(&with(&student, &["--wait", "60", "sync", "--json"]))
        .json();
    assert_eq!(sync["queued_actions"], 0, "{sync:#}");
    let shown = device
        .ok(&with(&student, &["homework", "show", &id, "--json"]))
        .json();
    assert_eq!(shown["work"][0]["state"], "delivered", "{shown:#}");
    let subs = device
        .ok(&["homework", "submissions", &id, "--json"])
        .json();
    let subs = subs.as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0]["attempts"].as_array().unwrap().len(),
        1,
        "exactly once"
    );
    assert_eq!(
        subs[0]["attempts"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
