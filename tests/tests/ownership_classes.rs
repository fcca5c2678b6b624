//! Who may act on which class, probed as an attacker would: 同步作业 and 专递课堂 reach only
//! the lead class's grade in the link group's branch schools and teaching points (never other
//! classes of the main school, and assisting does not make a lead class); and a class or
//! school id of someone else's answers exactly like one that does not exist.
//!
//! The county here has two grades, so "a class of the link group" and "a receiving class" are
//! not the same thing (the demo county has only third grade).

use lianxiao_tests::{Backend, Place, RosterBuilder, TestServer, api::Api};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// A class id nobody has: what a prober would try.
const MADE_UP: &str = "c-00000000000000000000000000000000";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Two link groups. 城关联校: a main school with 四年级(1)班, 三年级(1)班 and 三年级(2)班, a
/// branch and a teaching point with a fourth- and a third-grade class each. 河口联校: another
/// main school, for "a real id of another school".
fn roster() -> String {
    let lg = "城关联校";
    let main4 = Place::class("城关中心小学", "main", "四年级(1)班", "4").in_link_group(lg);
    let main3a = Place::class("城关中心小学", "main", "三年级(1)班", "3").in_link_group(lg);
    let main3b = Place::class("城关中心小学", "main", "三年级(2)班", "3").in_link_group(lg);
    let branch4 = Place::class("石桥小学", "branch", "四年级(1)班", "4").in_link_group(lg);
    let branch3 = Place::class("石桥小学", "branch", "三年级(1)班", "3").in_link_group(lg);
    let point4 = Place::class("山背教学点", "teaching_point", "四年级(1)班", "4").in_link_group(lg);
    let point3 = Place::class("山背教学点", "teaching_point", "三年级(1)班", "3").in_link_group(lg);
    let other = Place::class("河口中心小学", "main", "四年级(1)班", "4").in_link_group("河口联校");
    RosterBuilder::new()
        .teacher(main4, "o_t_main4", "王丽", "语文")
        .teacher(main3a, "o_t_main3", "李强", "语文")
        .teacher(main3b, "o_t_main3", "李强", "语文")
        // Assists in a third-grade class of the main school: no lead class of their own.
        .assistant(main3a, "o_a_main3", "赵敏")
        .assistant(branch4, "o_a_branch4", "周敏")
        .assistant(branch3, "o_a_branch3", "吴芳")
        .teacher(point3, "o_t_point3", "何芳", "数学")
        .teacher(other, "o_t_other", "孙伟", "语文")
        .school_admin(main4, "o_sa_main", "刘国强")
        .school_admin(other, "o_sa_other", "钱进")
        .county_admin("o_ca", "张建华")
        .student(main4, "o_s_main4", "李明")
        .student(main3a, "o_s_main3a", "赵雨涵")
        .student(main3b, "o_s_main3b", "孙悦")
        .student(branch4, "o_s_branch4", "马欣怡")
        .student(branch3, "o_s_branch3", "杨博文")
        .student(point4, "o_s_point4", "高小龙")
        .student(point3, "o_s_point3", "林晓")
        .student(other, "o_s_other", "胡佳琪")
        .parent(main3a, "o_p_main3a", "赵红梅", "o_s_main3a")
        .parent(main4, "o_p_main4", "李建国", "o_s_main4")
        .to_csv()
}

/// The county's classes, by what they are.
struct County {
    base: String,
    main4: String,
    main3a: String,
    main3b: String,
    branch4: String,
    branch3: String,
    point4: String,
    point3: String,
    other: String,
    other_school: String,
}

async fn county(server: &TestServer) -> County {
    server.import_roster(&roster()).unwrap();
    let base = server.url();
    let class = |login: &'static str| {
        let base = base.clone();
        async move { Api::login(&base, login).await.student_class() }
    };
    let other = Api::login(&base, "o_sa_other").await;
    let other_school = other.user["memberships"][0]["school_id"]
        .as_str()
        .unwrap()
        .to_owned();
    County {
        main4: class("o_s_main4").await,
        main3a: class("o_s_main3a").await,
        main3b: class("o_s_main3b").await,
        branch4: class("o_s_branch4").await,
        branch3: class("o_s_branch3").await,
        point4: class("o_s_point4").await,
        point3: class("o_s_point3").await,
        other: class("o_s_other").await,
        other_school,
        base,
    }
}

