//! The teacher's side: assigning, editing and deleting (online), reminders, and grading or
//! returning work (through the outbox, like a phone).

use std::{collections::HashSet, path::PathBuf, time::Duration};

use lianxiao_core::{
    Client, Error, NewHomework, UploadRequest, UploadState,
    protocol::{EditHomework, Homework, Submission, SubmissionStatus, UploadPurpose, WorkKind},
};

use super::{HomeworkJson, content_type_of, delivery, file_arg};
use crate::{
    cli::{AssignArgs, EditArgs},
    commands::notices::resolve_classes,
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::{local_time, parse_due, print, print_json},
};

/// Without a byte moving for this long, an upload for an online action gives up.
const UPLOAD_STALL: Duration = Duration::from_secs(60);

fn due(text: &str, client: &Client) -> CliResult<i64> {
    parse_due(text, client.server_now()).ok_or_else(|| {
        Failure::validation(
            "--due: give RFC 3339 (2030-09-01T18:00:00+08:00), \"YYYY-MM-DD HH:MM\", or +90m, \
             +3h, +2d",
        )
    })
}

fn print_homework(h: &Homework, json: bool, done: &str) -> CliResult {
    if json {
        print_json(&HomeworkJson::bare(h));
        return Ok(());
    }
    let classes = h
        .classes
        .iter()
        .map(|c| format!("{} · {}", c.school_name, c.class_name))
        .collect::<Vec<_>>()
        .join("、");
    print(format!(
        "{done}: {} — {}\n班级 classes: {classes}\n截止 due: {}",
        h.id,
        h.title,
        local_time(h.due_at)
    ));
    Ok(())
}

/// Instruction uploads this command started: those not in `before`.
async fn new_instruction_uploads(client: &Client, before: &HashSet<i64>) -> Vec<i64> {
    client
        .uploads()
        .list()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.purpose == UploadPurpose::Instructions && !before.contains(&u.id))
        .map(|u| u.id)
        .collect()
}

async fn upload_ids(client: &Client) -> HashSet<i64> {
    client
        .uploads()
        .list()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.id)
        .collect()
}

/// Runs `action` (which uploads instruction files first) while showing their progress; gives
/// up when no byte moves for a minute (unless `--wait` alone said to wait), cancelling
/// those uploads so nothing is left to send later.
async fn with_upload_progress<T>(
    ctx: &Context,
    client: &Client,
    before: &HashSet<i64>,
    action: impl Future<Output = lianxiao_core::Result<T>>,
) -> CliResult<T> {
    let mut progress = ctx.out.progress("上传附件 / uploading attachments");
    let mut action = std::pin::pin!(action);
    let mut last_move = (tokio::time::Instant::now(), 0u64);
    let result = loop {
        tokio::select! {
            r = &mut action => break r.map_err(Failure::from),
            _ = tokio::time::sleep(Duration::from_millis(150)) => {}
        }
        let ids = new_instruction_uploads(client, before).await;
        let list = client.uploads().list().await.unwrap_or_default();
        let mine: Vec<_> = list.iter().filter(|u| ids.contains(&u.id)).collect();
        let sent: u64 = mine.iter().map(|u| u.sent).sum();
        let total: u64 = mine.iter().map(|u| u.total).sum();
        let retries = mine.iter().map(|u| u.attempts).max().unwrap_or(0);
        let message = if retries > 0 {
            format!("重试中 / retrying (#{retries})")
        } else {
            "上传附件 / uploading attachments".to_owned()
        };
        progress.update(&message, sent, total);
        if sent != last_move.1 {
            last_move = (tokio::time::Instant::now(), sent);
        } else if let Some(wait) = ctx.wait()
            && last_move.0.elapsed() > UPLOAD_STALL.max(wait)
            && mine.iter().any(|u| u.state != UploadState::Done)
        {
            break Err(Failure::new(
                Exit::Other,
                "无法上传附件 / cannot upload the attachments: the server does not answer",
            ));
        }
    };
    progress.finish();
    if result.is_err() {
        for id in new_instruction_uploads(client, before).await {
            let _ = client.uploads().cancel(id).await;
        }
    }
    result
}

