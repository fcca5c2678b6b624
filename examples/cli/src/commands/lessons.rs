//! `lianxiao lessons ...`: the timetable (排课) on the core's public API
//! (`client.timetable()`). Today, lists, details and changes come from the account's store and
//! work offline; scheduling, moving and cancelling need the server (a clash must be refused
//! while the teacher is still at the keyboard). Times are shown and typed in the school's
//! time zone (`utc_offset_minutes`), whatever the computer's own.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use comfy_table::Color;
use lianxiao_core::{
    Client, Error, LessonChange, LessonChangeKind,
    protocol::{
        CancelLesson, Lesson, LessonStatus, MoveLesson, ReceivingClassRequest, ScheduleLesson,
    },
};
use serde::Serialize;

use crate::{
    cli::{LessonsCommand, ScheduleArgs},
    commands::notices::resolve_classes,
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{Out, print, print_json, print_table},
};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

pub async fn run(ctx: &Context, command: LessonsCommand) -> CliResult {
    let client = ctx.client().await?;
    let tz = school_zone(&client).await?;
    match command {
        LessonsCommand::Today(json) => today(ctx, &client, tz, json.json).await,
        LessonsCommand::List { days, json } => list(ctx, &client, tz, days, json.json).await,
        LessonsCommand::Show { id, json } => {
            let lesson = lesson(&client, &id).await?;
            if json.json {
                print_json(&LessonJson::new(&lesson, tz));
            } else {
                print_table(&ctx.out.fields(details(&lesson, tz)));
            }
            Ok(())
        }
        LessonsCommand::Schedule(args) => schedule(ctx, &client, tz, args).await,
        LessonsCommand::Move {
            id,
            start,
            minutes,
            json,
        } => {
            let lesson = lesson(&client, &id).await?;
            let starts_at = parse_school_time(&start, tz).ok_or_else(bad_start)?;
            let length = match minutes {
                Some(m) => i64::from(m) * MINUTE_MS,
                None => lesson.ends_at - lesson.starts_at,
            };
            let moved = client
                .timetable()
                .move_lesson(
                    lesson.id.clone(),
                    MoveLesson {
                        starts_at,
                        ends_at: starts_at + length,
                    },
                )
                .await?;
            if json.json {
                print_json(&LessonJson::new(&moved, tz));
            } else {
                print(format!(
                    "已调课 / moved: {} — {}\n{}",
                    moved.id,
                    moved.title,
                    span(&moved, tz)
                ));
            }
            Ok(())
        }
        LessonsCommand::Cancel {
            id,
            reason,
            and_following,
            json,
        } => {
            let lesson = lesson(&client, &id).await?;
            let cancelled = client
                .timetable()
                .cancel(
                    lesson.id,
                    CancelLesson {
                        reason,
                        and_following,
                    },
                )
                .await?;
            if json.json {
                print_json(&lessons_json(&cancelled, tz));
            } else {
                print(format!("已停课 / cancelled {} lesson(s):", cancelled.len()));
                print_table(&lessons_table(&ctx.out, &cancelled, tz));
            }
            Ok(())
        }
        LessonsCommand::Changes { ack, json } => changes(ctx, &client, tz, ack, json.json).await,
    }
}

// ---------------------------------------------------------------------------------------
// School time

async fn school_zone(client: &Client) -> CliResult<FixedOffset> {
    let minutes = client.timetable().utc_offset_minutes().await?;
    FixedOffset::east_opt(minutes * 60)
        .ok_or_else(|| Failure::validation("the school's UTC offset is out of range"))
}

fn at(ms: i64, tz: FixedOffset) -> Option<DateTime<FixedOffset>> {
    tz.timestamp_millis_opt(ms).single()
}

fn school_rfc3339(ms: i64, tz: FixedOffset) -> String {
    at(ms, tz).map(|t| t.to_rfc3339()).unwrap_or_default()
}

const WEEKDAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];

/// "2030-09-02 周一 08:00–08:40".
fn span(l: &Lesson, tz: FixedOffset) -> String {
    use chrono::Datelike;
    match (at(l.starts_at, tz), at(l.ends_at, tz)) {
        (Some(s), Some(e)) => format!(
            "{} 周{} {}–{}",
            s.format("%Y-%m-%d"),
            WEEKDAYS[s.weekday().num_days_from_monday() as usize],
            s.format("%H:%M"),
            e.format("%H:%M")
        ),
        _ => "?".into(),
    }
}

fn hhmm(ms: i64, tz: FixedOffset) -> String {
    at(ms, tz)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "?".into())
}

/// "YYYY-MM-DD HH:MM" in school time, or RFC 3339. Unix ms.
fn parse_school_time(text: &str, tz: FixedOffset) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").ok()?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_millis())
}

