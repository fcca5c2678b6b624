//! `lianxiao devices ...`: this data directory as a phone install for push notifications, on
//! the core's public API (`accounts.devices()`): its device id, each signed-in account's
//! registration, registering a push token (a terminal has no push service of its own: the
//! server's `log` provider is the one that makes sense), and unlinking an account.

use clap::{Subcommand, ValueEnum};
use lianxiao_core::{
    RegistrationState,
    protocol::{DevicePlatform, PushProvider, RegisterDevice},
};
use serde::Serialize;

use crate::{
    cli::JsonOpt,
    context::Context,
    exit::{CliResult, Exit, Failure},
    output::{local_rfc3339, print, print_json},
};

/// `devices` commands.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// This install's device id and each signed-in account's registration.
    Show(JsonOpt),
    /// Register a push token for every account signed in here (as an app does when the
    /// platform hands it one); sent now, or by a later command when offline.
    Register {
        #[arg(long, value_enum, default_value_t = Provider::Log)]
        provider: Provider,
        /// The provider's token for this install.
        #[arg(long)]
        token: String,
        #[arg(long, value_enum, default_value_t = Platform::Android)]
        platform: Platform,
        #[arg(long, default_value = "zh-CN")]
        locale: String,
    },
    /// Stop push notifications to the selected account on this install (the account stays
    /// signed in; `logout` unlinks too).
    Unregister,
}

impl DevicesCommand {
    pub fn json(&self) -> bool {
        matches!(self, DevicesCommand::Show(j) if j.json)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Provider {
    Apns,
    Fcm,
    Getui,
    Log,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Platform {
    Ios,
    Android,
}

#[derive(Serialize)]
struct RegistrationJson {
    account: String,
    state: &'static str,
    provider: Option<&'static str>,
    registered_at: Option<String>,
    error_code: Option<String>,
}

#[derive(Serialize)]
struct DevicesJson {
    device_id: String,
    /// Registrations, pushed reports and unlinks not yet sent.
    pending: usize,
    registrations: Vec<RegistrationJson>,
}

pub async fn run(ctx: &Context, cmd: DevicesCommand) -> CliResult {
    let devices = ctx.accounts.devices();
    match cmd {
        DevicesCommand::Show(j) => show(ctx, j.json).await,
        DevicesCommand::Register {
            provider,
            token,
            platform,
            locale,
        } => {
            devices
                .set_push_token(RegisterDevice {
                    platform: match platform {
                        Platform::Ios => DevicePlatform::Ios,
                        Platform::Android => DevicePlatform::Android,
                    },
                    provider: match provider {
                        Provider::Apns => PushProvider::Apns,
                        Provider::Fcm => PushProvider::Fcm,
                        Provider::Getui => PushProvider::Getui,
                        Provider::Log => PushProvider::Log,
                    },
                    token,
                    app_version: env!("CARGO_PKG_VERSION").to_owned(),
                    locale,
                })
                .await?;
            show(ctx, false).await
        }
        DevicesCommand::Unregister => {
            let account = ctx.selected().await?;
            // Unlinked now, or by a later command when offline; a new sign-in turns it on.
            devices.unregister(account.user_id.clone()).await?;
            let _ = ctx.out.spin("发送中 / sending…", devices.flush()).await;
            print(format!(
                "{} 不再接收推送 / no more pushes on this device",
                account.login
            ));
            Ok(())
        }
    }
}

async fn show(ctx: &Context, json: bool) -> CliResult {
    let devices = ctx.accounts.devices();
    let pending = ctx
        .out
        .spin("发送中 / sending…", devices.flush())
        .await
        .map_err(|e| Failure::new(Exit::Other, e.to_string()))?;
    let device_id = devices.device_id().await?;
    let logins = ctx.accounts.list().await?;
    let registrations = devices
        .registrations()
        .await?
        .into_iter()
        .map(|r| RegistrationJson {
            account: logins
                .iter()
                .find(|a| a.user_id == r.user_id)
                .map(|a| a.login.clone())
                .unwrap_or(r.user_id),
            state: match r.state {
                RegistrationState::WaitingForToken => "waiting_for_token",
                RegistrationState::Pending => "pending",
                RegistrationState::Registered => "registered",
                RegistrationState::Failed => "failed",
                RegistrationState::Off => "off",
            },
            provider: r.provider.map(|p| p.as_str()),
            registered_at: r.registered_at.and_then(local_rfc3339),
            error_code: r.error_code,
        })
        .collect();
    let out = DevicesJson {
        device_id,
        pending,
        registrations,
    };
    if json {
        print_json(&out);
        return Ok(());
    }
    print(format!("设备 device: {}", out.device_id));
    for r in &out.registrations {
        let mut line = format!("  {}: {}", r.account, r.state);
        if let Some(p) = r.provider {
            line.push_str(&format!(" ({p})"));
        }
        if let Some(code) = &r.error_code {
            line.push_str(&format!(" — {code}"));
        }
        print(line);
    }
    if out.pending > 0 {
        print(format!("{} 项待发送 / still to send", out.pending));
    }
    Ok(())
}
