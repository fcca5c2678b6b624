//! The command line: global options, commands and their help. Parsing only; `commands/` runs
//! them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Shown after every `--help`: the exit codes scripts can rely on.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  2  usage: a wrong command line
  3  offline-queued: saved on this device, not yet delivered (已保存，联网后发送); any later
     command sends it once the server answers
  4  auth: not signed in, wrong password, or the session expired (sign in again)
  5  forbidden: this account may not do that
  6  not found: no such notice, account, child or class
  7  validation: bad input (a field is wrong, an ambiguous class name, ...)
  8  rate limited: try again later (e.g. a second reminder within the hour)
  9  server unreachable, server error or anything else

Data stays on this device: each account's notices in its own SQLite store under the data
directory, tokens in tokens.json there (mode 0600). Reading works offline; actions are queued
on disk and sent with retries.";

#[derive(Debug, Parser)]
#[command(
    name = "lianxiao",
    version,
    about = "联校 Lianxiao in a terminal: school notices, 回执 acknowledgments and receipts",
    long_about = "联校 Lianxiao in a terminal: sign in (several accounts on one device), sync, read \
                  and acknowledge (回执) school notices, and for teachers post notices, see who \
                  has not read or acknowledged, and remind them.",
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

    /// How long to try to deliver an action before leaving it queued (exit code 3).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 5.0)]
    pub wait: f64,
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
    /// Print the posted notice as one JSON document.
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
