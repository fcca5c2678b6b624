//! Chapters 1 and 2: the server and the roster; the phones sign in, and a shared family phone
//! holds a parent's and a child's account.

use anyhow::{Context, ensure};
use lianxiao_protocol::Role;
use lianxiao_tests::{DEMO_PASSWORD, demo_roster, logins};

use super::World;
use crate::phone::Phone;

/// Chapter 1: the embedded server is up; the county's roster goes in.
pub async fn server_and_roster(w: &mut World) -> anyhow::Result<()> {
    w.chapter("服务器与名册", "The server and the roster");
    w.say.note(
        &format!("服务器已启动 {}", w.server.url()),
        &format!(
            "server started: backend {}, data dir {}",
            w.server.backend(),
            w.server.data_dir().display()
        ),
    );
    let report = w.server.import_roster(demo_roster()).await?;
    w.say.note(
        "名册已导入（城关联校：一所主校、两所分校、一个教学点）",
        &format!(
            "roster imported: {} rows, {} schools, {} link group, {} classes, {} people, {} memberships",
            report.rows,
            report.schools_created,
            report.link_groups_created,
            report.classes_created,
            report.people_created,
            report.memberships_created
        ),
    );
    w.recap.push(format!(
        "名册 roster: {} 所学校 schools, {} 个班 classes, {} 人 people",
        report.schools_created, report.classes_created, report.people_created
    ));
    Ok(())
}

/// Chapter 2: everyone who uses the app signs in on their own phone.
pub async fn phones_sign_in(w: &mut World) -> anyhow::Result<()> {
    w.chapter("手机登录", "Phones sign in");
    let url = w.server.url();
    for login in [
        logins::COUNTY_ADMIN,
        logins::LEAD_TEACHER,
        logins::PARENT_ONE_CHILD,
        logins::PARENT_TWO_CHILDREN,
        logins::PARENT_MAIN_2,
        logins::PARENT_HEKOU,
    ] {
        let phone = Phone::sign_in(&url, &w.phone_dir(login), login, DEMO_PASSWORD).await?;
        describe(w, &phone).await?;
        w.add_phone(phone);
    }
    w.say.phone(
        &format!("高大山 {}", logins::PARENT_NEVER_OPENS),
        "从不打开应用",
        "never opens the app",
    );
    family_phone(w).await?;
    w.recap.push(format!(
        "{} 部手机登录 phones signed in (+1 家庭共用 shared family account); 高大山 从未打开 never opened the app",
        w.phones().len()
    ));
    Ok(())
}

/// One line for who signed in, with their role and, for a parent, the children.
async fn describe(w: &World, phone: &Phone) -> anyhow::Result<()> {
    let profile = phone
        .client
        .profile()
        .await?
        .context("signed in without a profile")?;
    let classes = phone.classes().await?;
    let (zh, en) = if profile.has_role(Role::CountyAdmin) {
        let groups = phone.client.link_groups().await?;
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        (
            format!("县教育局管理员，管理 {}", names.join("、")),
            "county admin".to_owned(),
        )
    } else if profile.has_role(Role::Teacher) {
        let names: Vec<String> = classes
            .iter()
            .map(|c| format!("{} {}", c.school.name, c.name))
            .collect();
        (
            format!("主讲教师，任教 {}", names.join("、")),
            format!("lead teacher of {} classes", classes.len()),
        )
    } else {
        let children = phone.client.children().await?;
        let mut names = Vec::new();
        for child in &children {
            names.push(format!(
                "{}（{}）",
                child.name,
                phone.class_label(&child.class_id).await
            ));
        }
        (
            format!("家长，孩子 {}", names.join("、")),
            format!("parent of {} child(ren)", children.len()),
        )
    };
    w.say.phone(
        &phone.who,
        &format!("已登录，{zh}"),
        &format!("signed in, {en}"),
    );
    Ok(())
}

/// 赵红梅's phone is also her daughter's: two accounts, switched without signing out.
async fn family_phone(w: &mut World) -> anyhow::Result<()> {
    let mother = w.phone(logins::PARENT_TWO_CHILDREN)?;
    let child = mother
        .accounts
        .sign_in(logins::STUDENT_MAIN_1B.to_owned(), DEMO_PASSWORD.to_owned())
        .await
        .context("the child's sign-in on the family phone failed")?;
    child.sync_now().await?;
    let child_name = child.profile().await?.map(|u| u.name).unwrap_or_default();
    let accounts = mother.accounts.list().await?;
    let listed: Vec<String> = accounts
        .iter()
        .map(|a| {
            let mark = if a.active { "（当前 active）" } else { "" };
            format!("{} {}{mark}", a.display_name, a.login)
        })
        .collect();
    w.say.phone(
        &mother.who,
        &format!("家庭共用手机，孩子 {child_name} 也登录了"),
        "shared family phone: the child signs in too",
    );
    w.say
        .detail(&format!("账号 accounts: {}", listed.join(" | ")));
    ensure!(
        accounts.len() == 2,
        "the family phone lists {} accounts",
        accounts.len()
    );

    let back = mother
        .accounts
        .switch_to(mother.client.user_id())
        .await
        .context("switching back to the mother's account failed")?;
    ensure!(
        back.user_id() == mother.client.user_id(),
        "switch_to returned another account"
    );
    let active = mother
        .accounts
        .active()
        .await?
        .context("no active account after switching")?;
    ensure!(active.user_id() == mother.client.user_id());
    w.say.phone(
        &mother.who,
        "切换回妈妈的账号，无需退出登录",
        "switched back to the mother's account, nobody signed out",
    );
    Ok(())
}
