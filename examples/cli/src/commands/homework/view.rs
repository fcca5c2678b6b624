//! Reading homework: the list and one homework from the store (offline), and from the server
//! the teacher's report, the submissions, and attachments.

use std::path::PathBuf;

use comfy_table::Color;
use lianxiao_core::{
    Client, Error, HandinState, HomeworkView,
    protocol::{Attachment, ClassWork, HomeworkReport, HomeworkSummary, PersonRef, Submission},
};
use serde::Serialize;

use super::{HomeworkJson, Names, kind_name, state_text};
use crate::{
    commands::notices::{match_class, resolve_child},
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{Out, human_bytes, local_time, print, print_json, print_table},
};

pub async fn list(ctx: &Context, client: &Client, child: Option<String>, json: bool) -> CliResult {
    let mut views = client.homework().list().await?;
    if let Some(child) = child {
        let child_id = resolve_child(ctx, client, &child).await?;
        views.retain_mut(|v| {
            v.work.retain(|w| w.student_id == child_id);
            !v.work.is_empty()
        });
    }
    let names = Names::load(client).await?;
    if json {
        print_json(
            &views
                .iter()
                .map(|v| HomeworkJson::new(v, &names))
                .collect::<Vec<_>>(),
        );
        return Ok(());
    }
    if views.is_empty() {
        print("没有作业 / no homework (run `lianxiao sync` to fetch new ones)");
        return Ok(());
    }
    let out = &ctx.out;
    let several = views.iter().any(|v| v.work.len() > 1) || client.children().await?.len() > 1;
    let mut table = out.table();
    table.set_header(out.header(&[
        "ID",
        "状态 status",
        "标题 title",
        "截止 due",
        "老师 · 班级 from · to",
    ]));
    for v in &views {
        let (status, color) = list_status(v, &names, several);
        table.add_row(vec![
            out.cell(&v.homework.id, Some(Color::DarkGrey), false),
            out.cell(status, color, false),
            out.cell(&v.homework.title, None, false),
            out.cell(local_time(v.homework.due_at), None, false),
            out.cell(
                format!("{} · {}", v.homework.author.name, classes_label(v)),
                None,
                false,
            ),
        ]);
    }
    print_table(&table);
    Ok(())
}

fn classes_label(v: &HomeworkView) -> String {
    v.homework
        .classes
        .iter()
        .map(|c| format!("{} {}", c.school_name, c.class_name))
        .collect::<Vec<_>>()
        .join("、")
}

fn totals(s: &HomeworkSummary) -> (u32, u32, u32) {
    s.classes.iter().fold((0, 0, 0), |(n, d, g), c| {
        (n + c.students, d + c.submitted, g + c.graded)
    })
}

fn list_status(v: &HomeworkView, names: &Names, several: bool) -> (String, Option<Color>) {
    if v.work.is_empty() {
        return match &v.summary {
            Some(s) => {
                let (students, submitted, graded) = totals(s);
                (format!("已交 {submitted}/{students} · 已批 {graded}"), None)
            }
            None => ("已布置 assigned".into(), None),
        };
    }
    if let [w] = v.work.as_slice()
        && !several
    {
        return state_text(w);
    }
    let parts: Vec<String> = v
        .work
        .iter()
        .map(|w| {
            let name = names.of(w).unwrap_or_else(|| w.student_id.clone());
            format!("{name}: {}", state_text(w).0)
        })
        .collect();
    (parts.join("; "), None)
}

pub async fn show(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let v = super::homework(client, id).await?;
    let names = Names::load(client).await?;
    if json {
        print_json(&HomeworkJson::new(&v, &names));
        return Ok(());
    }
    print(render(&ctx.out, &v, &names));
    Ok(())
}

fn attachment_line(a: &Attachment) -> String {
    format!(
        "{}  {} ({}, {})",
        a.id,
        a.file_name,
        kind_name(a.kind),
        human_bytes(a.size)
    )
}

