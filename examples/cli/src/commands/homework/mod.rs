//! `lianxiao homework ...`: homework on the core's public API (`client.homework()`,
//! `client.uploads()`). Lists, details and drafts come from the account's store and work
//! offline; hand-ins, grades, returns and sign-offs go through the outbox (files first, through
//! the resumable uploader); assigning, editing, deleting, reports and reminders need the
//! server. This module owns id resolution and the JSON shapes; `view`, `student` and
//! `teacher` run the commands.

mod delivery;
mod student;
mod teacher;
mod view;

use std::collections::HashMap;

use comfy_table::Color;
use lianxiao_core::{
    Client, Draft, DraftFile, Error, Handin, HandinState, HomeworkView, StudentWork, WorkState,
    protocol::{Homework, HomeworkSummary, Submission, WorkKind},
};
use serde::Serialize;

use crate::{
    cli::HomeworkCommand,
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{human_bytes, local_rfc3339, local_time},
};

pub async fn run(ctx: &Context, command: HomeworkCommand) -> CliResult {
    let client = ctx.client().await?;
    match command {
        HomeworkCommand::List { child, json } => view::list(ctx, &client, child, json.json).await,
        HomeworkCommand::Show { id, json } => view::show(ctx, &client, &id, json.json).await,
        HomeworkCommand::Assign(args) => teacher::assign(ctx, &client, args).await,
        HomeworkCommand::Edit(args) => teacher::edit(ctx, &client, args).await,
        HomeworkCommand::Delete { id, confirm, json } => {
            teacher::delete(ctx, &client, &id, confirm, json.json).await
        }
        HomeworkCommand::Draft(args) => student::draft(ctx, &client, args).await,
        HomeworkCommand::HandIn { id, json } => {
            student::hand_in(ctx, &client, &id, json.json).await
        }
        HomeworkCommand::Report { id, json } => view::report(ctx, &client, &id, json.json).await,
        HomeworkCommand::Submissions { id, class, json } => {
            view::submissions(ctx, &client, &id, class, json.json).await
        }
        HomeworkCommand::Grade {
            submission,
            score,
            feedback,
            voice,
            json,
        } => teacher::grade(ctx, &client, &submission, score, feedback, voice, json.json).await,
        HomeworkCommand::Return {
            submission,
            feedback,
            voice,
            json,
        } => teacher::return_work(ctx, &client, &submission, feedback, voice, json.json).await,
        HomeworkCommand::Remind { id, json } => teacher::remind(ctx, &client, &id, json.json).await,
        HomeworkCommand::SignOff {
            id,
            child,
            note,
            json,
        } => student::sign_off(ctx, &client, &id, child, note, json.json).await,
        HomeworkCommand::Attachment { id, out, json } => {
            view::attachment(ctx, &client, &id, out, json.json).await
        }
        HomeworkCommand::PhotoSize { size, json } => {
            student::photo_size(ctx, &client, size, json.json).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Ids as typed

fn no_such_homework() -> Failure {
    Failure::new(
        Exit::NotFound,
        "没有这份作业 / no such homework on this device (run `lianxiao sync`)",
    )
}

fn no_such_submission() -> Failure {
    Failure::new(
        Exit::NotFound,
        "没有这份提交 / no such submission on this device (see `lianxiao homework \
         submissions HOMEWORK`)",
    )
}

/// Full ids look like this; a prefix the device does not know may still be one the server
/// knows (a homework assigned elsewhere and not synced yet).
fn looks_like_full_id(s: &str) -> bool {
    s.len() >= 16
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

enum Found<T> {
    One(T),
    None,
}

fn one_of<T: Clone>(matches: &[T], what: &str) -> CliResult<Found<T>> {
    match matches {
        [] => Ok(Found::None),
        [one] => Ok(Found::One(one.clone())),
        several => Err(Failure::validation(format!(
            "{} {what} start with that id: type more of it",
            several.len()
        ))),
    }
}

async fn match_homework(client: &Client, typed: &str) -> CliResult<Found<HomeworkView>> {
    let hw = client.homework();
    match hw.get(typed.to_owned()).await {
        Ok(v) => return Ok(Found::One(v)),
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let all = hw.list().await?;
    let matches: Vec<HomeworkView> = all
        .into_iter()
        .filter(|v| v.homework.id.starts_with(typed))
        .collect();
    one_of(&matches, "homework")
}

/// A homework on this device, by id or unique prefix; syncs once when it is not there yet.
pub(super) async fn homework(client: &Client, typed: &str) -> CliResult<HomeworkView> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty homework id"));
    }
    if let Found::One(v) = match_homework(client, typed).await? {
        return Ok(v);
    }
    if client.sync_now().await.is_ok()
        && let Found::One(v) = match_homework(client, typed).await?
    {
        return Ok(v);
    }
    Err(no_such_homework())
}

/// A homework id for a command the server answers: the one on this device, or a full id
/// as typed (the server decides).
pub(super) async fn server_homework_id(client: &Client, typed: &str) -> CliResult<String> {
    match homework(client, typed).await {
        Ok(v) => Ok(v.homework.id),
        Err(f) if f.exit == Exit::NotFound && looks_like_full_id(typed.trim()) => {
            Ok(typed.trim().to_owned())
        }
        Err(f) => Err(f),
    }
}

async fn stored_submissions(client: &Client) -> CliResult<Vec<Submission>> {
    let hw = client.homework();
    let mut all = Vec::new();
    for v in hw.list().await? {
        all.extend(hw.stored_submissions(v.homework.id).await?);
    }
    Ok(all)
}

async fn match_submission(client: &Client, typed: &str) -> CliResult<Found<Submission>> {
    match client.homework().submission(typed.to_owned()).await {
        Ok(s) => return Ok(Found::One(s)),
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let matches: Vec<Submission> = stored_submissions(client)
        .await?
        .into_iter()
        .filter(|s| s.id.starts_with(typed))
        .collect();
    one_of(&matches, "submissions")
}

/// A submission on this device, by id or unique prefix; syncs once when it is not there.
pub(super) async fn submission(client: &Client, typed: &str) -> CliResult<Submission> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty submission id"));
    }
    if let Found::One(s) = match_submission(client, typed).await? {
        return Ok(s);
    }
    if client.sync_now().await.is_ok()
        && let Found::One(s) = match_submission(client, typed).await?
    {
        return Ok(s);
    }
    Err(no_such_submission())
}

// ---------------------------------------------------------------------------------------
// Files given on the command line

/// `FILE` or `FILE:KIND`; without a kind, from the extension.
pub(super) fn file_arg(text: &str, option: &str) -> CliResult<(String, WorkKind)> {
    let (path, kind) = match text.rsplit_once(':') {
        Some((path, kind)) if !path.is_empty() && WorkKind::parse(kind).is_some() => {
            (path, WorkKind::parse(kind))
        }
        _ => (text, None),
    };
    let kind = kind.unwrap_or_else(|| kind_of(path));
    if kind == WorkKind::Text {
        return Err(Failure::validation(format!(
            "{option}: text is written with --text, not sent as a file"
        )));
    }
    let absolute = std::path::absolute(path)
        .map_err(|_| Failure::validation(format!("{option}: {path}: not a usable path")))?;
    if !absolute.is_file() {
        return Err(Failure::validation(format!(
            "{option}: {path}: no such file (or not a file)"
        )));
    }
    Ok((absolute.to_string_lossy().into_owned(), kind))
}

/// What a file is, from its extension.
pub(super) fn kind_of(path: &str) -> WorkKind {
    let ext = std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "heic" | "heif" | "webp" | "gif" | "bmp" => WorkKind::Photo,
        "m4a" | "aac" | "mp3" | "ogg" | "opus" | "wav" | "amr" => WorkKind::Audio,
        "mp4" | "mov" | "3gp" | "webm" | "mkv" => WorkKind::Video,
        _ => WorkKind::File,
    }
}

pub(super) fn content_type_of(path: &str, kind: WorkKind) -> String {
    let ext = std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" | "heif" => "image/heic",
        "m4a" | "aac" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => match kind {
            WorkKind::Photo => "image/jpeg",
            WorkKind::Audio => "audio/mp4",
            WorkKind::Video => "video/mp4",
            _ => "application/octet-stream",
        },
    }
    .to_owned()
}

