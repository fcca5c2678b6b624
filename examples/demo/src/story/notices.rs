//! Chapters 3 to 7: a class notice that asks for a 回执 acknowledgment, from the teacher's
//! phone to the parents' and back, through a server outage; then a notice to the whole link
//! group that a parent with two children gets once.

use anyhow::{Context, bail, ensure};
use lianxiao_core::{DeliveryState, ErrorCode, NoticeFilter};
use lianxiao_protocol::{NoticeAudience, PostNotice};
use lianxiao_tests::logins::{
    COUNTY_ADMIN, LEAD_TEACHER, PARENT_HEKOU, PARENT_MAIN_2, PARENT_ONE_CHILD, PARENT_TWO_CHILDREN,
};

use super::{World, beijing_time};
use crate::phone::{Phone, children_named, find};

/// The class notice the chapters follow.
pub struct ClassNotice {
    pub id: String,
    pub title: String,
}

fn state_zh(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::None => "未操作",
        DeliveryState::Pending => "等待发送",
        DeliveryState::Delivered => "已送达",
        DeliveryState::Failed => "被拒绝",
    }
}

fn state_en(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::None => "not done",
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
    }
}

/// Posts through the core, shows it pending then delivered; returns the server's id.
async fn post_and_deliver(w: &World, author: &Phone, post: PostNotice) -> anyhow::Result<String> {
    let title = post.title.clone();
    let local = author.client.notices().post(post).await?;
    w.say.phone(
        &author.who,
        &format!("发布「{title}」：{}", state_zh(local.post)),
        &format!(
            "posted, {} (shown at once, in the outbox)",
            state_en(local.post)
        ),
    );
    ensure!(
        local.post == DeliveryState::Pending,
        "a new post should be pending, was {:?}",
        local.post
    );
    let list = author
        .wait_notices(&format!("「{title}」 delivered"), |l| {
            l.iter()
                .any(|n| n.notice.title == title && n.post == DeliveryState::Delivered)
        })
        .await?;
    let delivered = list
        .iter()
        .find(|n| n.notice.title == title)
        .context("the posted notice left the list")?;
    w.say.phone(
        &author.who,
        &format!(
            "「{title}」{}，发给 {}",
            state_zh(delivered.post),
            delivered.notice.audience_label
        ),
        &format!(
            "{}, server time {}",
            state_en(delivered.post),
            beijing_time(delivered.notice.posted_at)
        ),
    );
    Ok(delivered.notice.id.clone())
}

/// Chapter 3: the lead teacher posts to the classes she teaches and asks for a 回执.
pub async fn teacher_posts(w: &mut World) -> anyhow::Result<ClassNotice> {
    w.chapter("班主任发通知", "The lead teacher posts a class notice");
    let teacher = w.phone(LEAD_TEACHER)?;
    let class_ids: Vec<String> = teacher.classes().await?.into_iter().map(|c| c.id).collect();
    ensure!(!class_ids.is_empty(), "the lead teacher teaches no class");
    let title = "周五家长会".to_owned();
    let post = PostNotice {
        title: title.clone(),
        body: "本周五下午三点在城关中心小学召开三年级家长会，请家长准时参加，并回执确认。".into(),
        audience: NoticeAudience::Classes { class_ids },
        include_students: false,
        requires_ack: true,
        ack_deadline: None,
        urgent: false,
    };
    let id = post_and_deliver(w, teacher, post).await?;
    w.recap.push(format!(
        "王丽的班级通知「{title}」 class notice: posted, received in real time, read, acknowledged (one offline)"
    ));
    Ok(ClassNotice { id, title })
}