/// The end of that day in school time (the series runs through it). Unix ms.
fn parse_end_of_day(text: &str, tz: FixedOffset) -> Option<i64> {
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let midnight = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
    tz.from_local_datetime(&midnight)
        .single()
        .map(|t| t.timestamp_millis())
}

/// Midnight today in school time, by the server's clock. Unix ms.
fn start_of_today(now: i64, tz: FixedOffset) -> i64 {
    let offset = i64::from(tz.local_minus_utc()) * 1000;
    (now + offset).div_euclid(DAY_MS) * DAY_MS - offset
}

fn bad_start() -> Failure {
    Failure::validation("--start: give \"YYYY-MM-DD HH:MM\" (school time) or RFC 3339")
}

// ---------------------------------------------------------------------------------------
// Ids as typed

fn no_such_lesson() -> Failure {
    Failure::new(
        Exit::NotFound,
        "没有这节课 / no such lesson on this device (run `lianxiao sync`)",
    )
}

async fn match_lesson(client: &Client, typed: &str) -> CliResult<Option<Lesson>> {
    let tt = client.timetable();
    match tt.lesson(typed.to_owned()).await {
        Ok(l) => return Ok(Some(l)),
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let matches: Vec<Lesson> = tt
        .lessons(i64::MIN / 4, i64::MAX / 4)
        .await?
        .into_iter()
        .filter(|l| l.id.starts_with(typed))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => Err(Failure::validation(format!(
            "{} lessons start with that id: type more of it",
            several.len()
        ))),
    }
}

/// A lesson on this device, by id or unique prefix; syncs once when it is not there yet.
async fn lesson(client: &Client, typed: &str) -> CliResult<Lesson> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty lesson id"));
    }
    if let Some(l) = match_lesson(client, typed).await? {
        return Ok(l);
    }
    if client.sync_now().await.is_ok()
        && let Some(l) = match_lesson(client, typed).await?
    {
        return Ok(l);
    }
    Err(no_such_lesson())
}

// ---------------------------------------------------------------------------------------
// JSON

/// A lesson as the wire has it, plus its times in school time.
#[derive(Serialize)]
struct LessonJson<'a> {
    #[serde(flatten)]
    lesson: &'a Lesson,
    starts: String,
    ends: String,
}

impl<'a> LessonJson<'a> {
    fn new(lesson: &'a Lesson, tz: FixedOffset) -> Self {
        LessonJson {
            lesson,
            starts: school_rfc3339(lesson.starts_at, tz),
            ends: school_rfc3339(lesson.ends_at, tz),
        }
    }
}

fn lessons_json(lessons: &[Lesson], tz: FixedOffset) -> Vec<LessonJson<'_>> {
    lessons.iter().map(|l| LessonJson::new(l, tz)).collect()
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    kind: &'static str,
    /// When it changed (Unix ms, server clock).
    at: i64,
    lesson: LessonJson<'a>,
}

fn kind_str(kind: LessonChangeKind) -> &'static str {
    match kind {
        LessonChangeKind::Moved => "moved",
        LessonChangeKind::Cancelled => "cancelled",
    }
}