pub async fn assign(ctx: &Context, client: &Client, args: AssignArgs) -> CliResult {
    let due_at = due(&args.due, client)?;
    let attachments = args
        .attach
        .iter()
        .map(|a| file_arg(a, "--attach"))
        .collect::<CliResult<Vec<(String, WorkKind)>>>()?;
    if args.kinds.is_empty() {
        return Err(Failure::validation("--kinds: at least one kind of work"));
    }
    let class_ids = resolve_classes(client, &args.classes).await?;
    let new = NewHomework {
        title: args.title,
        instructions: args.instructions,
        attachments,
        class_ids,
        due_at,
        accepts_late: args.late_ok,
        accepted_kinds: args.kinds,
        max_score: args.max_score,
        requires_signoff: args.parent_sign_off,
        max_submission_bytes: args.max_mb.map(|mb| mb.saturating_mul(1 << 20)),
    };
    let hw = client.homework();
    let homework = if new.attachments.is_empty() {
        ctx.out.spin("布置中 / assigning…", hw.assign(new)).await?
    } else {
        // Only the uploader sends the files; see first that the server is there at all.
        client.sync_now().await?;
        ctx.start(client);
        let before = upload_ids(client).await;
        with_upload_progress(ctx, client, &before, hw.assign(new)).await?
    };
    print_homework(&homework, args.json, "已布置 / assigned")
}

pub async fn edit(ctx: &Context, client: &Client, args: EditArgs) -> CliResult {
    let view = super::homework(client, &args.id).await?;
    let id = view.homework.id.clone();
    let mut edit = EditHomework {
        title: args.title,
        instructions: args.instructions,
        due_at: args.due.as_deref().map(|d| due(d, client)).transpose()?,
        accepts_late: match (args.late_ok, args.no_late) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        accepted_kinds: args.kinds,
        max_score: args.max_score,
        requires_signoff: match (args.parent_sign_off, args.no_parent_sign_off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        attachment_ids: None,
    };
    if !args.attach.is_empty() || !args.drop_attachment.is_empty() {
        let current: Vec<String> = view
            .homework
            .attachments
            .iter()
            .map(|a| a.id.clone())
            .collect();
        for d in &args.drop_attachment {
            if !current.contains(d) {
                return Err(Failure::new(
                    Exit::NotFound,
                    format!("--drop-attachment {d}: not an attachment of this homework"),
                ));
            }
        }
        let files = args
            .attach
            .iter()
            .map(|a| file_arg(a, "--attach"))
            .collect::<CliResult<Vec<(String, WorkKind)>>>()?;
        let mut ids: Vec<String> = current
            .into_iter()
            .filter(|c| !args.drop_attachment.contains(c))
            .collect();
        if !files.is_empty() {
            client.sync_now().await?;
            ctx.start(client);
            let before = upload_ids(client).await;
            let uploads = client.uploads();
            let sent = with_upload_progress(ctx, client, &before, async {
                let mut queued = Vec::new();
                for (path, kind) in &files {
                    let file_name = std::path::Path::new(path)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "file".into());
                    queued.push(
                        uploads
                            .enqueue(UploadRequest {
                                path: PathBuf::from(path),
                                purpose: UploadPurpose::Instructions,
                                homework_id: None,
                                kind: *kind,
                                content_type: content_type_of(path, *kind),
                                file_name,
                                batch: None,
                            })
                            .await?,
                    );
                }
                let mut server_ids = Vec::new();
                for q in queued {
                    server_ids.push(uploads.wait(q).await?);
                }
                Ok(server_ids)
            })
            .await?;
            ids.extend(sent);
        }
        edit.attachment_ids = Some(ids);
    }
    if edit == EditHomework::default() {
        return Err(Failure::validation(
            "没有要改的 / nothing to change: give --title, --instructions, --due, --kinds, ...",
        ));
    }
    let homework = ctx
        .out
        .spin("修改中 / saving…", client.homework().edit(id, edit))
        .await?;
    print_homework(&homework, args.json, "已修改 / edited")
}