/// Chapter 4: each parent's phone gets it through the realtime channel, unasked.
pub async fn parents_receive(w: &mut World, notice: &ClassNotice) -> anyhow::Result<()> {
    w.chapter(
        "家长手机实时收到",
        "Parents' phones receive it in real time",
    );
    for login in [PARENT_ONE_CHILD, PARENT_TWO_CHILDREN, PARENT_MAIN_2] {
        let phone = w.phone(login)?;
        let view = phone
            .wait_notice(&notice.id, "the class notice", |_| true)
            .await?;
        let unread = if view.unread { "未读" } else { "已读" };
        w.say.phone(
            &phone.who,
            &format!(
                "收到「{}」（{}），关于 {}，{unread}，需要回执",
                view.notice.title,
                view.notice.author.name,
                children_named(&view.notice)
            ),
            &format!(
                "received, concerns {} child(ren), unread: {}",
                view.notice.receipt.as_ref().map_or(0, |r| r.children.len()),
                view.unread
            ),
        );
        ensure!(view.unread, "{login}: a new notice should be unread");
    }
    // 杨秀英's child is in 河口小学: not one of the teacher's classes.
    let yang = w.phone(PARENT_HEKOU)?;
    yang.client.sync_now().await?;
    let list = yang.client.notices().list(NoticeFilter::default()).await?;
    ensure!(
        find(&list, &notice.id).is_none(),
        "{PARENT_HEKOU} got a notice for classes her child is not in"
    );
    w.say.phone(
        &yang.who,
        "孩子不在这两个班，没有收到",
        "her child is in another school's class: nothing arrives",
    );
    Ok(())
}

/// Chapter 5: read, acknowledge, and acknowledge while the server is down.
pub async fn read_and_acknowledge(w: &mut World, notice: &ClassNotice) -> anyhow::Result<()> {
    w.chapter("阅读与回执（含离线）", "Read and acknowledge, also offline");
    let id = &notice.id;

    let li = w.phone(PARENT_ONE_CHILD)?;
    li.client.notices().mark_read(id.clone()).await?;
    let view = li
        .wait_notice(id, "the read delivered", |n| {
            n.read == DeliveryState::Delivered
        })
        .await?;
    w.say.phone(
        &li.who,
        "已阅读（未回执）",
        &format!("read, {}", state_en(view.read)),
    );

    let zhao = w.phone(PARENT_TWO_CHILDREN)?;
    zhao.client.notices().acknowledge(id.clone()).await?;
    let view = zhao
        .wait_notice(id, "the acknowledgment delivered", |n| {
            n.acknowledged == DeliveryState::Delivered
        })
        .await?;
    w.say.phone(
        &zhao.who,
        &format!("已回执，{}", state_zh(view.acknowledged)),
        &format!(
            "acknowledged, {} at server time {}",
            state_en(view.acknowledged),
            view.acked_at.map(beijing_time).unwrap_or_default()
        ),
    );

    // The server goes down: to 孙卫东's phone, the network is gone.
    w.server.stop().await;
    w.say.note(
        "服务器停止：孙卫东的手机连不上网络",
        "the server stops: 孙卫东's phone is offline",
    );
    let sun = w.phone(PARENT_MAIN_2)?;
    let view = sun.client.notices().acknowledge(id.clone()).await?;
    w.say.phone(
        &sun.who,
        &format!("已回执，{}", state_zh(view.acknowledged)),
        &format!(
            "acknowledged, waiting to send ({})",
            state_en(view.acknowledged)
        ),
    );
    ensure!(
        view.acknowledged == DeliveryState::Pending,
        "an offline acknowledgment should be pending, was {:?}",
        view.acknowledged
    );
    let still = sun.client.flush_outbox().await?;
    w.say.phone(
        &sun.who,
        &format!("尝试发送：无网络，{still} 项仍在发件箱"),
        &format!("tried to send: offline, {still} item(s) still in the outbox"),
    );
    ensure!(
        still == 1,
        "expected one queued acknowledgment, found {still}"
    );

    w.server.restart().await?;
    w.say.note(
        &format!("服务器重启（同一数据目录、同一端口 {}）", w.server.url()),
        "the server restarts on the same data dir and port",
    );
    let sun = w.phone(PARENT_MAIN_2)?;
    sun.client.network_changed(true);
    sun.outbox_drained().await?;
    let view = sun
        .wait_notice(id, "the offline acknowledgment delivered", |n| {
            n.acknowledged == DeliveryState::Delivered
        })
        .await?;
    ensure!(
        sun.client.outbox_failures().await?.is_empty(),
        "{PARENT_MAIN_2}: the acknowledgment was rejected"
    );
    w.say.phone(
        &sun.who,
        &format!("网络恢复，回执{}", state_zh(view.acknowledged)),
        &format!(
            "network back: acknowledgment delivered once, server time {}",
            view.acked_at.map(beijing_time).unwrap_or_default()
        ),
    );
    Ok(())
}