// ---------------------------------------------------------------------------------------
// Who is who

/// Names of the students this account may see, for work lines.
pub(super) struct Names(HashMap<String, String>);

impl Names {
    pub async fn load(client: &Client) -> CliResult<Names> {
        let mut names = HashMap::new();
        if let Some(p) = client.profile().await? {
            names.insert(p.id, p.name);
        }
        for c in client.children().await? {
            names.insert(c.id, c.name);
        }
        Ok(Names(names))
    }

    pub fn of(&self, work: &StudentWork) -> Option<String> {
        work.submission
            .as_ref()
            .map(|s| s.student.name.clone())
            .or_else(|| self.0.get(&work.student_id).cloned())
    }
}

// ---------------------------------------------------------------------------------------
// JSON

/// Where one student's work stands, as `--json` prints it (`"state": "uploading"`, ...).
#[derive(Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(super) enum StateJson {
    NotStarted,
    Draft,
    OnDevice,
    Uploading {
        sent_bytes: u64,
        total_bytes: u64,
        percent: u64,
    },
    Delivered {
        /// Server time the server received it: the receipt.
        received_at: i64,
        received_at_local: Option<String>,
        attempt: u32,
        late: bool,
    },
    Returned {
        reason: String,
    },
    Graded {
        score: u32,
        max_score: u32,
    },
    Failed {
        message: String,
    },
}