fn trimmed(table: comfy_table::Table) -> String {
    table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn render(out: &Out, v: &HomeworkView, names: &Names) -> String {
    let h = &v.homework;
    let mut fields = vec![
        ("ID", h.id.clone()),
        ("老师 from", h.author.name.clone()),
        ("班级 classes", classes_label(v)),
        ("布置 assigned", local_time(h.assigned_at)),
        (
            "截止 due",
            format!(
                "{}{}",
                local_time(h.due_at),
                if h.accepts_late {
                    "，可迟交 / late work accepted"
                } else {
                    "，不收迟交 / no late work"
                }
            ),
        ),
        (
            "可交 accepts",
            h.accepted_kinds
                .iter()
                .map(|k| kind_name(*k))
                .collect::<Vec<_>>()
                .join("、"),
        ),
        ("满分 max score", h.max_score.to_string()),
    ];
    if h.requires_signoff {
        fields.push(("家长签字 sign-off", "需要 / required".into()));
    }
    if let Some(at) = h.edited_at {
        fields.push(("修改 edited", local_time(at)));
    }
    if let Some(at) = h.reminded_at {
        fields.push(("提醒 reminded", local_time(at)));
    }
    for a in &h.attachments {
        fields.push(("附件 attachment", attachment_line(a)));
    }
    let mut text = format!(
        "{}\n{}",
        out.paint(&h.title, "1"),
        trimmed(out.fields(fields))
    );
    if !h.instructions.is_empty() {
        text.push_str(&format!("\n\n{}", h.instructions));
    }
    for w in &v.work {
        let name = names.of(w).unwrap_or_else(|| w.student_id.clone());
        let (state, _) = state_text(w);
        text.push_str(&format!(
            "\n\n{}",
            out.paint(&format!("{name}: {state}"), "1")
        ));
        let mut lines: Vec<(&str, String)> = Vec::new();
        if let Some(hi) = &w.handin
            && hi.state != HandinState::Delivered
        {
            let mut line = match hi.state {
                HandinState::Queued => "待发送 queued".to_owned(),
                HandinState::Uploading => "上传中 uploading".to_owned(),
                _ => "被拒绝 rejected".to_owned(),
            };
            if hi.total_bytes > 0 {
                line.push_str(&format!(
                    " {} / {}",
                    human_bytes(hi.sent_bytes),
                    human_bytes(hi.total_bytes)
                ));
            }
            if let Some(e) = &hi.error {
                line.push_str(&format!(" — {e}"));
            }
            line.push_str(&format!(" ({})", local_time(hi.created_at)));
            lines.push(("本机提交 this device", line));
        }
        if let Some(s) = &w.submission {
            lines.push(("提交 submission", s.id.clone()));
            submission_lines(s, &mut lines);
        }
        if let Some(d) = &w.draft {
            lines.push(("草稿 draft", d.text.clone()));
            for (i, f) in d.files.iter().enumerate() {
                lines.push((
                    "草稿文件 draft file",
                    format!(
                        "{}. {} ({}, {})",
                        i + 1,
                        f.file_name,
                        kind_name(f.kind),
                        human_bytes(f.size)
                    ),
                ));
            }
        }
        if !lines.is_empty() {
            text.push('\n');
            text.push_str(&trimmed(out.fields(lines)));
        }
    }
    if let Some(s) = &v.summary {
        text.push_str("\n\n");
        text.push_str(&summary_table(out, s));
    }
    text
}

/// The attempts, reviews and sign-off of one submission, as label–value lines.
fn submission_lines(s: &Submission, lines: &mut Vec<(&str, String)>) {
    for a in &s.attempts {
        let mut head = format!(
            "第{}次 #{} {}",
            a.number,
            a.number,
            local_time(a.submitted_at)
        );
        if a.late {
            head.push_str(" 迟交 late");
        }
        lines.push(("交于 received", head));
        if !a.text.is_empty() {
            lines.push(("文字 text", a.text.clone()));
        }
        for f in &a.attachments {
            lines.push(("文件 file", attachment_line(f)));
        }
        if let Some(r) = &a.review {
            let verdict = match r.score {
                Some(score) => format!("{score} 分 — {}", r.feedback),
                None => format!("退回 returned — {}", r.feedback),
            };
            lines.push((
                "批改 review",
                format!("{verdict} ({}, {})", r.by.name, local_time(r.at)),
            ));
            if let Some(voice) = &r.voice {
                lines.push(("语音 voice", attachment_line(voice)));
            }
        }
    }
    if let Some(so) = &s.sign_off {
        let note = if so.note.is_empty() {
            String::new()
        } else {
            format!(" — {}", so.note)
        };
        lines.push((
            "家长签字 signed",
            format!("{} {}{note}", so.by.name, local_time(so.at)),
        ));
    }
}

fn summary_table(out: &Out, s: &HomeworkSummary) -> String {
    let mut table = out.table();
    table.set_header(out.header(&[
        "班级 class",
        "已交 submitted",
        "迟交 late",
        "已批 graded",
        "退回 returned",
        "签字 signed",
    ]));
    for c in &s.classes {
        table.add_row(vec![
            format!("{} · {}", c.school_name, c.class_name),
            format!("{}/{}", c.submitted, c.students),
            c.late.to_string(),
            c.graded.to_string(),
            c.returned.to_string(),
            c.signed_off.to_string(),
        ]);
    }
    trimmed(table)
}

/// One class of the report with the lists a teacher acts on.
#[derive(Serialize)]
struct ClassReportJson<'a> {
    #[serde(flatten)]
    class: &'a ClassWork,
    school_name: Option<&'a str>,
    submitted: Vec<&'a PersonRef>,
    missing: Vec<&'a PersonRef>,
    late: Vec<&'a PersonRef>,
    not_signed_off: Vec<&'a PersonRef>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    summary: &'a HomeworkSummary,
    classes: Vec<ClassReportJson<'a>>,
}