/// Chapter 6: the teacher sees who has not read or acknowledged, and reminds them.
pub async fn receipts_and_reminders(w: &mut World, notice: &ClassNotice) -> anyhow::Result<()> {
    w.chapter("回执统计与提醒", "Receipts and reminders");
    let id = &notice.id;
    let teacher = w.phone(LEAD_TEACHER)?;
    // Pull to refresh: the counts arrive through sync.
    teacher.client.sync_now().await?;
    let view = teacher
        .wait_notice(id, "read 3 / acknowledged 2 in the synced summary", |n| {
            n.summary
                .as_ref()
                .is_some_and(|s| s.read == 3 && s.acknowledged == 2)
        })
        .await?;
    let summary = view.summary.context("no summary")?;
    w.say.phone(
        &teacher.who,
        &format!(
            "「{}」{} 位家长：{} 已读，{} 已回执",
            notice.title, summary.recipients, summary.read, summary.acknowledged
        ),
        &format!(
            "synced summary: {} recipients, {} read, {} acknowledged",
            summary.recipients, summary.read, summary.acknowledged
        ),
    );
    for class in &summary.classes {
        w.say.detail(&format!(
            "{} {}: {}/{} 已读 read, {}/{} 已回执 acknowledged",
            class.school_name,
            class.class_name,
            class.read,
            class.recipients,
            class.acknowledged,
            class.recipients
        ));
    }
    ensure!(
        summary.acknowledged == 2,
        "the offline acknowledgment was counted twice"
    );

    let report = teacher.client.notices().receipts(id.clone()).await?;
    w.say.phone(
        &teacher.who,
        "谁还没读、没回执",
        "who has not read / acknowledged, per class",
    );
    for class in &report.classes {
        let names = |people: &[lianxiao_protocol::PendingPerson]| {
            if people.is_empty() {
                "无 none".to_owned()
            } else {
                people
                    .iter()
                    .map(|p| {
                        let kids: Vec<&str> = p.children.iter().map(|c| c.name.as_str()).collect();
                        format!("{}（{}家长）", p.name, kids.join("、"))
                    })
                    .collect::<Vec<_>>()
                    .join("、")
            }
        };
        w.say.detail(&format!(
            "{}: 未读 not read: {}; 未回执 not acknowledged: {}",
            class.class_name,
            names(&class.not_read),
            names(&class.not_acknowledged)
        ));
    }

    let reminded = teacher.client.notices().remind(id.clone()).await?;
    w.say.phone(
        &teacher.who,
        &format!("一键提醒：提醒了 {} 位家长", reminded.reminded),
        &format!("reminded {} parent(s)", reminded.reminded),
    );
    let li = w.phone(PARENT_ONE_CHILD)?;
    li.wait_notice(id, "the reminder", |n| n.reminded).await?;
    w.say.phone(
        &li.who,
        "收到提醒：请回执",
        "sees the reminder: please acknowledge",
    );

    match teacher.client.notices().remind(id.clone()).await {
        Ok(again) => bail!(
            "a second reminder within the hour was accepted ({} reminded)",
            again.reminded
        ),
        Err(e) => match e.code() {
            ErrorCode::RateLimited { retry_after_secs } => {
                let minutes = retry_after_secs.map_or(60, |s| s.div_ceil(60));
                w.say.phone(
                    &teacher.who,
                    &format!("再次提醒被拒绝：约 {minutes} 分钟后才能再提醒"),
                    "a second reminder within the hour is refused (rate limited)",
                );
            }
            other => bail!("a second reminder failed with {other:?}, not RateLimited: {e}"),
        },
    }
    w.recap.push(format!(
        "回执 receipts: {}/{} 已读 read, {}/{} 已回执 acknowledged; 提醒 reminded {}, 第二次被拒 second refused",
        summary.read, summary.recipients, summary.acknowledged, summary.recipients, reminded.reminded
    ));
    Ok(())
}