pub(super) fn percent(sent: u64, total: u64) -> u64 {
    (sent * 100).checked_div(total).unwrap_or(100).min(100)
}

impl From<&WorkState> for StateJson {
    fn from(s: &WorkState) -> Self {
        match s.clone() {
            WorkState::NotStarted => StateJson::NotStarted,
            WorkState::Draft => StateJson::Draft,
            WorkState::OnDevice => StateJson::OnDevice,
            WorkState::Uploading {
                sent_bytes,
                total_bytes,
            } => StateJson::Uploading {
                sent_bytes,
                total_bytes,
                percent: percent(sent_bytes, total_bytes),
            },
            WorkState::Delivered {
                received_at,
                attempt,
                late,
            } => StateJson::Delivered {
                received_at,
                received_at_local: local_rfc3339(received_at),
                attempt,
                late,
            },
            WorkState::Returned { reason } => StateJson::Returned { reason },
            WorkState::Graded { score, max_score } => StateJson::Graded { score, max_score },
            WorkState::Failed { message } => StateJson::Failed { message },
        }
    }
}

#[derive(Serialize)]
pub(super) struct FileJson<'a> {
    /// 1 = first, as `--remove` and `--move` count.
    position: usize,
    #[serde(flatten)]
    file: &'a DraftFile,
}

#[derive(Serialize)]
pub(super) struct DraftJson<'a> {
    homework_id: &'a str,
    text: &'a str,
    files: Vec<FileJson<'a>>,
    updated_at: i64,
}

impl<'a> From<&'a Draft> for DraftJson<'a> {
    fn from(d: &'a Draft) -> Self {
        DraftJson {
            homework_id: &d.homework_id,
            text: &d.text,
            files: d
                .files
                .iter()
                .enumerate()
                .map(|(i, file)| FileJson {
                    position: i + 1,
                    file,
                })
                .collect(),
            updated_at: d.updated_at,
        }
    }
}

pub(super) fn handin_state_name(s: HandinState) -> &'static str {
    match s {
        HandinState::Queued => "queued",
        HandinState::Uploading => "uploading",
        HandinState::Delivered => "delivered",
        HandinState::Failed => "failed",
    }
}

/// A hand-in made on this device.
#[derive(Serialize)]
pub(super) struct HandinJson<'a> {
    /// Local id.
    id: &'a str,
    /// queued | uploading | delivered | failed
    state: &'static str,
    created_at: i64,
    submission_id: Option<&'a str>,
    attempt: Option<u32>,
    received_at: Option<i64>,
    received_at_local: Option<String>,
    error: Option<&'a str>,
    sent_bytes: u64,
    total_bytes: u64,
    text: &'a str,
    files: &'a [DraftFile],
}

impl<'a> From<&'a Handin> for HandinJson<'a> {
    fn from(h: &'a Handin) -> Self {
        HandinJson {
            id: &h.id,
            state: handin_state_name(h.state),
            created_at: h.created_at,
            submission_id: h.submission_id.as_deref(),
            attempt: h.attempt,
            received_at: h.received_at,
            received_at_local: h.received_at.and_then(local_rfc3339),
            error: h.error.as_deref(),
            sent_bytes: h.sent_bytes,
            total_bytes: h.total_bytes,
            text: &h.text,
            files: &h.files,
        }
    }
}

/// One student's work.
#[derive(Serialize)]
pub(super) struct WorkJson<'a> {
    student_id: &'a str,
    student_name: Option<String>,
    #[serde(flatten)]
    state: StateJson,
    /// Past due and not handed in.
    overdue: bool,
    needs_sign_off: bool,
    submission: Option<&'a Submission>,
    /// This device's latest hand-in (students).
    handin: Option<HandinJson<'a>>,
    draft: Option<DraftJson<'a>>,
}

impl<'a> WorkJson<'a> {
    pub fn new(w: &'a StudentWork, names: &Names) -> Self {
        WorkJson {
            student_id: &w.student_id,
            student_name: names.of(w),
            state: StateJson::from(&w.state),
            overdue: w.overdue,
            needs_sign_off: w.needs_sign_off,
            submission: w.submission.as_ref(),
            handin: w.handin.as_ref().map(HandinJson::from),
            draft: w.draft.as_ref().map(DraftJson::from),
        }
    }
}

/// A homework with what this account sees of it.
#[derive(Serialize)]
pub(super) struct HomeworkJson<'a> {
    #[serde(flatten)]
    homework: &'a Homework,
    due_at_local: Option<String>,
    assigned_at_local: Option<String>,
    /// Students: their own; parents: each child's; teachers: empty (see `summary`).
    work: Vec<WorkJson<'a>>,
    /// Teachers: counts per class.
    summary: Option<&'a HomeworkSummary>,
}

