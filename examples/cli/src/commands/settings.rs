//! `lianxiao settings` and `lianxiao unreachable`: notification settings on the core's public
//! API (`client.notification_settings()`). Settings are read from the account's store (offline
//! too); a change shows at once and goes through the outbox, so one typed offline is sent by
//! a later command. `unreachable` asks the server which parents of a class nothing reaches.

use clap::{Args, Subcommand};
use lianxiao_core::{
    Client, OutboxKind, SettingsView,
    protocol::{NotificationKinds, QuietHours, UnreachableParent},
};
use serde::Serialize;

use crate::{
    cli::JsonOpt,
    commands::notices::{resolve_child, resolve_classes},
    context::{Context, Delivery},
    exit::{CliResult, Failure},
    output::{Out, local_time, print, print_json, print_table},
};

/// `settings`: show them, or `settings set ...`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub command: Option<SettingsCommand>,
    /// Print exactly one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

impl SettingsArgs {
    pub fn json(&self) -> bool {
        match &self.command {
            Some(SettingsCommand::Set(s)) => s.json || self.json,
            None => self.json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Turn kinds of notification on or off for a child (parents; students and teachers:
    /// themselves), or set your own quiet hours. Shown at once; sent when online.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The child: name, id or login [default: the only entry, when there is one].
    #[arg(long)]
    pub child: Option<String>,
    /// School and class notices (urgent ones always come).
    #[arg(long, value_parser = on_off, value_name = "on|off")]
    pub notices: Option<bool>,
    /// Homework graded.
    #[arg(long, value_parser = on_off, value_name = "on|off")]
    pub homework_graded: Option<bool>,
    /// Homework not handed in by its deadline.
    #[arg(long, value_parser = on_off, value_name = "on|off")]
    pub homework_missing: Option<bool>,
    /// A live lesson about to start.
    #[arg(long, value_parser = on_off, value_name = "on|off")]
    pub lesson_starting: Option<bool>,
    /// Your own quiet hours, HH:MM-HH:MM in school time (e.g. 22:00-06:30), or "off".
    #[arg(long, value_parser = parse_quiet, value_name = "HH:MM-HH:MM|off")]
    pub quiet: Option<QuietArg>,
    /// Print the settings as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct QuietArg(Option<QuietHours>);

fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err("on or off".into()),
    }
}

fn minute_of(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn parse_quiet(text: &str) -> Result<QuietArg, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(QuietArg(None));
    }
    let (start, end) = text
        .split_once('-')
        .and_then(|(a, b)| Some((minute_of(a)?, minute_of(b)?)))
        .ok_or("HH:MM-HH:MM, e.g. 22:00-06:30, or off")?;
    Ok(QuietArg(Some(QuietHours {
        start_minute: start,
        end_minute: end,
    })))
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

pub async fn run(ctx: &Context, args: SettingsArgs) -> CliResult {
    let client = ctx.client().await?;
    let json = args.json();
    match args.command {
        None => {
            let mut view = client.notification_settings().get().await?;
            if view.settings.children.is_empty() && client.sync_now().await.is_ok() {
                view = client.notification_settings().get().await?;
            }
            show(&ctx.out, &client, &view, json).await
        }
        Some(SettingsCommand::Set(set)) => change(ctx, &client, set, json).await,
    }
}

async fn change(ctx: &Context, client: &Client, set: SetArgs, json: bool) -> CliResult {
    let handle = client.notification_settings();
    let mut view = handle.get().await?;
    if view.settings.children.is_empty() && client.sync_now().await.is_ok() {
        view = handle.get().await?;
    }
    let kinds_given = set.notices.is_some()
        || set.homework_graded.is_some()
        || set.homework_missing.is_some()
        || set.lesson_starting.is_some();
    if !kinds_given && set.quiet.is_none() {
        return Err(Failure::validation(
            "say what to change: --notices, --homework-graded, --homework-missing, \
             --lesson-starting (on|off) or --quiet HH:MM-HH:MM|off",
        ));
    }
    let mut change = lianxiao_core::protocol::UpdateNotificationSettings {
        quiet_hours: view.settings.quiet_hours,
        children: view.settings.children.clone(),
    };
    if kinds_given {
        let child_id = match &set.child {
            Some(wanted) => match view
                .settings
                .children
                .iter()
                .find(|c| &c.child_id == wanted)
            {
                Some(c) => c.child_id.clone(),
                None => resolve_child(ctx, client, wanted).await?,
            },
            None if view.settings.children.len() == 1 => view.settings.children[0].child_id.clone(),
            None => {
                return Err(Failure::validation(
                    "--child: this account has several children; name one",
                ));
            }
        };
        let Some(entry) = change.children.iter_mut().find(|c| c.child_id == child_id) else {
            return Err(Failure::validation(
                "--child: not among this account's settings (run `lianxiao sync`)",
            ));
        };
        let k: &mut NotificationKinds = &mut entry.kinds;
        k.notices = set.notices.unwrap_or(k.notices);
        k.homework_graded = set.homework_graded.unwrap_or(k.homework_graded);
        k.homework_missing = set.homework_missing.unwrap_or(k.homework_missing);
        k.lesson_starting = set.lesson_starting.unwrap_or(k.lesson_starting);
    }
    if let Some(QuietArg(q)) = set.quiet {
        change.quiet_hours = q;
    }
    handle.update(change).await?;
    let delivery = ctx
        .deliver(client, OutboxKind::NotificationSettings, &client.user_id())
        .await;
    let view = handle.get().await?;
    match delivery {
        Delivery::Delivered => {
            if !json {
                print("已保存 / saved");
            }
            show(&ctx.out, client, &view, json).await
        }
        Delivery::Queued => {
            show(&ctx.out, client, &view, json).await?;
            Err(ctx.queued_failure(client))
        }
        Delivery::Rejected(f) => Err(f),
    }
}

#[derive(Serialize)]
struct SettingsJson<'a> {
    #[serde(flatten)]
    settings: &'a lianxiao_core::protocol::NotificationSettings,
    /// A change made here is still on its way to the server.
    pending: bool,
}

async fn show(out: &Out, client: &Client, view: &SettingsView, json: bool) -> CliResult {
    if json {
        print_json(&SettingsJson {
            settings: &view.settings,
            pending: view.pending,
        });
        return Ok(());
    }
    let children = client.children().await.unwrap_or_default();
    let me = client.user_id();
    let name = |id: &str| -> String {
        if id == me {
            return "我 / me".into();
        }
        children
            .iter()
            .find(|c| c.id == id)
            .map(|c| format!("{} ({id})", c.name))
            .unwrap_or_else(|| id.to_owned())
    };
    let mark = |on: bool| if on { "on" } else { "off" };
    let mut table = out.table();
    table.set_header(out.header(&[
        "child",
        "notices",
        "homework-graded",
        "homework-missing",
        "lesson-starting",
    ]));
    for c in &view.settings.children {
        table.add_row(vec![
            name(&c.child_id),
            mark(c.kinds.notices).into(),
            mark(c.kinds.homework_graded).into(),
            mark(c.kinds.homework_missing).into(),
            mark(c.kinds.lesson_starting).into(),
        ]);
    }
    print_table(&table);
    let quiet = match view.settings.quiet_hours {
        Some(q) => format!("{}-{}", hhmm(q.start_minute), hhmm(q.end_minute)),
        None => "none (the school's apply)".into(),
    };
    print(format!("quiet hours: {quiet}"));
    if view.pending {
        print("待发送 / not yet sent: shown as changed here; sent when online");
    }
    Ok(())
}

/// `unreachable CLASS`: the class's parents nothing has reached (teachers, school admins).
#[derive(Debug, Args)]
pub struct UnreachableArgs {
    /// The class: id or name (as for `notices post`).
    pub class: String,
    #[command(flatten)]
    pub json: JsonOpt,
}

pub async fn unreachable(ctx: &Context, args: UnreachableArgs) -> CliResult {
    let client = ctx.client().await?;
    let class_id = resolve_classes(&client, std::slice::from_ref(&args.class))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::validation("name a class"))?;
    let parents: Vec<UnreachableParent> = client
        .notification_settings()
        .unreachable_parents(&class_id)
        .await?;
    if args.json.json {
        print_json(&parents);
        return Ok(());
    }
    if parents.is_empty() {
        print("每位家长都联系得上 / every parent of the class was reached recently");
        return Ok(());
    }
    let mut table = ctx.out.table();
    table.set_header(
        ctx.out
            .header(&["parent", "phone", "children", "last seen", "last push"]),
    );
    let when = |t: Option<i64>| t.map(local_time).unwrap_or_else(|| "never".into());
    for p in &parents {
        let children: Vec<&str> = p.children.iter().map(|c| c.name.as_str()).collect();
        table.add_row(vec![
            format!("{} ({})", p.parent.name, p.parent.id),
            p.phone.clone().unwrap_or_else(|| "-".into()),
            children.join(", "),
            when(p.last_seen_at),
            when(p.last_push_at),
        ]);
    }
    print_table(&table);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_are_typed_as_times_of_day() {
        let q = parse_quiet("22:00-06:30").unwrap().0.unwrap();
        assert_eq!((q.start_minute, q.end_minute), (1320, 390));
        assert!(parse_quiet("off").unwrap().0.is_none());
        assert!(parse_quiet("24:00-06:00").is_err());
        assert!(parse_quiet("22:00").is_err());
        assert_eq!(hhmm(390), "06:30");
        assert_eq!(on_off("OFF"), Ok(false));
        assert!(on_off("maybe").is_err());
    }
}
