//! `lianxiao notices ...`: the list and detail from the account's store, read and 回执 through
//! the outbox, and for authors posting, receipts and reminders.

use std::collections::HashSet;

use comfy_table::Color;
use lianxiao_core::{
    Client, DeliveryState, LOCAL_ID_PREFIX, NoticeFilter, NoticeView, OutboxKind,
    protocol::{ClassInfo, NoticeAudience, PendingPerson, PostNotice, ReceiptSummary, Role},
};
use serde::Serialize;

use crate::{
    cli::{NoticesCommand, PostArgs},
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::{Out, local_rfc3339, local_time, parse_time, print, print_json, print_table},
};

pub async fn run(ctx: &Context, command: NoticesCommand) -> CliResult {
    let client = ctx.client().await?;
    match command {
        NoticesCommand::List {
            child,
            unread_first,
            json,
        } => list(ctx, &client, child, unread_first, json.json).await,
        NoticesCommand::Show { id, json } => show(ctx, &client, &id, json.json).await,
        NoticesCommand::Read { id } => receipt(ctx, &client, &id, OutboxKind::Read).await,
        NoticesCommand::Ack { id } => receipt(ctx, &client, &id, OutboxKind::Ack).await,
        NoticesCommand::Post(args) => post(ctx, &client, args).await,
        NoticesCommand::Receipts { id, json } => receipts(ctx, &client, &id, json.json).await,
        NoticesCommand::Remind { id } => remind(ctx, &client, &id).await,
    }
}

fn state_name(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::None => "none",
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
    }
}

/// A notice as `--json` prints it: the server's fields plus this device's state.
#[derive(Serialize)]
pub struct NoticeJson<'a> {
    #[serde(flatten)]
    notice: &'a lianxiao_core::protocol::Notice,
    posted_at_local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_deadline_local: Option<String>,
    unread: bool,
    /// none | pending (done here, not yet sent) | delivered | failed
    read_state: &'static str,
    read_at: Option<i64>,
    ack_state: &'static str,
    acked_at: Option<i64>,
    /// For a notice written on this device.
    post_state: &'static str,
    reminded: bool,
    summary: Option<&'a ReceiptSummary>,
}

impl<'a> From<&'a NoticeView> for NoticeJson<'a> {
    fn from(v: &'a NoticeView) -> Self {
        NoticeJson {
            notice: &v.notice,
            posted_at_local: local_rfc3339(v.notice.posted_at),
            ack_deadline_local: v.notice.ack_deadline.and_then(local_rfc3339),
            unread: v.unread,
            read_state: state_name(v.read),
            read_at: v.read_at,
            ack_state: state_name(v.acknowledged),
            acked_at: v.acked_at,
            post_state: state_name(v.post),
            reminded: v.reminded,
            summary: v.summary.as_ref(),
        }
    }
}

/// What a person sees in the status column, and its colour.
fn status(v: &NoticeView) -> (String, Option<Color>) {
    if v.notice.authored {
        return match v.post {
            DeliveryState::Pending => ("待发送 queued".into(), Some(Color::Yellow)),
            DeliveryState::Failed => ("发送失败 rejected".into(), Some(Color::Red)),
            _ => match &v.summary {
                Some(s) if s.requires_ack => (
                    format!(
                        "已读 {}/{} · 回执 {}/{}",
                        s.read, s.recipients, s.acknowledged, s.recipients
                    ),
                    None,
                ),
                Some(s) => (format!("已读 {}/{}", s.read, s.recipients), None),
                None => ("已发送 posted".into(), None),
            },
        };
    }
    let mut parts: Vec<&str> = Vec::new();
    let mut color = None;
    if v.notice.requires_ack {
        match v.acknowledged {
            DeliveryState::Delivered => {
                parts.push("已回执 acked");
                color = Some(Color::Green);
            }
            DeliveryState::Pending => {
                parts.push("回执待发送 ack queued");
                color = Some(Color::Yellow);
            }
            DeliveryState::None | DeliveryState::Failed => {
                parts.push("待回执 to ack");
                color = Some(Color::Red);
            }
        }
    }
    if v.unread {
        parts.insert(0, "未读 unread");
        color = color.or(Some(Color::Yellow));
    } else if v.read == DeliveryState::Pending && v.acknowledged != DeliveryState::Pending {
        parts.push("已读待发送 read queued");
    } else if !v.notice.requires_ack {
        parts.push("已读 read");
    }
    if v.reminded && v.unread_or_unacked() {
        parts.push("被提醒 reminded");
    }
    (parts.join(" · "), color)
}