/// `requires_signoff`: whether the homework asks for parents' sign-off (unknown: assume so).
fn report_json(r: &HomeworkReport, requires_signoff: bool) -> ReportJson<'_> {
    ReportJson {
        summary: &r.summary,
        classes: r
            .classes
            .iter()
            .map(|c| {
                let who = |f: &dyn Fn(&lianxiao_core::protocol::StudentWork) -> bool| {
                    c.students
                        .iter()
                        .filter(|s| f(s))
                        .map(|s| &s.student)
                        .collect::<Vec<_>>()
                };
                ClassReportJson {
                    class: c,
                    school_name: r
                        .summary
                        .classes
                        .iter()
                        .find(|p| p.class_id == c.class_id)
                        .map(|p| p.school_name.as_str()),
                    submitted: who(&|s| s.submission_id.is_some()),
                    missing: who(&|s| s.submission_id.is_none()),
                    late: who(&|s| s.late),
                    not_signed_off: if requires_signoff {
                        who(&|s| s.submission_id.is_some() && !s.signed_off)
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect(),
    }
}

pub async fn report(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let id = super::server_homework_id(client, id).await?;
    let report = ctx
        .out
        .spin(
            "查询中 / asking the server…",
            client.homework().report(id.clone()),
        )
        .await?;
    let requires_signoff = client
        .homework()
        .get(id)
        .await
        .map(|v| v.homework.requires_signoff)
        .unwrap_or(true);
    let r = report_json(&report, requires_signoff);
    if json {
        print_json(&r);
        return Ok(());
    }
    let out = &ctx.out;
    let (students, submitted, graded) = totals(&report.summary);
    let mut line = format!("已交 submitted {submitted}/{students} · 已批 graded {graded}");
    if let Some(at) = report.summary.last_reminded_at {
        line.push_str(&format!(" · 上次提醒 reminded {}", local_time(at)));
    }
    print(out.paint(&line, "1"));
    let names = |people: &[&PersonRef]| {
        people
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join("、")
    };
    let mut table = out.table();
    let mut header = vec!["班级 class", "已交 submitted", "未交 missing", "迟交 late"];
    if requires_signoff {
        header.push("未签字 not signed");
    }
    table.set_header(out.header(&header));
    for c in &r.classes {
        let class = match c.school_name {
            Some(school) => format!("{school} · {}", c.class.class_name),
            None => c.class.class_name.clone(),
        };
        let mut row = vec![
            out.cell(class, None, false),
            out.cell(
                format!("{}/{}", c.submitted.len(), c.class.students.len()),
                None,
                false,
            ),
            out.cell(names(&c.missing), Some(Color::Red), false),
            out.cell(names(&c.late), Some(Color::Yellow), false),
        ];
        if requires_signoff {
            row.push(out.cell(names(&c.not_signed_off), None, false));
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

pub async fn submissions(
    ctx: &Context,
    client: &Client,
    id: &str,
    class: Option<String>,
    json: bool,
) -> CliResult {
    let id = super::server_homework_id(client, id).await?;
    let class_id = match class {
        Some(c) => {
            let classes = client.classes().await?;
            Some(match match_class(&classes, &c)? {
                Some(k) => k.id.clone(),
                None => c.trim().to_owned(),
            })
        }
        None => None,
    };
    let hw = client.homework();
    let fetched = ctx
        .out
        .spin(
            "查询中 / asking the server…",
            hw.fetch_submissions(id.clone(), class_id.clone()),
        )
        .await;
    let list = match fetched {
        Ok(list) => list,
        Err(Error::Offline(_)) => {
            ctx.out.note(
                "无法连接服务器，显示本机保存的 / offline: showing what this device has",
                "33",
            );
            let mut list = hw.stored_submissions(id).await?;
            if let Some(c) = &class_id {
                list.retain(|s| &s.class_id == c);
            }
            list
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&list);
        return Ok(());
    }
    if list.is_empty() {
        print("还没有人交 / nothing handed in yet");
        return Ok(());
    }
    let out = &ctx.out;
    let mut table = out.table();
    table.set_header(out.header(&[
        "ID",
        "学生 student",
        "状态 status",
        "次数 attempts",
        "交于 received",
        "分数 score",
        "签字 signed",
    ]));
    for s in &list {
        let last = s.attempts.last();
        let (status, color) = match s.status {
            lianxiao_core::protocol::SubmissionStatus::Submitted => {
                ("待批 to grade", Color::Yellow)
            }
            lianxiao_core::protocol::SubmissionStatus::Returned => ("退回 returned", Color::Red),
            lianxiao_core::protocol::SubmissionStatus::Graded => ("已批 graded", Color::Green),
        };
        let received = last
            .map(|a| {
                let late = if a.late { " 迟交 late" } else { "" };
                format!("{}{late}", local_time(a.submitted_at))
            })
            .unwrap_or_default();
        let score = last
            .and_then(|a| a.review.as_ref())
            .and_then(|r| r.score)
            .map(|s| s.to_string())
            .unwrap_or_default();
        table.add_row(vec![
            out.cell(&s.id, Some(Color::DarkGrey), false),
            out.cell(&s.student.name, None, false),
            out.cell(status, Some(color), false),
            out.cell(s.attempts.len(), None, false),
            out.cell(received, None, false),
            out.cell(score, None, false),
            out.cell(if s.sign_off.is_some() { "✓" } else { "" }, None, false),
        ]);
    }
    print_table(&table);
    Ok(())
}

#[derive(Serialize)]
struct AttachmentJson {
    id: String,
    file_name: Option<String>,
    size: u64,
    /// This device's copy (kept for later).
    cached_path: String,
    /// Where `--out` put it.
    path: String,
}

/// The attachment's own name, when this device knows where it belongs.
async fn file_name_of(client: &Client, id: &str) -> Option<String> {
    let hw = client.homework();
    let views = hw.list().await.ok()?;
    let mut all: Vec<Attachment> = Vec::new();
    for v in views {
        all.extend(v.homework.attachments.iter().cloned());
        for s in hw.stored_submissions(v.homework.id).await.ok()? {
            for a in s.attempts {
                all.extend(a.attachments);
                all.extend(a.review.and_then(|r| r.voice));
            }
        }
    }
    all.into_iter().find(|a| a.id == id).map(|a| a.file_name)
}

pub async fn attachment(
    ctx: &Context,
    client: &Client,
    id: &str,
    out: Option<PathBuf>,
    json: bool,
) -> CliResult {
    let id = id.trim();
    let cached = ctx
        .out
        .spin(
            "下载中 / downloading…",
            client.homework().open_attachment(id.to_owned()),
        )
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Failure::new(Exit::NotFound, "没有这个附件 / no such attachment"),
            e => e.into(),
        })?;
    let file_name = file_name_of(client, id).await;
    let path = match out {
        None => PathBuf::from(&cached),
        Some(out) => {
            // A name from the server is only a name: never a path.
            let own_name = file_name
                .as_deref()
                .and_then(|n| std::path::Path::new(n).file_name())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(id));
            let dest = if out.is_dir() {
                out.join(own_name)
            } else {
                out
            };
            std::fs::copy(&cached, &dest).map_err(|e| {
                Failure::new(
                    Exit::Other,
                    format!("--out: cannot write there ({})", e.kind()),
                )
            })?;
            dest
        }
    };
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if json {
        print_json(&AttachmentJson {
            id: id.to_owned(),
            file_name,
            size,
            cached_path: cached,
            path: path.to_string_lossy().into_owned(),
        });
    } else {
        print(path.display());
    }
    Ok(())
}
