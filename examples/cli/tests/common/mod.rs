//! What the terminal client's end-to-end tests share: a device (a data directory) that runs
//! the built `lianxiao` binary against a server and keeps what it printed.

#![allow(dead_code)] // each test binary uses its own part

use std::{
    path::Path,
    process::{Command, Output},
};

use lianxiao_tests::DEMO_PASSWORD;
use serde_json::Value;

/// One device: a data directory the binary keeps its accounts in.
pub struct Device<'a> {
    pub dir: &'a Path,
    pub server: String,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Device<'_> {
    pub fn run(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new(env!("CARGO_BIN_EXE_lianxiao"))
            .arg("--server")
            .arg(&self.server)
            .arg("--data-dir")
            .arg(self.dir)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("LIANXIAO_ACCOUNT")
            .output()
            .expect("run lianxiao");
        Run {
            code: status.code().expect("exited, not killed"),
            stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
        }
    }

    /// Runs and expects `code`, showing the output otherwise.
    pub fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "lianxiao {args:?}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run
    }

    pub fn ok(&self, args: &[&str]) -> Run {
        self.expect(0, args)
    }
}

pub fn login(device: &Device, login: &str) {
    device.ok(&["login", login, "--password", DEMO_PASSWORD]);
}

/// A JSON string, or a panic that shows what was there instead.
pub fn as_str(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// `--account LOGIN` (or any leading arguments) followed by a command's arguments.
pub fn with<'a>(account: &'a [&'a str], args: &[&'a str]) -> Vec<&'a str> {
    [account, args].concat()
}

/// The user id of an account signed in on `device`, from `accounts --json`.
pub fn user_id(device: &Device, login: &str) -> String {
    let accounts = device.ok(&["accounts", "--json"]).json();
    let account = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["login"] == login)
        .unwrap_or_else(|| panic!("{login} not signed in: {accounts:#}"));
    as_str(&account["user_id"]).to_owned()
}
