//! The command line: global options, commands and their help. Parsing only; `commands/` runs
//! them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lianxiao_core::protocol::{LessonMode, WorkKind};

/// Shown after every `--help`: the exit codes scripts can rely on.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  2  usage: a wrong command line
  3  offline-queued: saved on this device, not yet delivered (已保存，联网后发送); any later
     command sends it once the server answers
  4  auth: not signed in, wrong password, or the session expired (sign in again)
  5  forbidden: this account may not do that
  6  not found: no such notice, homework, submission, account, child or class
  7  validation: bad input (a field is wrong, an ambiguous class name, a kind of work the
     homework does not take, deleting handed-in work without --confirm, ...)
  8  rate limited: try again later (e.g. a second reminder within the hour)
  9  server unreachable, server error or anything else
 10  conflict: the server refused because of something already there (a lesson clash:
     the message names the lesson in the way)

Data stays on this device: each account's notices, homework and drafts in its own SQLite
store under the data directory, tokens in tokens.json there (mode 0600). Reading works
offline; actions are queued on disk and sent with retries, files resumably.";

#[derive(Debug, Parser)]
#[command(
    name = "lianxiao",
    version,
    about = "联校 Lianxiao in a terminal: school notices and 回执, homework and grades, lessons",
    long_about = "联校 Lianxiao in a terminal: sign in (several accounts on one device), sync, read \
                  and acknowledge (回执) school notices, and for teachers post notices, see who \
                  has not read or acknowledged, and remind them. Homework: students draft and \
                  hand in (files go up resumably), teachers assign, follow, grade and return \
                  work, parents see grades and sign off (家长签字). Lessons (排课): today, now \
                  and next offline, and for teachers scheduling linked lessons, moving and \
                  cancelling them.",
    after_long_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Server URL [default: the one of the last sign-in on this data directory, else
    /// http://127.0.0.1:8080]
    #[arg(long, global = true, env = "LIANXIAO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Where accounts, their stores and tokens live [default: $XDG_DATA_HOME/lianxiao or
    /// ~/.local/share/lianxiao]
    #[arg(long, global = true, env = "LIANXIAO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Act as this signed-in account (its login) instead of the active one; does not change
    /// the active account.
    #[arg(long, global = true, env = "LIANXIAO_ACCOUNT", value_name = "LOGIN")]
    pub account: Option<String>,

    /// How long to try to deliver an action before leaving it queued (exit code 3). `--wait`
    /// alone (put it after the command's arguments): until it is delivered or refused.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value = "5",
        num_args = 0..=1,
        default_missing_value = "until-done",
        value_parser = parse_wait
    )]
    pub wait: Wait,
}

/// How long an action may take to reach the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    Secs(f64),
    /// Until it is delivered or refused for good (Ctrl-C leaves it queued).
    UntilDone,
}