fn homework(classes: &[&str]) -> Value {
    json!({
        "title": "看图写话",
        "class_ids": classes,
        "due_at": now_ms() + DAY,
        "accepted_kinds": ["text"],
        "max_score": 100,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homework_reaches_only_the_lead_classs_grade_in_the_branches_and_teaching_points() {
    let server = TestServer::start(&Backend::from_env());
    let c = county(&server).await;
    let wang = Api::login(&c.base, "o_t_main4").await;

    // 同步作业: her class and the fourth grades of the branch and the teaching point.
    let r = wang
        .post("/v1/homework", homework(&[&c.main4, &c.branch4, &c.point4]))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Not the main school's third grades, not a third grade anywhere, not another county's
    // class; and a made-up id is answered exactly like a real one.
    let refusal = |r: &lianxiao_tests::api::Reply, class: &str| {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{class}: {:?}", r.body);
        assert_eq!(
            r.body["message"],
            format!("you do not teach class {class}"),
            "{:?}",
            r.body
        );
    };
    for class in [&c.main3a, &c.main3b, &c.branch3, &c.point3, &c.other] {
        let r = wang
            .post("/v1/homework", homework(&[&c.main4, class]))
            .await;
        refusal(&r, class);
    }
    let r = wang
        .post("/v1/homework", homework(&[&c.main4, MADE_UP]))
        .await;
    refusal(&r, MADE_UP);

    // Assisting in a main-school class makes no receiving classes; the teaching point's own
    // teacher has no receiving classes at all.
    let assistant = Api::login(&c.base, "o_a_main3").await;
    let r = assistant
        .post("/v1/homework", homework(&[&c.branch3]))
        .await;
    refusal(&r, &c.branch3);
    let point = Api::login(&c.base, "o_t_point3").await;
    for class in [&c.main3a, &c.branch3] {
        let r = point.post("/v1/homework", homework(&[class])).await;
        refusal(&r, class);
    }
    // A parent, a student, a teacher of another school: nothing.
    for login in ["o_p_main3a", "o_s_main3a", "o_t_other"] {
        let who = Api::login(&c.base, login).await;
        let r = who.post("/v1/homework", homework(&[&c.main3a])).await;
        refusal(&r, &c.main3a);
    }

    // The third grade's own homework, handed in by its pupil: the fourth grade's teacher
    // cannot see it, its work, its report, nor grade it.
    let li = Api::login(&c.base, "o_t_main3").await;
    let r = li
        .post(
            "/v1/homework",
            homework(&[&c.main3a, &c.main3b, &c.branch3, &c.point3]),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let hw = r.body["id"].as_str().unwrap().to_owned();
    let pupil = Api::login(&c.base, "o_s_main3a").await;
    let r = pupil
        .post(
            &format!("/v1/homework/{hw}/submissions"),
            json!({"text": "我的作业"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let sub = r.body["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/homework/{hw}"),
        format!("/v1/homework/{hw}/submissions"),
        format!("/v1/homework/{hw}/report"),
        format!("/v1/submissions/{sub}"),
    ] {
        assert_eq!(
            wang.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = wang
        .post(
            &format!("/v1/submissions/{sub}/grade"),
            json!({"score": 1, "feedback": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}

fn lesson(lead_class: &str, receiving: &[&str], start: i64) -> Value {
    json!({
        "subject": "语文",
        "title": "古诗两首",
        "starts_at": start,
        "ends_at": start + HOUR,
        "mode": "interactive",
        "lead_class_id": lead_class,
        "receiving": receiving.iter().map(|c| json!({"class_id": c})).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lessons_book_only_the_lead_classs_receiving_classes() {
    let server = TestServer::start(&Backend::from_env());
    let c = county(&server).await;
    let start = now_ms() + 2 * DAY;
    let li = Api::login(&c.base, "o_t_main3").await;
    let point = Api::login(&c.base, "o_t_point3").await;

    // The teaching point's teacher cannot book the main school's classes into their lesson,
    // nor the branch's.
    for class in [&c.main3a, &c.main3b, &c.branch3, MADE_UP] {
        let r = point
            .post("/v1/lessons", lesson(&c.point3, &[class], start))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{class}: {:?}", r.body);
        assert_eq!(
            r.body["message"],
            format!(
                "class {class} is not a receiving class of the lead class (the same grade in \
                 the link group's branch schools and teaching points)"
            )
        );
    }
    // So their own teacher's lesson at that time is not blocked by a 409.
    let r = li
        .post(
            "/v1/lessons",
            lesson(&c.main3a, &[&c.branch3, &c.point3], start),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // The main school's lead teacher: not the other third-grade class of the main school,
    // not another grade, not another link group; the school admin neither.
    let admin = Api::login(&c.base, "o_sa_main").await;
    for class in [&c.main3b, &c.branch4, &c.point4, &c.other] {
        let r = li
            .post("/v1/lessons", lesson(&c.main3a, &[class], start + DAY))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{class}: {:?}", r.body);
        let mut for_li = lesson(&c.main3a, &[class], start + DAY);
        for_li["lead_teacher_id"] = json!(li.user_id());
        let r = admin.post("/v1/lessons", for_li).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{class}: {:?}", r.body);
    }

    // A parent, a student, an assistant and a teacher of another school cannot book the main
    // school's class at all.
    for login in ["o_p_main3a", "o_s_main3a", "o_a_main3", "o_t_other"] {
        let who = Api::login(&c.base, login).await;
        let r = who
            .post("/v1/lessons", lesson(&c.main3b, &[], start + 3 * DAY))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{login}: {:?}", r.body);
    }
}

/// The answer to a request about an id the caller has no business with, as compared between
/// a real id and a made-up one: status, code, field and message with the id taken out.
fn shape(r: &lianxiao_tests::api::Reply, id: &str) -> (StatusCode, Value, Value, String) {
    (
        r.status,
        r.body["code"].clone(),
        r.body["field"].clone(),
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .replace(id, "<id>"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_id_of_another_school_answers_like_a_made_up_one() {
    let server = TestServer::start(&Backend::from_env());
    let c = county(&server).await;
    let start = now_ms() + 2 * DAY;
    let made_up_school = "s-00000000000000000000000000000000";

    for login in [
        "o_sa_main",
        "o_t_main4",
        "o_a_branch4",
        "o_p_main4",
        "o_s_main4",
        "o_t_point3",
    ] {
        let who = Api::login(&c.base, login).await;

        let real = who
            .get(&format!("/v1/schools/{}/push-policy", c.other_school))
            .await;
        let fake = who
            .get(&format!("/v1/schools/{made_up_school}/push-policy"))
            .await;
        assert_eq!(
            real.status,
            StatusCode::FORBIDDEN,
            "{login}: {:?}",
            real.body
        );
        assert_eq!(
            shape(&real, &c.other_school),
            shape(&fake, made_up_school),
            "{login}"
        );
        let policy = json!({"quiet_hours": {"start_minute": 1290, "end_minute": 420},
                            "utc_offset_minutes": 480});
        let real = who
            .call(
                Method::PUT,
                &format!("/v1/schools/{}/push-policy", c.other_school),
                Some(policy.clone()),
                None,
            )
            .await;
        let fake = who
            .call(
                Method::PUT,
                &format!("/v1/schools/{made_up_school}/push-policy"),
                Some(policy),
                None,
            )
            .await;
        assert_eq!(
            real.status,
            StatusCode::FORBIDDEN,
            "{login}: {:?}",
            real.body
        );
        assert_eq!(
            shape(&real, &c.other_school),
            shape(&fake, made_up_school),
            "{login}"
        );

        let real = who
            .get(&format!("/v1/classes/{}/notice-allowance", c.other))
            .await;
        let fake = who
            .get(&format!("/v1/classes/{MADE_UP}/notice-allowance"))
            .await;
        assert_eq!(
            real.status,
            StatusCode::FORBIDDEN,
            "{login}: {:?}",
            real.body
        );
        assert_eq!(shape(&real, &c.other), shape(&fake, MADE_UP), "{login}");

        let real = who.post("/v1/lessons", lesson(&c.other, &[], start)).await;
        let fake = who.post("/v1/lessons", lesson(MADE_UP, &[], start)).await;
        assert_eq!(
            real.status,
            StatusCode::FORBIDDEN,
            "{login}: {:?}",
            real.body
        );
        assert_eq!(shape(&real, &c.other), shape(&fake, MADE_UP), "{login}");
    }

    // A county admin has business with every school: an unknown one is simply not there.
    let county = Api::login(&c.base, "o_ca").await;
    let r = county
        .get(&format!("/v1/schools/{made_up_school}/push-policy"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let mut for_someone = lesson(MADE_UP, &[], start);
    for_someone["lead_teacher_id"] = json!(county.user_id());
    let r = county.post("/v1/lessons", for_someone).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["field"], "lead_class_id");
}