pub async fn delete(
    ctx: &Context,
    client: &Client,
    id: &str,
    confirm: bool,
    json: bool,
) -> CliResult {
    let id = super::server_homework_id(client, id).await?;
    ctx.out
        .spin(
            "删除中 / deleting…",
            client.homework().delete(id.clone(), confirm),
        )
        .await
        .map_err(|e| match e {
            Error::Conflict(_) if !confirm => Failure::validation(
                "学生已经交了作业 / students have handed in work for it: add --confirm to \
                 delete it together with their work",
            ),
            e => e.into(),
        })?;
    if json {
        print_json(&serde_json::json!({ "deleted": id }));
    } else {
        print(format!("已删除 / deleted: {id}"));
    }
    Ok(())
}

pub async fn remind(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let id = super::server_homework_id(client, id).await?;
    let result = ctx
        .out
        .spin("提醒中 / reminding…", client.homework().remind(id))
        .await?;
    if json {
        print_json(&result);
    } else {
        print(format!(
            "已提醒 {} 人 / reminded {}; 下次可提醒 / next reminder allowed after {}",
            result.reminded,
            result.reminded,
            local_time(result.next_allowed_at)
        ));
    }
    Ok(())
}

fn voice_arg(voice: Option<PathBuf>) -> CliResult<Option<String>> {
    voice
        .map(|p| file_arg(&p.to_string_lossy(), "--voice").map(|(path, _)| path))
        .transpose()
}

async fn finish_review(
    ctx: &Context,
    client: &Client,
    submission_id: &str,
    delivery: Delivery,
    json: bool,
    done: &str,
) -> CliResult {
    match delivery {
        Delivery::Delivered => {
            let s = client
                .homework()
                .submission(submission_id.to_owned())
                .await?;
            if json {
                print_json(&s);
            } else {
                print(format!("{done}: {} ({})", s.student.name, s.id));
            }
            Ok(())
        }
        Delivery::Queued => Err(ctx.queued_failure(client)),
        Delivery::Rejected(f) => Err(f),
    }
}

fn last_review(s: &Submission) -> Option<&lianxiao_core::protocol::Review> {
    s.attempts.last().and_then(|a| a.review.as_ref())
}

pub async fn grade(
    ctx: &Context,
    client: &Client,
    submission: &str,
    score: u32,
    feedback: String,
    voice: Option<PathBuf>,
    json: bool,
) -> CliResult {
    let voice = voice_arg(voice)?;
    let sub = super::submission(client, submission).await?;
    let with_voice = voice.is_some();
    let text = feedback.clone();
    client
        .homework()
        .grade(sub.id.clone(), score, feedback, voice)
        .await?;
    let delivery = delivery::deliver_review(ctx, client, &sub.id, with_voice, |s| {
        s.status == SubmissionStatus::Graded
            && last_review(s).is_some_and(|r| r.score == Some(score) && r.feedback == text)
    })
    .await;
    finish_review(
        ctx,
        client,
        &sub.id,
        delivery,
        json,
        &format!("已批改 / graded {score}"),
    )
    .await
}

pub async fn return_work(
    ctx: &Context,
    client: &Client,
    submission: &str,
    reason: String,
    voice: Option<PathBuf>,
    json: bool,
) -> CliResult {
    let voice = voice_arg(voice)?;
    let sub = super::submission(client, submission).await?;
    let with_voice = voice.is_some();
    let text = reason.clone();
    client
        .homework()
        .return_work(sub.id.clone(), reason, voice)
        .await?;
    let delivery = delivery::deliver_review(ctx, client, &sub.id, with_voice, |s| {
        s.status == SubmissionStatus::Returned && last_review(s).is_some_and(|r| r.feedback == text)
    })
    .await;
    finish_review(
        ctx,
        client,
        &sub.id,
        delivery,
        json,
        "已退回重做 / returned for redo",
    )
    .await
}