trait Unacted {
    fn unread_or_unacked(&self) -> bool;
}

impl Unacted for NoticeView {
    fn unread_or_unacked(&self) -> bool {
        self.unread
            || (self.notice.requires_ack
                && matches!(
                    self.acknowledged,
                    DeliveryState::None | DeliveryState::Failed
                ))
    }
}

/// `--child`: the child's id, by id, name, or the login of the child's own account when it is
/// signed in on this device (the synced `Child` has no login).
pub async fn resolve_child(ctx: &Context, client: &Client, wanted: &str) -> CliResult<String> {
    let children = client.children().await?;
    if children.is_empty() {
        return Err(Failure::validation(
            "--child: this account has no children (a parent's account, after `lianxiao sync`)",
        ));
    }
    if let Some(c) = children.iter().find(|c| c.id == wanted) {
        return Ok(c.id.clone());
    }
    let by_name: Vec<_> = children.iter().filter(|c| c.name == wanted).collect();
    match by_name.len() {
        1 => return Ok(by_name[0].id.clone()),
        0 => {}
        _ => {
            return Err(Failure::validation(
                "--child: two children have that name; give the child's id (`lianxiao sync --json`)",
            ));
        }
    }
    if let Ok(account) = ctx.find_account(wanted).await
        && let Some(c) = children.iter().find(|c| c.id == account.user_id)
    {
        return Ok(c.id.clone());
    }
    Err(Failure::new(
        Exit::NotFound,
        "--child: no child of this account has that id or name, and no child's account with \
         that login is signed in on this device",
    ))
}

/// A notice id as typed: the full id, or a unique prefix of one on this device.
async fn resolve_id(client: &Client, typed: &str) -> CliResult<String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty notice id"));
    }
    if client.notices().get(typed.to_owned()).await.is_ok() {
        return Ok(typed.to_owned());
    }
    let all = client.notices().list(NoticeFilter::default()).await?;
    let matches: Vec<&NoticeView> = all
        .iter()
        .filter(|v| v.notice.id.starts_with(typed))
        .collect();
    match matches.len() {
        1 => Ok(matches[0].notice.id.clone()),
        0 => Ok(typed.to_owned()),
        n => Err(Failure::validation(format!(
            "{n} notices start with that id: type more of it"
        ))),
    }
}

fn not_found() -> Failure {
    Failure::new(
        Exit::NotFound,
        "没有这条通知 / no such notice on this device (run `lianxiao sync`)",
    )
}

async fn view(client: &Client, id: &str) -> CliResult<NoticeView> {
    let id = resolve_id(client, id).await?;
    client.notices().get(id).await.map_err(|e| match e {
        lianxiao_core::Error::NotFound(_) => not_found(),
        e => e.into(),
    })
}