impl<'a> HomeworkJson<'a> {
    pub fn new(v: &'a HomeworkView, names: &Names) -> Self {
        let mut j = HomeworkJson::bare(&v.homework);
        j.work = v.work.iter().map(|w| WorkJson::new(w, names)).collect();
        j.summary = v.summary.as_ref();
        j
    }

    pub fn bare(homework: &'a Homework) -> Self {
        HomeworkJson {
            homework,
            due_at_local: local_rfc3339(homework.due_at),
            assigned_at_local: local_rfc3339(homework.assigned_at),
            work: Vec::new(),
            summary: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Words

/// A work state as a person reads it, and its colour.
pub(super) fn state_text(w: &StudentWork) -> (String, Option<Color>) {
    let (mut text, color) = match &w.state {
        WorkState::NotStarted if w.overdue => ("已逾期 overdue".to_owned(), Some(Color::Red)),
        WorkState::NotStarted => ("未开始 not started".to_owned(), Some(Color::Yellow)),
        WorkState::Draft if w.overdue => ("草稿，已逾期 draft, overdue".into(), Some(Color::Red)),
        WorkState::Draft => ("草稿 draft".into(), Some(Color::Yellow)),
        WorkState::OnDevice => ("待发送 queued".into(), Some(Color::Yellow)),
        WorkState::Uploading {
            sent_bytes,
            total_bytes,
        } => (
            format!(
                "上传中 uploading {}% ({} / {})",
                percent(*sent_bytes, *total_bytes),
                human_bytes(*sent_bytes),
                human_bytes(*total_bytes)
            ),
            Some(Color::Yellow),
        ),
        WorkState::Delivered {
            received_at,
            attempt,
            late,
        } => {
            let mut t = format!("已交 handed in {}", local_time(*received_at));
            if *attempt > 1 {
                t.push_str(&format!(" (第{attempt}次 attempt {attempt})"));
            }
            if *late {
                t.push_str(" 迟交 late");
            }
            (t, Some(Color::Green))
        }
        WorkState::Returned { .. } => ("退回重做 returned".into(), Some(Color::Red)),
        WorkState::Graded { score, max_score } => (
            format!("已批 graded {score}/{max_score}"),
            Some(Color::Green),
        ),
        WorkState::Failed { .. } => ("被拒绝 rejected".into(), Some(Color::Red)),
    };
    if w.needs_sign_off {
        text.push_str(" · 待家长签字 needs sign-off");
    }
    (text, color)
}

pub(super) fn kind_name(k: WorkKind) -> &'static str {
    match k {
        WorkKind::Text => "文字 text",
        WorkKind::Photo => "照片 photo",
        WorkKind::Audio => "录音 audio",
        WorkKind::Video => "视频 video",
        WorkKind::File => "文件 file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_take_a_kind_or_get_one_from_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("IMG_0001.JPG");
        std::fs::write(&photo, b"x").unwrap();
        let p = photo.to_string_lossy().into_owned();
        assert_eq!(file_arg(&p, "--add").unwrap().1, WorkKind::Photo);
        assert_eq!(
            file_arg(&format!("{p}:file"), "--add").unwrap(),
            (p.clone(), WorkKind::File)
        );
        let e = file_arg(&format!("{p}:text"), "--add").unwrap_err();
        assert_eq!(e.exit, Exit::Validation);
        let e = file_arg("/no/such/file.m4a", "--add").unwrap_err();
        assert_eq!(e.exit, Exit::Validation);
        assert!(e.message.contains("--add"), "{}", e.message);
        assert_eq!(kind_of("a.m4a"), WorkKind::Audio);
        assert_eq!(kind_of("a.mov"), WorkKind::Video);
        assert_eq!(kind_of("worksheet.pdf"), WorkKind::File);
        assert_eq!(
            content_type_of("worksheet.pdf", WorkKind::File),
            "application/pdf"
        );
    }

    #[test]
    fn work_states_serialise_flat_with_their_name() {
        let names = Names(HashMap::new());
        let w = StudentWork {
            student_id: "s1".into(),
            state: WorkState::Uploading {
                sent_bytes: 50,
                total_bytes: 200,
            },
            submission: None,
            handin: None,
            draft: None,
            overdue: false,
            needs_sign_off: false,
        };
        let v = serde_json::to_value(WorkJson::new(&w, &names)).unwrap();
        assert_eq!(v["state"], "uploading");
        assert_eq!(v["percent"], 25);
        let w = StudentWork {
            state: WorkState::NotStarted,
            overdue: true,
            ..w
        };
        let v = serde_json::to_value(WorkJson::new(&w, &names)).unwrap();
        assert_eq!(v["state"], "not_started");
        assert_eq!(v["overdue"], true);
        assert_eq!(state_text(&w).0, "已逾期 overdue");
    }
}