/// Chapter 7: the county admin posts to the whole link group; a parent with two children in
/// two of its schools gets one notice naming both.
pub async fn link_group_notice(w: &mut World) -> anyhow::Result<()> {
    w.chapter("联校通知", "A notice to the whole link group");
    let admin = w.phone(COUNTY_ADMIN)?;
    let group = admin
        .client
        .link_groups()
        .await?
        .into_iter()
        .next()
        .context("the county admin sees no link group")?;
    let post = PostNotice {
        title: format!("{}开放日", group.name),
        body: "下周三各校开放课堂，欢迎家长到孩子所在学校听课。".into(),
        audience: NoticeAudience::LinkGroup {
            link_group_id: group.id.clone(),
        },
        include_students: false,
        requires_ack: false,
        ack_deadline: None,
        urgent: false,
    };
    let id = post_and_deliver(w, admin, post).await?;

    let zhao = w.phone(PARENT_TWO_CHILDREN)?;
    let list = zhao
        .wait_notices("the link-group notice", |l| find(l, &id).is_some())
        .await?;
    let copies = list.iter().filter(|n| n.notice.id == id).count();
    let view = find(&list, &id).context("vanished")?;
    let children = view.notice.receipt.as_ref().map_or(0, |r| r.children.len());
    w.say.phone(
        &zhao.who,
        &format!(
            "收到 {copies} 条通知，关于 {}",
            children_named(&view.notice)
        ),
        &format!("ONE notice naming both children ({copies} notice, {children} children)"),
    );
    ensure!(
        copies == 1 && children == 2,
        "{PARENT_TWO_CHILDREN} should get one notice for two children"
    );
    for child in zhao.client.children().await? {
        let filter = NoticeFilter {
            child_id: Some(child.id.clone()),
            unread_first: true,
        };
        let titles: Vec<String> = zhao
            .client
            .notices()
            .list(filter)
            .await?
            .into_iter()
            .map(|n| format!("「{}」", n.notice.title))
            .collect();
        w.say.detail(&format!(
            "按孩子筛选 filtered by child {}（{}）: {}",
            child.name,
            zhao.class_label(&child.class_id).await,
            titles.join("")
        ));
    }

    // Every parent who uses the app reads it; 高大山 never opens the app.
    for login in [
        PARENT_ONE_CHILD,
        PARENT_TWO_CHILDREN,
        PARENT_MAIN_2,
        PARENT_HEKOU,
    ] {
        let phone = w.phone(login)?;
        phone
            .wait_notice(&id, "the link-group notice", |_| true)
            .await?;
        phone.client.notices().mark_read(id.clone()).await?;
        phone.outbox_drained().await?;
    }
    let report = admin.client.notices().receipts(id.clone()).await?;
    let not_read: Vec<String> = report
        .classes
        .iter()
        .flat_map(|c| c.not_read.iter().map(|p| p.name.clone()))
        .collect();
    w.say.phone(
        &admin.who,
        &format!(
            "{} 位家长，{} 已读；未读：{}",
            report.summary.recipients,
            report.summary.read,
            not_read.join("、")
        ),
        &format!(
            "{} recipients, {} read; not read: the parent who never opens the app",
            report.summary.recipients, report.summary.read
        ),
    );
    ensure!(
        not_read == ["高大山"],
        "only 高大山 should not have read the link-group notice, got {not_read:?}"
    );
    w.recap.push(format!(
        "联校通知 link-group notice: {} 位家长 recipients, 赵红梅 一条通知两个孩子 one notice for two children, 只有高大山未读 only 高大山 unread",
        report.summary.recipients
    ));
    Ok(())
}