async fn list(
    ctx: &Context,
    client: &Client,
    child: Option<String>,
    unread_first: bool,
    json: bool,
) -> CliResult {
    let child_id = match child {
        Some(c) => Some(resolve_child(ctx, client, &c).await?),
        None => None,
    };
    let notices = client
        .notices()
        .list(NoticeFilter {
            child_id,
            unread_first,
        })
        .await?;
    if json {
        print_json(&notices.iter().map(NoticeJson::from).collect::<Vec<_>>());
        return Ok(());
    }
    if notices.is_empty() {
        print("没有通知 / no notices (run `lianxiao sync` to fetch new ones)");
        return Ok(());
    }
    let out = &ctx.out;
    let with_children = notices.iter().any(|v| {
        v.notice
            .receipt
            .as_ref()
            .is_some_and(|r| !r.children.is_empty())
    });
    let mut header = vec!["ID", "状态 status", "标题 title", "发布人 from"];
    if with_children {
        header.push("孩子 child");
    }
    header.extend(["发送对象 to", "时间 posted"]);
    let mut table = out.table();
    table.set_header(out.header(&header));
    for v in &notices {
        let (text, color) = status(v);
        let mut row = vec![
            out.cell(&v.notice.id, Some(Color::DarkGrey), false),
            out.cell(text, color, false),
            out.cell(&v.notice.title, None, v.unread),
            out.cell(&v.notice.author.name, None, false),
        ];
        if with_children {
            let names = v
                .notice
                .receipt
                .as_ref()
                .map(|r| names(r.children.iter().map(|c| c.name.as_str())))
                .unwrap_or_default();
            row.push(out.cell(names, None, false));
        }
        row.push(out.cell(&v.notice.audience_label, None, false));
        row.push(out.cell(local_time(v.notice.posted_at), None, false));
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join("、")
}

async fn show(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let v = view(client, id).await?;
    if json {
        print_json(&NoticeJson::from(&v));
        return Ok(());
    }
    print(render(&ctx.out, &v));
    Ok(())
}

fn render(out: &Out, v: &NoticeView) -> String {
    let n = &v.notice;
    let mut fields = vec![
        ("ID", n.id.clone()),
        ("发布人 from", n.author.name.clone()),
        ("发送对象 to", n.audience_label.clone()),
        ("时间 posted", local_time(n.posted_at)),
    ];
    if n.urgent {
        fields.push(("紧急 urgent", "紧急通知 / urgent".into()));
    }
    if n.include_students {
        fields.push((
            "学生 students",
            "也发给学生 / sent to the students too".into(),
        ));
    }
    if n.requires_ack {
        let deadline = n
            .ack_deadline
            .map(|d| format!("，截止 / by {}", local_time(d)))
            .unwrap_or_default();
        fields.push(("回执 ack", format!("需要回执 / requested{deadline}")));
    }
    if let Some(r) = n.receipt.as_ref().filter(|r| !r.children.is_empty()) {
        fields.push((
            "孩子 child",
            names(r.children.iter().map(|c| c.name.as_str())),
        ));
    }
    let (mut state, _) = status(v);
    if let Some(at) = v.acked_at {
        state.push_str(&format!(" ({})", local_time(at)));
    } else if let Some(at) = v.read_at.filter(|_| !n.authored) {
        state.push_str(&format!(" (read {})", local_time(at)));
    }
    fields.push(("状态 status", state));
    let fields = out.fields(fields).to_string();
    let fields: Vec<&str> = fields.lines().map(str::trim_end).collect();
    format!(
        "{}\n{}\n\n{}",
        out.paint(&n.title, "1"),
        fields.join("\n"),
        n.body
    )
}

async fn receipt(ctx: &Context, client: &Client, id: &str, kind: OutboxKind) -> CliResult {
    let before = view(client, id).await?;
    let id = before.notice.id.clone();
    let notices = client.notices();
    let after = match kind {
        OutboxKind::Ack => notices.acknowledge(id.clone()).await?,
        _ => notices.mark_read(id.clone()).await?,
    };
    let state = |v: &NoticeView| match kind {
        OutboxKind::Ack => v.acknowledged,
        _ => v.read,
    };
    let (done, already) = match kind {
        OutboxKind::Ack => ("已回执 / acknowledged", "已回执过 / already acknowledged"),
        _ => ("已读 / marked read", "已读过 / already read"),
    };
    if state(&before) == DeliveryState::Delivered {
        print(already);
        return Ok(());
    }
    if state(&after) == DeliveryState::None && !after.unread {
        // Nothing to send: the author's own notice, or read on the server already.
        print(already);
        return Ok(());
    }
    match ctx.deliver(client, kind, &id).await {
        Delivery::Delivered => {
            print(done);
            Ok(())
        }
        Delivery::Queued => Err(ctx.queued_failure(client)),
        Delivery::Rejected(f) => Err(f),
    }
}

pub fn class_label(c: &ClassInfo) -> String {
    format!("{} · {}", c.school.name, c.name)
}

pub fn match_class<'a>(classes: &'a [ClassInfo], wanted: &str) -> CliResult<Option<&'a ClassInfo>> {
    let wanted = wanted.trim();
    if let Some(c) = classes.iter().find(|c| c.id == wanted) {
        return Ok(Some(c));
    }
    let full: Vec<_> = classes
        .iter()
        .filter(|c| {
            class_label(c) == wanted
                || format!("{}/{}", c.school.name, c.name) == wanted
                || format!("{}{}", c.school.name, c.name) == wanted
        })
        .collect();
    if let [c] = full.as_slice() {
        return Ok(Some(c));
    }
    let by_name: Vec<_> = classes.iter().filter(|c| c.name == wanted).collect();
    match by_name.as_slice() {
        [] => Ok(None),
        [c] => Ok(Some(c)),
        several => {
            let mut schools: Vec<&str> = several.iter().map(|c| c.school.name.as_str()).collect();
            schools.dedup();
            Err(Failure::validation(format!(
                "班级名不唯一 / the class name {wanted} is in several schools: {}; give \
                 \"学校 · 班级\" (e.g. \"{}\") or the class id",
                schools.join(", "),
                class_label(several[0])
            )))
        }
    }
}