fn changes_json(changes: &[LessonChange], tz: FixedOffset) -> Vec<ChangeJson<'_>> {
    changes
        .iter()
        .map(|c| ChangeJson {
            kind: kind_str(c.kind),
            at: c.at,
            lesson: LessonJson::new(&c.lesson, tz),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Text

fn classes_label(l: &Lesson) -> String {
    l.classes
        .iter()
        .map(|c| {
            let place = format!("{} · {}", c.school_name, c.class_name);
            if c.lead {
                format!("{place} (主讲)")
            } else {
                place
            }
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn status_label(l: &Lesson) -> (String, Option<Color>) {
    let moved = if l.moved_from.is_some() {
        " · 已调课 moved"
    } else {
        ""
    };
    match l.status {
        LessonStatus::Scheduled => (format!("待上课 scheduled{moved}"), None),
        LessonStatus::Live => ("上课中 live".into(), Some(Color::Green)),
        LessonStatus::Interrupted => ("中断 interrupted".into(), Some(Color::Yellow)),
        LessonStatus::Ended => ("已结束 ended".into(), Some(Color::DarkGrey)),
        LessonStatus::Cancelled => ("已停课 cancelled".into(), Some(Color::Red)),
    }
}

fn lessons_table(out: &Out, lessons: &[Lesson], tz: FixedOffset) -> comfy_table::Table {
    let mut t = out.table();
    t.set_header(out.header(&[
        "时间 time",
        "科目 subject",
        "课题 title",
        "状态 status",
        "id",
    ]));
    for l in lessons {
        let (status, color) = status_label(l);
        t.add_row(vec![
            out.cell(span(l, tz), None, false),
            out.cell(&l.subject, None, false),
            out.cell(&l.title, None, false),
            out.cell(status, color, false),
            out.cell(&l.id, Some(Color::DarkGrey), false),
        ]);
    }
    t
}

fn details(l: &Lesson, tz: FixedOffset) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("课题 title", l.title.clone()),
        ("科目 subject", l.subject.clone()),
        ("时间 time", span(l, tz)),
        ("方式 mode", l.mode.as_str().to_owned()),
        ("状态 status", status_label(l).0),
        ("主讲 teacher", l.lead_teacher.name.clone()),
        ("班级 classes", classes_label(l)),
    ];
    for c in l.classes.iter().filter(|c| !c.lead) {
        if let Some(a) = &c.assistant {
            rows.push(("助课 assistant", format!("{} ({})", a.name, c.class_name)));
        }
    }
    if let Some(from) = l.moved_from {
        rows.push(("原时间 moved from", hhmm(from, tz)));
    }
    if let Some(when) = l.cancelled_at {
        rows.push(("停课于 cancelled at", hhmm(when, tz)));
    }
    if !l.cancel_reason.is_empty() {
        rows.push(("原因 reason", l.cancel_reason.clone()));
    }
    rows.push(("id", l.id.clone()));
    if l.series_id != l.id {
        rows.push(("系列 series", l.series_id.clone()));
    }
    rows
}

fn change_lines(changes: &[LessonChange], tz: FixedOffset) -> Vec<String> {
    changes
        .iter()
        .map(|c| match c.kind {
            LessonChangeKind::Moved => format!(
                "调课 moved: {} {} → {} ({})",
                c.lesson.title,
                c.lesson.moved_from.map(|m| hhmm(m, tz)).unwrap_or_default(),
                span(&c.lesson, tz),
                c.lesson.id
            ),
            LessonChangeKind::Cancelled => {
                let reason = if c.lesson.cancel_reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.lesson.cancel_reason)
                };
                format!(
                    "停课 cancelled: {} {}{reason} ({})",
                    c.lesson.title,
                    span(&c.lesson, tz),
                    c.lesson.id
                )
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Commands

#[derive(Serialize)]
struct TodayJson<'a> {
    today: Vec<LessonJson<'a>>,
    now: Option<LessonJson<'a>>,
    next: Option<LessonJson<'a>>,
    changes: Vec<ChangeJson<'a>>,
    server_time: i64,
    utc_offset_minutes: i32,
    reminder_lead_secs: u32,
}

async fn today(ctx: &Context, client: &Client, tz: FixedOffset, json: bool) -> CliResult {
    let tt = client.timetable();
    let snap = tt.snapshot().await?;
    if json {
        print_json(&TodayJson {
            today: lessons_json(&snap.today, tz),
            now: snap.now.as_ref().map(|l| LessonJson::new(l, tz)),
            next: snap.next.as_ref().map(|l| LessonJson::new(l, tz)),
            changes: changes_json(&snap.changes, tz),
            server_time: snap.server_time,
            utc_offset_minutes: tz.local_minus_utc() / 60,
            reminder_lead_secs: tt.reminder_lead_secs().await?,
        });
        return Ok(());
    }
    let mut text = Vec::new();
    if snap.today.is_empty() {
        text.push("今天没有课 / no lessons today".to_owned());
    } else {
        text.push(format!("今天 today ({}):", hhmm(snap.server_time, tz)));
        text.push(trimmed(lessons_table(&ctx.out, &snap.today, tz)));
    }
    let line = |label: &str, l: &Option<Lesson>| match l {
        Some(l) => format!("{label}: {} — {} ({})", span(l, tz), l.title, l.id),
        None => format!("{label}: —"),
    };
    text.push(line("正在上 now", &snap.now));
    text.push(line("下一节 next", &snap.next));
    if !snap.changes.is_empty() {
        text.push(ctx.out.paint(
            &format!(
                "{} 节课有变动 / {} change(s) since you last looked (`lianxiao lessons changes --ack` marks them seen):",
                snap.changes.len(),
                snap.changes.len()
            ),
            "33",
        ));
        text.extend(change_lines(&snap.changes, tz));
    }
    print(text.join("\n"));
    Ok(())
}

fn trimmed(table: comfy_table::Table) -> String {
    table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn list(ctx: &Context, client: &Client, tz: FixedOffset, days: u32, json: bool) -> CliResult {
    let from = start_of_today(client.server_now(), tz);
    let to = from + i64::from(days) * DAY_MS;
    let lessons = client.timetable().lessons(from, to).await?;
    if json {
        print_json(&lessons_json(&lessons, tz));
    } else if lessons.is_empty() {
        print(format!(
            "{days} 天内没有课 / no lessons in the next {days} day(s) on this device (run \
             `lianxiao sync` to refresh)"
        ));
    } else {
        print_table(&lessons_table(&ctx.out, &lessons, tz));
    }
    Ok(())
}

#[derive(Serialize)]
struct ScheduledJson<'a> {
    series_id: &'a str,
    lessons: Vec<LessonJson<'a>>,
}

async fn schedule(
    ctx: &Context,
    client: &Client,
    tz: FixedOffset,
    args: ScheduleArgs,
) -> CliResult {
    let starts_at = parse_school_time(&args.start, tz).ok_or_else(bad_start)?;
    let weekly_until = match &args.weekly_until {
        Some(day) => Some(
            parse_end_of_day(day, tz)
                .ok_or_else(|| Failure::validation("--weekly-until: give a day, YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let lead_class_id = resolve_classes(client, std::slice::from_ref(&args.class))
        .await?
        .remove(0);
    let receiving = args
        .receiving
        .iter()
        .map(|r| {
            let (class, assistant) = match r.split_once(':') {
                Some((c, a)) => (c.trim(), Some(a.trim())),
                None => (r.trim(), None),
            };
            if class.is_empty() || assistant.is_some_and(str::is_empty) {
                return Err(Failure::validation(
                    "--receiving: give CLASS_ID or CLASS_ID:ASSISTANT_USER_ID",
                ));
            }
            Ok(ReceivingClassRequest {
                class_id: class.to_owned(),
                assistant_id: assistant.map(str::to_owned),
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    let scheduled = client
        .timetable()
        .schedule(ScheduleLesson {
            subject: args.subject,
            title: args.title,
            starts_at,
            ends_at: starts_at + i64::from(args.minutes) * MINUTE_MS,
            mode: args.mode,
            lead_class_id,
            receiving,
            lead_teacher_id: None,
            weekly_until,
        })
        .await
        .map_err(|e| match e {
            // The server's message names the lesson in the way.
            Error::Conflict(message) => {
                Failure::new(Exit::Conflict, format!("时间冲突 / clash: {message}"))
            }
            other => other.into(),
        })?;
    if args.json {
        print_json(&ScheduledJson {
            series_id: &scheduled.series_id,
            lessons: lessons_json(&scheduled.lessons, tz),
        });
    } else {
        print(format!(
            "已排课 / scheduled {} lesson(s), series {}:",
            scheduled.lessons.len(),
            scheduled.series_id
        ));
        print_table(&lessons_table(&ctx.out, &scheduled.lessons, tz));
    }
    Ok(())
}

#[derive(Serialize)]
struct ChangesJson<'a> {
    changes: Vec<ChangeJson<'a>>,
    /// Whether `--ack` marked them seen.
    acknowledged: bool,
}

async fn changes(
    ctx: &Context,
    client: &Client,
    tz: FixedOffset,
    ack: bool,
    json: bool,
) -> CliResult {
    let tt = client.timetable();
    let snap = tt.snapshot().await?;
    if ack {
        tt.acknowledge_changes().await?;
    }
    if json {
        print_json(&ChangesJson {
            changes: changes_json(&snap.changes, tz),
            acknowledged: ack,
        });
    } else if snap.changes.is_empty() {
        print("没有新的变动 / no lessons moved or cancelled since you last looked");
    } else {
        let mut lines = change_lines(&snap.changes, tz);
        if ack {
            lines.push(ctx.out.paint("已标记为已看 / marked seen", "2"));
        }
        print(lines.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn school_time_is_the_schools_whatever_the_computers() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        // 2030-09-02 08:00 +08:00 is 00:00 UTC.
        let ms = parse_school_time("2030-09-02 08:00", cst).unwrap();
        assert_eq!(ms, 1_914_537_600_000);
        assert_eq!(hhmm(ms, cst), "2030-09-02 08:00");
        assert_eq!(
            parse_school_time("2030-09-02T08:00:00+08:00", cst),
            Some(ms)
        );
        assert_eq!(parse_school_time("monday", cst), None);
        assert_eq!(
            parse_end_of_day("2030-09-02", cst),
            Some(ms - 8 * 3_600_000 + DAY_MS)
        );
        // 07:59 school time is 23:59 the day before in UTC, but today in school.
        let midnight = ms - 8 * 3_600_000;
        assert_eq!(start_of_today(ms + 60_000, cst), midnight);
        assert_eq!(start_of_today(ms - 60_000, cst), midnight);
        assert_eq!(start_of_today(midnight - 1, cst), midnight - DAY_MS);
    }
}
