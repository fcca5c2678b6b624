//! Signing in and out, listing and switching the accounts of this device.

use std::io::{BufRead, IsTerminal};

use comfy_table::Color;
use lianxiao_core::{ClientState, Error};
use serde::Serialize;

use crate::{
    cli::Global,
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{local_rfc3339, local_time, print, print_json, print_table},
};

fn read_password() -> CliResult<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("密码 / password: ")
            .map_err(|_| Failure::new(Exit::Other, "cannot read the password from the terminal"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|_| Failure::new(Exit::Other, "cannot read the password from stdin"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(Failure::validation("密码为空 / empty password"));
    }
    Ok(password)
}

pub async fn login(
    ctx: &Context,
    global: &Global,
    login: String,
    password: Option<String>,
) -> CliResult {
    let password = match password {
        Some(p) => p,
        None => read_password()?,
    };
    let client = ctx
        .out
        .spin(
            "登录中 / signing in…",
            ctx.accounts.sign_in(login, password),
        )
        .await
        .map_err(|e| match e {
            Error::Unauthorized => Failure::new(
                Exit::Auth,
                "登录失败 / sign-in failed: wrong login or password",
            ),
            other => other.into(),
        })?;
    ctx.remember_server(global);
    // Unsent work kept across an expired session goes out now; then the classes, children
    // and notices, so the next command has them.
    ctx.send_queued(&client).await;
    if let Err(e) = ctx.out.spin("同步中 / syncing…", client.sync_now()).await {
        ctx.out.note(
            &format!(
                "未能同步 / could not sync yet: {}",
                Failure::from(e).message
            ),
            "33",
        );
    }
    let profile = client.profile().await?;
    let name = profile.map(|p| p.name).unwrap_or_default();
    print(format!("已登录 / signed in: {name}"));
    Ok(())
}

#[derive(Serialize)]
struct AccountJson {
    user_id: String,
    login: String,
    display_name: String,
    active: bool,
    /// False when the session has ended (sign in again); the local data is still there.
    signed_in: bool,
    last_used_at: i64,
    last_used_at_local: Option<String>,
}

pub async fn list(ctx: &Context, json: bool) -> CliResult {
    let accounts = ctx.accounts.list().await?;
    let mut rows = Vec::new();
    for a in accounts {
        let client = ctx.accounts.client(a.user_id.clone()).await?;
        if a.active {
            ctx.send_queued(&client).await;
        }
        rows.push(AccountJson {
            signed_in: client.state() != ClientState::AuthExpired,
            last_used_at_local: local_rfc3339(a.last_used_at),
            user_id: a.user_id,
            login: a.login,
            display_name: a.display_name,
            active: a.active,
            last_used_at: a.last_used_at,
        });
    }
    if json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        print("没有账号 / no accounts: run `lianxiao login LOGIN`");
        return Ok(());
    }
    let out = &ctx.out;
    let mut table = out.table();
    table.set_header(out.header(&[
        "",
        "登录名 login",
        "姓名 name",
        "状态 session",
        "最近使用 last used",
    ]));
    for r in &rows {
        let (session, color) = if r.signed_in {
            ("已登录 signed in", None)
        } else {
            ("需重新登录 sign in again", Some(Color::Red))
        };
        table.add_row(vec![
            out.cell(if r.active { "*" } else { "" }, Some(Color::Green), true),
            out.cell(&r.login, None, r.active),
            out.cell(&r.display_name, None, r.active),
            out.cell(session, color, false),
            out.cell(local_time(r.last_used_at), None, false),
        ]);
    }
    print_table(&table);
    Ok(())
}

pub async fn switch(ctx: &Context, login: String) -> CliResult {
    let info = ctx.find_account(&login).await?;
    let client = ctx.accounts.switch_to(info.user_id).await?;
    ctx.send_queued(&client).await;
    print(format!(
        "当前账号 / active account: {} ({})",
        info.display_name, info.login
    ));
    if client.state() == ClientState::AuthExpired {
        ctx.out.note(
            "登录已失效 / this session has ended: run `lianxiao login` for it",
            "33",
        );
    }
    Ok(())
}

pub async fn logout(ctx: &Context, force: bool) -> CliResult {
    let info = ctx.selected().await?;
    let client = ctx.accounts.client(info.user_id.clone()).await?;
    ctx.send_queued(&client).await;
    let pending = client.outbox_pending().await?;
    if pending > 0 && !force {
        return Err(Failure::validation(format!(
            "{pending} 项操作尚未发送 / {pending} action(s) not sent yet: signing out would lose \
             them; run `lianxiao sync` when online, or `lianxiao logout --force`"
        )));
    }
    client.stop();
    drop(client);
    ctx.accounts.sign_out(info.user_id.clone()).await?;
    print(format!("已退出 / signed out: {}", info.login));
    // Like a shared phone: the most recently used remaining account takes over.
    if info.active
        && let Some(next) = ctx.accounts.list().await?.into_iter().next()
    {
        ctx.accounts.switch_to(next.user_id).await?;
        print(format!("当前账号 / active account: {}", next.login));
    }
    Ok(())
}