fn parse_wait(text: &str) -> Result<Wait, String> {
    match text.trim() {
        "until-done" | "forever" => Ok(Wait::UntilDone),
        t => match t.parse::<f64>() {
            Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => {
                Ok(Wait::Secs(secs))
            }
            _ => Err("a number of seconds (0 to 86400), or nothing: until delivered".into()),
        },
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in (or sign in again) and make the account the active one.
    Login {
        /// The login the school gave you, e.g. p_li.
        login: String,
        /// The password; asked for without echo when omitted (or read from a piped stdin).
        #[arg(long)]
        password: Option<String>,
    },
    /// The accounts signed in on this device; the active one is marked.
    Accounts(JsonOpt),
    /// Make another signed-in account the active one (nobody is signed out).
    Switch {
        /// The login of an account signed in on this device.
        login: String,
    },
    /// Sign the selected account out of this device, wiping its local data.
    Logout {
        /// Sign out even if actions are still queued (they are lost).
        #[arg(long)]
        force: bool,
    },
    /// Send queued actions, then fetch what changed; prints a summary.
    Sync(JsonOpt),
    /// School notices (通知).
    #[command(subcommand)]
    Notices(NoticesCommand),
    /// Homework (作业): drafts and hand-ins, assigning, reports, grading, parents' sign-off.
    #[command(subcommand)]
    Homework(HomeworkCommand),
    /// Lessons and the timetable (排课): today, now and next (offline), scheduling, moving
    /// and cancelling (teachers; online), and lessons moved or cancelled since you looked.
    #[command(subcommand)]
    Lessons(LessonsCommand),
    /// Replays (回放): list, play, watch progress, offline downloads and their storage;
    /// uploading a classroom recording (teachers) and the school's review (admins).
    #[command(subcommand)]
    Replays(crate::commands::replays::ReplaysCommand),
    /// The live room of a lesson: hands, stage, chat, mutes and quizzes.
    #[command(subcommand)]
    Live(crate::commands::live::LiveCommand),
    /// This device for push notifications: its id and each account's registration
    /// (`devices show`), registering a token (`devices register --provider log --token X`),
    /// turning pushes off for the account (`devices unregister`).
    #[command(subcommand)]
    Devices(crate::commands::devices::DevicesCommand),
    /// Notification settings: which kinds reach you per child, your own quiet hours
    /// (`settings`, `settings set --child ID --homework-graded off`, `--quiet 22:00-06:30`).
    Settings(crate::commands::settings::SettingsArgs),
    /// The parents of a class nothing has reached lately, with the phone number to call
    /// (teachers, school admins; online).
    Unreachable(crate::commands::settings::UnreachableArgs),
}

/// `lessons` commands. Lesson ids can be shortened to a unique prefix. Times are in the
/// school's time zone (China Standard Time unless the app was told otherwise).
#[derive(Debug, Subcommand)]
pub enum LessonsCommand {
    /// Today's lessons, the one on now and the next one, and lessons moved or cancelled
    /// since you last looked; from this device's store, so it works offline.
    Today(JsonOpt),
    /// The lessons on this device from today on (run `sync` to refresh).
    List {
        /// How many days, today included.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// One lesson in full: its classes and assistants, status, moves and cancellation.
    Show {
        /// The lesson id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Schedule a lesson, or a weekly series, taught in your class (teachers; online). A
    /// double-booked class or teacher exits with code 10, naming the lesson in the way.
    Schedule(ScheduleArgs),
    /// Move a lesson to another time (teachers; online); everyone in it is told.
    Move {
        /// The lesson id (a unique prefix is enough).
        id: String,
        /// The new start, "YYYY-MM-DD HH:MM" in school time (or RFC 3339).
        #[arg(long, value_name = "TIME")]
        start: String,
        /// The new length [default: as before].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=600))]
        minutes: Option<u32>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Cancel a lesson (teachers; online); everyone in it is told.
    Cancel {
        /// The lesson id (a unique prefix is enough).
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Also cancel the series' later lessons.
        #[arg(long)]
        and_following: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Lessons moved or cancelled since you last looked; `--ack` marks them seen.
    Changes {
        /// Mark them seen (they no longer show here or in `today`).
        #[arg(long)]
        ack: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
}

impl LessonsCommand {
    pub fn json(&self) -> bool {
        match self {
            LessonsCommand::Schedule(s) => s.json,
            LessonsCommand::Today(json)
            | LessonsCommand::List { json, .. }
            | LessonsCommand::Show { json, .. }
            | LessonsCommand::Move { json, .. }
            | LessonsCommand::Cancel { json, .. }
            | LessonsCommand::Changes { json, .. } => json.json,
        }
    }
}

/// interactive (同步互动) or broadcast (同步直播).
pub fn parse_mode(text: &str) -> Result<LessonMode, String> {
    LessonMode::parse(text.trim()).ok_or_else(|| "interactive or broadcast".to_owned())
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Your class the lesson is taught in: a class id or name (as for `notices post`).
    #[arg(long = "class", value_name = "CLASS")]
    pub class: String,
    #[arg(long)]
    pub subject: String,
    #[arg(long)]
    pub title: String,
    /// "YYYY-MM-DD HH:MM" in school time (or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub start: String,
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub minutes: u32,
    /// interactive (同步互动, everyone in one room) or broadcast (同步直播, watched over HLS).
    #[arg(long, value_parser = parse_mode, value_name = "MODE")]
    pub mode: LessonMode,
    /// A receiving class in your link group, by id, with its assistant teacher's user id
    /// after a colon (助课教师). Repeatable.
    #[arg(long = "receiving", value_name = "CLASS_ID[:ASSISTANT_USER_ID]")]
    pub receiving: Vec<String>,
    /// Repeat weekly at the same time through this day (YYYY-MM-DD, school time).
    #[arg(long, value_name = "DATE")]
    pub weekly_until: Option<String>,
    /// Print the scheduled lessons as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonOpt {
    /// Print exactly one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// The notices on this device, newest first (run `sync` to refresh).
    List {
        /// Only notices about this child (parents). The child's login works when the child's
        /// own account is signed in on this device; otherwise give the child's name or id
        /// (the server does not tell parents their children's logins; `sync --json` lists
        /// the children).
        #[arg(long, value_name = "LOGIN|NAME|ID")]
        child: Option<String>,
        /// Unread notices first.
        #[arg(long)]
        unread_first: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// One notice in full (does not mark it read).
    Show {
        /// The notice id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Mark a notice read.
    Read {
        /// The notice id (a unique prefix is enough).
        id: String,
    },
    /// Acknowledge a notice (回执).
    Ack {
        /// The notice id (a unique prefix is enough).
        id: String,
    },
    /// Post a notice to classes you teach (teachers).
    Post(PostArgs),
    /// Who has not read or acknowledged a notice you posted, per class.
    Receipts {
        /// The notice id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Remind everyone who has not acted on a notice you posted (at most once an hour).
    Remind {
        /// The notice id (a unique prefix is enough).
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct PostArgs {
    /// A class id, or a class name as your synced classes show it (e.g. 三年级(1)班, or
    /// "城关中心小学 · 三年级(1)班" when several schools have that name). Repeatable.
    #[arg(long = "class", value_name = "CLASS", required = true, num_args = 1..)]
    pub classes: Vec<String>,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub body: String,
    /// Ask recipients to acknowledge (回执).
    #[arg(long)]
    pub require_ack: bool,
    /// Deadline for the acknowledgment: RFC 3339 (2025-09-01T18:00:00+08:00) or local
    /// "YYYY-MM-DD HH:MM".
    #[arg(long, requires = "require_ack", value_name = "TIME")]
    pub ack_deadline: Option<String>,
    /// Send it to the students too (parents always receive it).
    #[arg(long)]
    pub to_students: bool,
    /// Urgent (closures, safety): pushed at once through quiet hours, the daily cap and
    /// parents' settings. School and county admins only.
    #[arg(long)]
    pub urgent: bool,
    /// Print the posted notice as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// `homework` commands. Ids (homework, submission) can be shortened to a unique prefix.
#[derive(Debug, Subcommand)]
pub enum HomeworkCommand {
    /// The homework on this device, latest due first (run `sync` to refresh).
    List {
        /// Only this child's homework (parents): name, id, or login of the child's account
        /// signed in on this device.
        #[arg(long, value_name = "LOGIN|NAME|ID")]
        child: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// One homework in full: instructions, attachments, and where each piece of work stands
    /// (draft, uploading with progress, delivered with the server's receipt time, graded).
    Show {
        /// The homework id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Assign a homework to classes you teach (teachers; online).
    Assign(AssignArgs),
    /// Change a homework you assigned (online); students are told it was edited.
    Edit(EditArgs),
    /// Delete a homework you assigned (online).
    Delete {
        /// The homework id (a unique prefix is enough).
        id: String,
        /// Delete it even though students have handed in work (their work goes too).
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Show or change your draft (students): text, files, their order. Kept on this device
    /// until you hand it in.
    Draft(DraftArgs),
    /// Hand the draft in: its files go up (resumably), then the hand-in, exactly once. Add
    /// `--wait` to wait until it is delivered, showing the upload's progress.
    HandIn {
        /// The homework id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Per class: who handed in, who is missing, who was late (teachers; online).
    Report {
        /// The homework id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// The work handed in for a homework (teachers: fetched from the server and kept on this
    /// device; students and parents: their own).
    Submissions {
        /// The homework id (a unique prefix is enough).
        id: String,
        /// Only this class (a class id or name, as for `assign`).
        #[arg(long = "class", value_name = "CLASS")]
        class: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Grade a submission with a score and feedback (teachers).
    Grade {
        /// The submission id (a unique prefix is enough; see `homework submissions`).
        submission: String,
        #[arg(long)]
        score: u32,
        #[arg(long, default_value = "")]
        feedback: String,
        /// An audio file with spoken feedback.
        #[arg(long, value_name = "FILE")]
        voice: Option<PathBuf>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Send a submission back for redo, saying why (teachers).
    Return {
        /// The submission id (a unique prefix is enough).
        submission: String,
        /// Why it goes back.
        #[arg(long, visible_alias = "reason")]
        feedback: String,
        /// An audio file explaining it.
        #[arg(long, value_name = "FILE")]
        voice: Option<PathBuf>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Remind everyone who has not handed in (teachers; at most once an hour).
    Remind {
        /// The homework id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Sign a child's work off (家长签字, parents).
    SignOff {
        /// The submission id, or the homework id (then the child's work; `--child` when the
        /// homework went to several of your children).
        id: String,
        #[arg(long, value_name = "LOGIN|NAME|ID")]
        child: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Download an attachment (instructions, handed-in work, voice feedback).
    Attachment {
        /// The attachment id (as `homework show` / `submissions` list it).
        id: String,
        /// Where to put it (a file, or a directory to keep its name); default: only print
        /// the path of this device's copy.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// How photos are sized before they are sent: at most this many pixels on the long
    /// side, or `original`. Without a value, shows the setting.
    PhotoSize {
        #[arg(value_name = "PIXELS|original")]
        size: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
}

impl HomeworkCommand {
    pub fn json(&self) -> bool {
        match self {
            HomeworkCommand::Assign(a) => a.json,
            HomeworkCommand::Edit(e) => e.json,
            HomeworkCommand::Draft(d) => d.json,
            HomeworkCommand::List { json, .. }
            | HomeworkCommand::Show { json, .. }
            | HomeworkCommand::Delete { json, .. }
            | HomeworkCommand::HandIn { json, .. }
            | HomeworkCommand::Report { json, .. }
            | HomeworkCommand::Submissions { json, .. }
            | HomeworkCommand::Grade { json, .. }
            | HomeworkCommand::Return { json, .. }
            | HomeworkCommand::Remind { json, .. }
            | HomeworkCommand::SignOff { json, .. }
            | HomeworkCommand::Attachment { json, .. }
            | HomeworkCommand::PhotoSize { json, .. } => json.json,
        }
    }
}

/// What a student may hand in: text, photo, audio, video, file.
pub fn parse_kind(text: &str) -> Result<WorkKind, String> {
    WorkKind::parse(text.trim()).ok_or_else(|| "one of text, photo, audio, video, file".to_owned())
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// A class id, or a class name as your synced classes show it (as for `notices post`).
    /// Repeatable: one homework for several classes (同步作业).
    #[arg(long = "class", value_name = "CLASS", required = true, num_args = 1..)]
    pub classes: Vec<String>,
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub instructions: String,
    /// Due time: RFC 3339, local "YYYY-MM-DD HH:MM", or from now by the server's clock:
    /// +90m, +3h, +2d.
    #[arg(long, value_name = "TIME")]
    pub due: String,
    /// Accept work after the due time (marked late); without it late work is refused.
    #[arg(long)]
    pub late_ok: bool,
    /// What students may hand in, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = parse_kind,
        default_value = "text,photo",
        value_name = "KINDS"
    )]
    pub kinds: Vec<WorkKind>,
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_score: u32,
    /// A parent must sign the work off (家长签字).
    #[arg(long)]
    pub parent_sign_off: bool,
    /// Cap on all files of one hand-in, in MB [default: the server's, 200 MB].
    #[arg(long, value_name = "MB")]
    pub max_mb: Option<u64>,
    /// A file for the instructions, FILE or FILE:KIND (kind from the extension when left
    /// out). Repeatable.
    #[arg(long = "attach", value_name = "FILE[:KIND]")]
    pub attach: Vec<String>,
    /// Print the homework as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The homework id (a unique prefix is enough).
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub instructions: Option<String>,
    /// New due time (as for `assign`).
    #[arg(long, value_name = "TIME")]
    pub due: Option<String>,
    /// Accept late work from now on.
    #[arg(long, conflicts_with = "no_late")]
    pub late_ok: bool,
    /// Refuse late work from now on.
    #[arg(long)]
    pub no_late: bool,
    #[arg(long, value_delimiter = ',', value_parser = parse_kind, value_name = "KINDS")]
    pub kinds: Option<Vec<WorkKind>>,
    #[arg(long, value_name = "N")]
    pub max_score: Option<u32>,
    /// Ask for a parent's sign-off from now on.
    #[arg(long, conflicts_with = "no_parent_sign_off")]
    pub parent_sign_off: bool,
    /// Stop asking for a parent's sign-off.
    #[arg(long)]
    pub no_parent_sign_off: bool,
    /// Add a file to the instructions, FILE or FILE:KIND. Repeatable.
    #[arg(long = "attach", value_name = "FILE[:KIND]")]
    pub attach: Vec<String>,
    /// Take an attachment off the instructions (its id, from `homework show`). Repeatable.
    #[arg(long = "drop-attachment", value_name = "ID")]
    pub drop_attachment: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DraftArgs {
    /// The homework id (a unique prefix is enough).
    pub id: String,
    /// Replace the draft's text.
    #[arg(long)]
    pub text: Option<String>,
    /// Add a file, FILE or FILE:KIND (photo, audio, video, file; from the extension when
    /// left out). Photos are shrunk on this device (see `homework photo-size`). Repeatable.
    #[arg(long = "add", value_name = "FILE[:KIND]")]
    pub add: Vec<String>,
    /// Remove the file at this position (1 = first, as the draft lists them). Repeatable.
    #[arg(long = "remove", value_name = "N")]
    pub remove: Vec<usize>,
    /// Move the file at position FROM to position TO.
    #[arg(long = "move", num_args = 2, value_names = ["FROM", "TO"])]
    pub move_file: Option<Vec<usize>>,
    /// Throw the draft away, with its files.
    #[arg(long, conflicts_with_all = ["text", "add", "remove", "move_file"])]
    pub discard: bool,
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_classes_repeat() {
        let cli = Cli::try_parse_from([
            "lianxiao",
            "notices",
            "post",
            "--class",
            "三年级(1)班",
            "--class",
            "c2",
            "--title",
            "t",
            "--body",
            "b",
            "--account",
            "t_wang",
        ])
        .unwrap();
        assert_eq!(cli.global.account.as_deref(), Some("t_wang"));
        let Command::Notices(NoticesCommand::Post(p)) = cli.command else {
            panic!("not a post");
        };
        assert_eq!(p.classes, ["三年级(1)班", "c2"]);
    }

    #[test]
    fn wait_takes_seconds_or_alone_means_until_done() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["lianxiao"][..], args].concat()).map(|c| (c.global.wait, c))
        };
        let (wait, _) = parse(&["sync"]).unwrap();
        assert_eq!(wait, Wait::Secs(5.0));
        let (wait, _) = parse(&["--wait", "1", "notices", "ack", "n1"]).unwrap();
        assert_eq!(wait, Wait::Secs(1.0));
        let (wait, cli) = parse(&["homework", "hand-in", "hw1", "--wait", "--json"]).unwrap();
        assert_eq!(wait, Wait::UntilDone);
        let Command::Homework(HomeworkCommand::HandIn { id, json }) = cli.command else {
            panic!("not a hand-in");
        };
        assert_eq!((id.as_str(), json.json), ("hw1", true));
        let (wait, _) = parse(&["homework", "hand-in", "hw1", "--wait"]).unwrap();
        assert_eq!(wait, Wait::UntilDone);
        assert_eq!(parse(&["--wait", "-1", "sync"]).unwrap_err().exit_code(), 2);
        assert_eq!(
            parse(&["--wait", "soon", "sync"]).unwrap_err().exit_code(),
            2
        );
    }

    #[test]
    fn homework_commands_parse_kinds_files_and_positions() {
        let cli = Cli::try_parse_from([
            "lianxiao",
            "homework",
            "assign",
            "--class",
            "三年级(1)班",
            "--title",
            "t",
            "--due",
            "+2d",
            "--kinds",
            "photo,text",
            "--attach",
            "sheet.pdf",
        ])
        .unwrap();
        let Command::Homework(HomeworkCommand::Assign(a)) = cli.command else {
            panic!("not assign");
        };
        assert_eq!(a.kinds, [WorkKind::Photo, WorkKind::Text]);
        assert_eq!(a.max_score, 100);
        assert!(!a.late_ok && !a.parent_sign_off);
        let e = Cli::try_parse_from([
            "lianxiao",
            "homework",
            "assign",
            "--class",
            "c",
            "--title",
            "t",
            "--due",
            "+1d",
            "--kinds",
            "photo,poem",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let cli = Cli::try_parse_from([
            "lianxiao",
            "homework",
            "draft",
            "hw1",
            "--add",
            "a.jpg",
            "--add",
            "b.m4a:audio",
            "--remove",
            "2",
            "--move",
            "3",
            "1",
        ])
        .unwrap();
        let Command::Homework(HomeworkCommand::Draft(d)) = cli.command else {
            panic!("not draft");
        };
        assert_eq!(d.add, ["a.jpg", "b.m4a:audio"]);
        assert_eq!(d.remove, [2]);
        assert_eq!(d.move_file, Some(vec![3, 1]));
        let e = Cli::try_parse_from([
            "lianxiao",
            "homework",
            "draft",
            "hw1",
            "--discard",
            "--text",
            "x",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn lesson_commands_parse_modes_and_receiving_classes() {
        let cli = Cli::try_parse_from([
            "lianxiao",
            "lessons",
            "schedule",
            "--class",
            "三年级(1)班",
            "--subject",
            "语文",
            "--title",
            "古诗",
            "--start",
            "2030-09-02 08:00",
            "--mode",
            "broadcast",
            "--receiving",
            "c2:u9",
            "--receiving",
            "c3",
            "--json",
        ])
        .unwrap();
        let Command::Lessons(LessonsCommand::Schedule(s)) = cli.command else {
            panic!("not schedule");
        };
        assert_eq!(s.mode, LessonMode::Broadcast);
        assert_eq!(s.minutes, 40);
        assert_eq!(s.receiving, ["c2:u9", "c3"]);
        assert!(s.json);
        for bad in [["--mode", "video"], ["--minutes", "0"]] {
            let e = Cli::try_parse_from(
                [
                    &[
                        "lianxiao",
                        "lessons",
                        "schedule",
                        "--class",
                        "c",
                        "--subject",
                        "s",
                        "--title",
                        "t",
                        "--start",
                        "2030-09-02 08:00",
                        "--mode",
                        "interactive",
                    ][..],
                    &bad[..],
                ]
                .concat(),
            )
            .unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn a_deadline_needs_an_acknowledgment() {
        let e = Cli::try_parse_from([
            "lianxiao",
            "notices",
            "post",
            "--class",
            "c",
            "--title",
            "t",
            "--body",
            "b",
            "--ack-deadline",
            "2030-01-01T00:00:00Z",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
