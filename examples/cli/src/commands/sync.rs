//! `lianxiao sync`: send what is queued, fetch what changed, and say what is there.

use lianxiao_core::{DeliveryState, NoticeFilter, WorkState, protocol::Millis};
use serde::Serialize;

use crate::{
    context::Context,
    exit::CliResult,
    output::{local_rfc3339, print, print_json},
};

#[derive(Serialize)]
struct ChildJson {
    id: String,
    name: String,
    class_id: String,
    class_name: Option<String>,
    school_name: Option<String>,
}

#[derive(Serialize)]
struct ClassJson {
    id: String,
    name: String,
    grade: String,
    school_id: String,
    school_name: String,
}

#[derive(Serialize)]
struct SyncSummary {
    account: String,
    server_time: Millis,
    server_time_local: Option<String>,
    notices: usize,
    unread: usize,
    /// Notices asking this account for an acknowledgment it has not given.
    to_acknowledge: usize,
    /// Notices this account wrote.
    authored: usize,
    /// Homework this account sees.
    homework: usize,
    /// Work still to hand in (not started, draft, returned, refused): students and parents.
    homework_to_do: usize,
    /// Parents: children's work waiting for their sign-off.
    to_sign_off: usize,
    /// Actions saved on this device and not yet delivered.
    queued_actions: usize,
    classes: Vec<ClassJson>,
    children: Vec<ChildJson>,
}

pub async fn run(ctx: &Context, json: bool) -> CliResult {
    // Queued hand-ins wait for their files: give them the whole wait.
    let client = ctx.client_unsent().await?;
    ctx.send_all_queued(&client).await;
    ctx.out.spin("同步中 / syncing…", client.sync_now()).await?;
    let notices = client.notices().list(NoticeFilter::default()).await?;
    let homework = client.homework().list().await?;
    let work = || homework.iter().flat_map(|v| v.work.iter());
    let classes = client.classes().await?;
    let children = client.children().await?;
    let account = ctx.selected().await?.login;
    let server_time = client.server_now();
    let summary = SyncSummary {
        account,
        server_time,
        server_time_local: local_rfc3339(server_time),
        notices: notices.len(),
        unread: notices.iter().filter(|v| v.unread).count(),
        to_acknowledge: notices
            .iter()
            .filter(|v| {
                v.notice.receipt.is_some()
                    && v.notice.requires_ack
                    && matches!(v.acknowledged, DeliveryState::None | DeliveryState::Failed)
            })
            .count(),
        authored: notices.iter().filter(|v| v.notice.authored).count(),
        homework: homework.len(),
        homework_to_do: work()
            .filter(|w| {
                matches!(
                    w.state,
                    WorkState::NotStarted
                        | WorkState::Draft
                        | WorkState::Returned { .. }
                        | WorkState::Failed { .. }
                )
            })
            .count(),
        to_sign_off: if children.is_empty() {
            0
        } else {
            work().filter(|w| w.needs_sign_off).count()
        },
        queued_actions: client.outbox_pending().await?,
        children: children
            .into_iter()
            .map(|c| {
                let class = classes.iter().find(|k| k.id == c.class_id);
                ChildJson {
                    class_name: class.map(|k| k.name.clone()),
                    school_name: class.map(|k| k.school.name.clone()),
                    id: c.id,
                    name: c.name,
                    class_id: c.class_id,
                }
            })
            .collect(),
        classes: classes
            .into_iter()
            .map(|c| ClassJson {
                id: c.id,
                name: c.name,
                grade: c.grade,
                school_id: c.school.id,
                school_name: c.school.name,
            })
            .collect(),
    };
    if json {
        print_json(&summary);
        return Ok(());
    }
    let s = &summary;
    let mut line = format!(
        "已同步 / synced: {} 条通知 notices, {} 未读 unread",
        s.notices, s.unread
    );
    if s.to_acknowledge > 0 {
        line.push_str(&format!(", {} 待回执 to acknowledge", s.to_acknowledge));
    }
    if s.authored > 0 {
        line.push_str(&format!(", {} 我发的 posted by you", s.authored));
    }
    if s.homework > 0 {
        line.push_str(&format!("; {} 份作业 homework", s.homework));
        if s.homework_to_do > 0 {
            line.push_str(&format!(", {} 待完成 to do", s.homework_to_do));
        }
        if s.to_sign_off > 0 {
            line.push_str(&format!(", {} 待签字 to sign off", s.to_sign_off));
        }
    }
    print(ctx.out.paint(&line, "1"));
    if s.queued_actions > 0 {
        print(format!(
            "{} 项操作待发送 / action(s) still queued",
            s.queued_actions
        ));
    }
    for c in &s.children {
        let place = match (&c.school_name, &c.class_name) {
            (Some(school), Some(class)) => format!("{school} · {class}"),
            _ => c.class_id.clone(),
        };
        print(format!("孩子 child: {} — {place}", c.name));
    }
    Ok(())
}