fn looks_like_id(s: &str) -> bool {
    let s = s.trim();
    s.len() >= 8
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub async fn resolve_classes(client: &Client, wanted: &[String]) -> CliResult<Vec<String>> {
    let mut classes = client.classes().await?;
    let all_known = wanted
        .iter()
        .map(|w| match_class(&classes, w).map(|c| c.is_some()))
        .collect::<CliResult<Vec<_>>>()?
        .into_iter()
        .all(|known| known);
    if !all_known && client.sync_now().await.is_ok() {
        classes = client.classes().await?;
    }
    let mut ids = Vec::new();
    for w in wanted {
        let id = match match_class(&classes, w)? {
            Some(c) => c.id.clone(),
            // Looks like an id we have not synced: the server decides.
            None if looks_like_id(w) => w.trim().to_owned(),
            None => {
                let known: Vec<String> = classes.iter().map(class_label).collect();
                return Err(Failure::new(
                    Exit::NotFound,
                    if known.is_empty() {
                        "没有这个班级 / no such class: this account has no classes".to_owned()
                    } else {
                        format!(
                            "没有这个班级 / none of your classes is called that; yours: {}",
                            known.join(", ")
                        )
                    },
                ));
            }
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn post(ctx: &Context, client: &Client, args: PostArgs) -> CliResult {
    let ack_deadline = match &args.ack_deadline {
        Some(text) => Some(parse_time(text).ok_or_else(|| {
            Failure::validation(
                "--ack-deadline: give RFC 3339 (2025-09-01T18:00:00+08:00) or \"YYYY-MM-DD HH:MM\"",
            )
        })?),
        None => None,
    };
    let class_ids = resolve_classes(client, &args.classes).await?;
    if !args.urgent && !args.json {
        // The school's daily cap, before posting; the core refuses a notice past it.
        if let Ok(allowances) = client.notices().allowance(class_ids.clone()).await {
            for a in allowances {
                if let (Some(cap), Some(left)) = (a.daily_cap, a.remaining) {
                    print(format!(
                        "今日还可发 / left today for {}: {left} of {cap}",
                        a.class_id
                    ));
                }
            }
        }
    }
    let before: HashSet<String> = client
        .notices()
        .list(NoticeFilter::default())
        .await?
        .into_iter()
        .filter(|v| v.notice.authored)
        .map(|v| v.notice.id)
        .collect();
    let local = client
        .notices()
        .post(PostNotice {
            title: args.title.clone(),
            body: args.body.clone(),
            audience: NoticeAudience::Classes { class_ids },
            include_students: args.to_students,
            requires_ack: args.require_ack,
            ack_deadline,
            urgent: args.urgent,
        })
        .await?;
    let local_id = local.notice.id.clone();
    match ctx.deliver(client, OutboxKind::PostNotice, &local_id).await {
        Delivery::Rejected(f) => Err(f),
        Delivery::Queued => {
            if args.json {
                print_json(&NoticeJson::from(&local));
            } else {
                print(format!("本地编号 / local id: {local_id}"));
            }
            Err(ctx.queued_failure(client))
        }
        Delivery::Delivered => {
            // The server's copy replaced the local one under the server's id; the core does
            // not say which, so find the new authored notice with this title.
            let posted = client
                .notices()
                .list(NoticeFilter::default())
                .await?
                .into_iter()
                .find(|v| {
                    v.notice.authored
                        && !before.contains(&v.notice.id)
                        && !v.notice.id.starts_with(LOCAL_ID_PREFIX)
                        && v.notice.title == args.title
                        && v.notice.body == args.body
                });
            match (posted, args.json) {
                (Some(v), true) => print_json(&NoticeJson::from(&v)),
                (Some(v), false) => print(format!("已发送 / posted: {}", v.notice.id)),
                (None, true) => print_json(&serde_json::json!({ "posted": true })),
                (None, false) => print("已发送 / posted"),
            }
            Ok(())
        }
    }
}

fn person(p: &PendingPerson) -> String {
    if p.role == Role::Parent && !p.children.is_empty() {
        format!(
            "{}（{}家长）",
            p.name,
            names(p.children.iter().map(|c| c.name.as_str()))
        )
    } else {
        p.name.clone()
    }
}

async fn server_id(client: &Client, typed: &str) -> CliResult<String> {
    let id = resolve_id(client, typed).await?;
    if id.starts_with(LOCAL_ID_PREFIX) {
        return Err(Failure::new(
            Exit::Queued,
            "这条通知还没发出 / this notice has not reached the server yet (queued)",
        ));
    }
    Ok(id)
}

async fn receipts(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let id = server_id(client, id).await?;
    let report = ctx
        .out
        .spin("查询中 / asking the server…", client.notices().receipts(id))
        .await?;
    if json {
        print_json(&report);
        return Ok(());
    }
    let out = &ctx.out;
    let s = &report.summary;
    let mut line = format!("已读 read {}/{}", s.read, s.recipients);
    if s.requires_ack {
        line.push_str(&format!(
            " · 已回执 acknowledged {}/{}",
            s.acknowledged, s.recipients
        ));
    }
    if let Some(at) = s.last_reminded_at {
        line.push_str(&format!(" · 上次提醒 reminded {}", local_time(at)));
    }
    print(out.paint(&line, "1"));
    let mut table = out.table();
    let mut header = vec!["班级 class", "已读 read", "未读 not read"];
    if s.requires_ack {
        header.extend(["已回执 acked", "未回执 not acknowledged"]);
    }
    table.set_header(out.header(&header));
    for c in &s.classes {
        let pending = report.classes.iter().find(|p| p.class_id == c.class_id);
        let list = |f: fn(&lianxiao_core::protocol::ClassPending) -> &Vec<PendingPerson>| {
            pending
                .map(|p| f(p).iter().map(person).collect::<Vec<_>>().join("、"))
                .unwrap_or_default()
        };
        let mut row = vec![
            out.cell(format!("{} · {}", c.school_name, c.class_name), None, false),
            out.cell(format!("{}/{}", c.read, c.recipients), None, false),
            out.cell(list(|p| &p.not_read), Some(Color::Yellow), false),
        ];
        if s.requires_ack {
            row.push(out.cell(format!("{}/{}", c.acknowledged, c.recipients), None, false));
            row.push(out.cell(list(|p| &p.not_acknowledged), Some(Color::Red), false));
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

async fn remind(ctx: &Context, client: &Client, id: &str) -> CliResult {
    let id = server_id(client, id).await?;
    let result = ctx
        .out
        .spin("提醒中 / reminding…", client.notices().remind(id))
        .await?;
    print(format!(
        "已提醒 {} 人 / reminded {}; 下次可提醒 / next reminder allowed after {}",
        result.reminded,
        result.reminded,
        local_time(result.next_allowed_at)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lianxiao_core::protocol::{School, SchoolKind};

    fn class(id: &str, school: &str, name: &str) -> ClassInfo {
        ClassInfo {
            id: id.into(),
            name: name.into(),
            grade: "3".into(),
            school: School {
                id: format!("s-{school}"),
                name: school.into(),
                kind: SchoolKind::Main,
            },
        }
    }

    #[test]
    fn classes_by_id_name_or_school_and_name() {
        let classes = [
            class("c1", "城关中心小学", "三年级(1)班"),
            class("c2", "城关中心小学", "三年级(2)班"),
            class("c3", "石桥小学", "三年级(1)班"),
        ];
        let id = |w: &str| match_class(&classes, w).map(|c| c.map(|c| c.id.clone()));
        assert_eq!(id("c3").unwrap().as_deref(), Some("c3"));
        assert_eq!(id("三年级(2)班").unwrap().as_deref(), Some("c2"));
        assert_eq!(id("石桥小学 · 三年级(1)班").unwrap().as_deref(), Some("c3"));
        assert_eq!(id("石桥小学/三年级(1)班").unwrap().as_deref(), Some("c3"));
        assert_eq!(id("四年级(1)班").unwrap(), None);
        let e = id("三年级(1)班").unwrap_err();
        assert_eq!(e.exit, Exit::Validation);
        assert!(
            e.message.contains("城关中心小学, 石桥小学"),
            "{}",
            e.message
        );
    }
}
