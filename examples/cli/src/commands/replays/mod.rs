//! `lianxiao replays ...`: replays (异步点播) on the core's public API (`client.replays()`).
//! The list, one replay, the watch place and downloads come from the account's store and
//! work offline; streaming, uploading a classroom recording and the school's review (学校审核)
//! need the server. A download runs while a command follows it (`download`, `resume`), and
//! goes on from where it stopped in the next one.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Args, Subcommand, ValueEnum};
use lianxiao_core::{
    Client, ClientState, DownloadState, DownloadStatus, Error, NewRecording, OutboxKind,
    ReplayFilter, ReplayListener, ReplayView, UploadListener, UploadStatus,
    protocol::{Replay, ReplayVisibility},
};
use tokio::sync::watch;

mod view;

use view::{
    DownloadJson, PlaybackJson, ViewJson, clock, details, download_label, status_label, table,
};

use crate::{
    cli::JsonOpt,
    commands::notices::resolve_child,
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::{human_bytes, print, print_json, print_table},
};

/// `replays` commands. Replay ids can be shortened to a unique prefix.
#[derive(Debug, Subcommand)]
pub enum ReplaysCommand {
    /// The replays on this device, newest lesson first (run `sync` to refresh).
    List {
        /// Only those of this child's lessons (parents): the child's name, id or login.
        #[arg(long)]
        child: Option<String>,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// One replay: status, review, renditions, your place and its download.
    Show {
        /// The replay id (a unique prefix is enough).
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// What a player opens: the downloaded copy (a file URL), else a signed stream URL
    /// (online), and where you stopped.
    Play {
        id: String,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Report watching: where the player is and how long was played since the last report.
    /// Recorded at once (offline too) and sent; counted once.
    WatchProgress {
        id: String,
        /// Where the player is, in seconds.
        #[arg(long, value_name = "SECS")]
        position: u32,
        /// Seconds played since the last report.
        #[arg(long, value_name = "SECS")]
        played: u32,
    },
    /// Teachers: upload a classroom recording (录播) as a lesson's replay (resumable; run it
    /// again after a break to go on). It is then transcoded and waits for review.
    Upload {
        /// The video file (MP4).
        file: PathBuf,
        /// The lesson it records (its full id).
        #[arg(long, value_name = "LESSON_ID")]
        lesson: String,
        /// Instead of the lesson's title.
        #[arg(long)]
        title: Option<String>,
        /// Share it with the whole link group, not only the lesson's classes.
        #[arg(long)]
        link_group: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// School admins: approve or reject a replay waiting for review (学校审核).
    Review {
        id: String,
        decision: Decision,
        /// Why it is rejected (required to reject; the teacher sees it).
        #[arg(long)]
        reason: Option<String>,
        /// On approval, share it with the whole link group.
        #[arg(long)]
        link_group: bool,
        #[command(flatten)]
        json: JsonOpt,
    },
    /// Download one rendition for offline viewing and follow it to the end (Ctrl-C stops
    /// following; the next `resume` or `download` goes on from there).
    Download {
        id: String,
        /// `low` (360p) or `audio`.
        #[arg(long, default_value = "low")]
        rendition: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Stop a download, keeping what is on this device.
    Pause { id: String },
    /// Go on with a paused or failed download and follow it to the end.
    Resume {
        id: String,
        #[command(flatten)]
        follow: Follow,
    },
    /// Delete a download and its files.
    Delete { id: String },
    /// Downloads against the storage cap; `--cap` sets the cap.
    Storage {
        /// The most all downloads may take, in MiB.
        #[arg(long, value_name = "MIB")]
        cap: Option<u64>,
        #[command(flatten)]
        json: JsonOpt,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Args)]
pub struct Follow {
    /// Queue it and return at once (it runs while a later command follows it).
    #[arg(long)]
    pub detach: bool,
    /// Print the download's status as one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl ReplaysCommand {
    pub fn json(&self) -> bool {
        match self {
            ReplaysCommand::List { json, .. }
            | ReplaysCommand::Show { json, .. }
            | ReplaysCommand::Play { json, .. }
            | ReplaysCommand::Upload { json, .. }
            | ReplaysCommand::Review { json, .. }
            | ReplaysCommand::Storage { json, .. } => json.json,
            ReplaysCommand::Download { follow, .. } | ReplaysCommand::Resume { follow, .. } => {
                follow.json
            }
            ReplaysCommand::WatchProgress { .. }
            | ReplaysCommand::Pause { .. }
            | ReplaysCommand::Delete { .. } => false,
        }
    }
}

const MIB: u64 = 1024 * 1024;

pub async fn run(ctx: &Context, command: ReplaysCommand) -> CliResult {
    let client = ctx.client().await?;
    let replays = client.replays();
    match command {
        ReplaysCommand::List { child, json } => {
            let child_id = match child {
                Some(c) => Some(resolve_child(ctx, &client, &c).await?),
                None => None,
            };
            let list = replays.list(ReplayFilter { child_id }).await?;
            if json.json {
                print_json(&list.iter().map(ViewJson::new).collect::<Vec<_>>());
            } else if list.is_empty() {
                print("没有回放 / no replays on this device (run `lianxiao sync`)");
            } else {
                print_table(&table(&ctx.out, &list));
            }
            Ok(())
        }
        ReplaysCommand::Show { id, json } => {
            let view = view(&client, &id).await?;
            if json.json {
                print_json(&ViewJson::new(&view));
            } else {
                print_table(&ctx.out.fields(details(&view)));
            }
            Ok(())
        }
        ReplaysCommand::Play { id, json } => {
            let id = view(&client, &id).await?.replay.id;
            let playback = replays.play(id).await?;
            if json.json {
                print_json(&PlaybackJson::from(&playback));
            } else {
                let from = if playback.local {
                    "本机下载 / downloaded copy"
                } else {
                    "在线 / stream"
                };
                print(format!(
                    "{}\n{from}, 从 {} 开始 / start at {}",
                    playback.url,
                    clock(playback.position_ms),
                    clock(playback.position_ms)
                ));
            }
            Ok(())
        }
        ReplaysCommand::WatchProgress {
            id,
            position,
            played,
        } => {
            let id = view(&client, &id).await?.replay.id;
            replays
                .report_progress(
                    id.clone(),
                    i64::from(position) * 1000,
                    i64::from(played) * 1000,
                )
                .await?;
            match ctx.deliver(&client, OutboxKind::Watch, &id).await {
                Delivery::Delivered => {
                    print(format!(
                        "已记录 / recorded: at {}",
                        clock(i64::from(position) * 1000)
                    ));
                    Ok(())
                }
                Delivery::Queued => Err(ctx.queued_failure(&client)),
                Delivery::Rejected(f) => Err(f),
            }
        }
        ReplaysCommand::Upload {
            file,
            lesson,
            title,
            link_group,
            json,
        } => {
            let replay = upload(ctx, &client, file, lesson, title, visibility(link_group)).await?;
            if json.json {
                print_json(&replay);
            } else {
                print(format!(
                    "已上传 / uploaded: {} — {} ({}): transcoding, then school review",
                    replay.id,
                    replay.title,
                    status_label(&replay).0
                ));
            }
            Ok(())
        }
        ReplaysCommand::Review {
            id,
            decision,
            reason,
            link_group,
            json,
        } => {
            let id = view(&client, &id).await?.replay.id;
            let approve = decision == Decision::Approve;
            let shared = (approve && link_group).then_some(ReplayVisibility::LinkGroup);
            let replay = replays.review(id, approve, reason, shared).await?;
            if json.json {
                print_json(&replay);
            } else {
                print(format!("{}: {}", replay.id, status_label(&replay).0));
            }
            Ok(())
        }
        ReplaysCommand::Download {
            id,
            rendition,
            follow,
        } => {
            let id = view(&client, &id).await?.replay.id;
            let status = replays.download(id.clone(), rendition).await?;
            follow_download(ctx, &client, status, follow).await
        }
        ReplaysCommand::Resume { id, follow } => {
            let id = view(&client, &id).await?.replay.id;
            replays.resume_download(id.clone()).await?;
            let status = download_status(&client, &id).await?;
            follow_download(ctx, &client, status, follow).await
        }
        ReplaysCommand::Pause { id } => {
            let id = view(&client, &id).await?.replay.id;
            replays.pause_download(id.clone()).await?;
            let status = download_status(&client, &id).await?;
            print(format!("{id}: {}", download_label(&status)));
            Ok(())
        }
        ReplaysCommand::Delete { id } => {
            let id = view(&client, &id).await?.replay.id;
            download_status(&client, &id).await?;
            replays.delete_download(id.clone()).await?;
            print(format!("已删除下载 / download deleted: {id}"));
            Ok(())
        }
        ReplaysCommand::Storage { cap, json } => {
            if let Some(mib) = cap {
                if mib == 0 {
                    return Err(Failure::validation("--cap: at least 1 MiB"));
                }
                replays
                    .set_storage_cap_bytes(mib.saturating_mul(MIB))
                    .await?;
            }
            let use_ = replays.storage().await?;
            let downloads = replays.downloads().await?;
            if json.json {
                print_json(&serde_json::json!({
                    "reserved_bytes": use_.reserved_bytes,
                    "cap_bytes": use_.cap_bytes,
                    "downloads": downloads.iter().map(DownloadJson::from).collect::<Vec<_>>(),
                }));
            } else {
                print(format!(
                    "下载占用 / downloads hold {} of {} ({} download(s))",
                    human_bytes(use_.reserved_bytes),
                    human_bytes(use_.cap_bytes),
                    downloads.len()
                ));
            }
            Ok(())
        }
    }
}

fn visibility(link_group: bool) -> ReplayVisibility {
    if link_group {
        ReplayVisibility::LinkGroup
    } else {
        ReplayVisibility::LessonClasses
    }
}

// ---------------------------------------------------------------------------------------
// Ids as typed

/// A replay on this device by id or unique prefix; syncs once when it is not there yet.
async fn view(client: &Client, typed: &str) -> CliResult<ReplayView> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Failure::validation("empty replay id"));
    }
    for attempt in 0..2 {
        if attempt == 1 && client.sync_now().await.is_err() {
            break;
        }
        match client.replays().get(typed.to_owned()).await {
            Ok(v) => return Ok(v),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut found: Vec<ReplayView> = client
            .replays()
            .list(ReplayFilter::default())
            .await?
            .into_iter()
            .filter(|v| v.replay.id.starts_with(typed))
            .collect();
        match found.len() {
            0 => {}
            1 => return Ok(found.remove(0)),
            n => {
                return Err(Failure::validation(format!(
                    "{n} replays start with that id: type more of it"
                )));
            }
        }
    }
    Err(Failure::new(
        Exit::NotFound,
        "没有这个回放 / no such replay on this device (run `lianxiao sync`)",
    ))
}

async fn download_status(client: &Client, id: &str) -> CliResult<DownloadStatus> {
    client
        .replays()
        .download_status(id.to_owned())
        .await?
        .ok_or_else(|| Failure::new(Exit::NotFound, "这个回放没有下载 / no download of it"))
}

// ---------------------------------------------------------------------------------------
// Upload and download, followed

/// Forwards a core subscription's values into a watch channel.
struct Forward<T>(watch::Sender<Option<T>>);

impl ReplayListener for Forward<Vec<ReplayView>> {
    fn on_replays(&self, replays: Vec<ReplayView>) {
        let _ = self.0.send(Some(replays));
    }
}

impl UploadListener for Forward<Vec<UploadStatus>> {
    fn on_uploads(&self, uploads: Vec<UploadStatus>) {
        let _ = self.0.send(Some(uploads));
    }
}

async fn upload(
    ctx: &Context,
    client: &Client,
    file: PathBuf,
    lesson_id: String,
    title: Option<String>,
    visibility: ReplayVisibility,
) -> CliResult<Replay> {
    let path = std::fs::canonicalize(&file).map_err(|e| {
        Failure::validation(format!("{}: cannot read it ({})", file.display(), e.kind()))
    })?;
    ctx.start(client);
    let (tx, mut rx) = watch::channel(None);
    let _handle = client.uploads().subscribe(Arc::new(Forward(tx)));
    let mut bar = ctx.out.progress("上传录像 / uploading the recording");
    let replays = client.replays();
    let sending = replays.upload_recording(NewRecording {
        lesson_id,
        path: path.clone(),
        title,
        visibility,
    });
    tokio::pin!(sending);
    let mut offline = OfflineWatch::new(ctx);
    loop {
        tokio::select! {
            done = &mut sending => {
                bar.finish();
                return done.map_err(Into::into);
            }
            _ = tokio::time::sleep(TICK) => {
                if offline.gave_up(client) {
                    bar.finish();
                    return Err(Failure::new(
                        Exit::Queued,
                        "无法连接服务器，上传已保存 / cannot reach the server: what was sent is \
                         kept; run the same command again to go on",
                    ));
                }
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let latest = rx.borrow_and_update().clone().unwrap_or_default();
                if let Some(u) = latest.iter().rev().find(|u| u.file_name == file_name(&path)) {
                    bar.update("上传录像 / uploading the recording", u.sent, u.total);
                }
            }
        }
    }
}

/// How often a followed transfer looks at the connection.
const TICK: Duration = Duration::from_millis(500);

/// Gives up on following a transfer once the client has been off the server for the whole
/// `--wait` (at least 5 s; `--wait` alone: never). The transfer itself stays queued.
struct OfflineWatch {
    limit: Option<Duration>,
    since: Option<Instant>,
}

impl OfflineWatch {
    fn new(ctx: &Context) -> Self {
        OfflineWatch {
            limit: ctx.wait().map(|w| w.max(Duration::from_secs(5))),
            since: None,
        }
    }

    fn gave_up(&mut self, client: &Client) -> bool {
        if matches!(client.state(), ClientState::Online) {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        self.limit.is_some_and(|limit| since.elapsed() >= limit)
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Follows a download until it is done or failed (unless `--detach`), with a progress bar.
async fn follow_download(
    ctx: &Context,
    client: &Client,
    started: DownloadStatus,
    follow: Follow,
) -> CliResult {
    let id = started.replay_id.clone();
    let mut last = started;
    if !follow.detach && last.state != DownloadState::Done {
        ctx.start(client);
        let (tx, mut rx) = watch::channel(None);
        let _handle = client
            .replays()
            .subscribe(ReplayFilter::default(), Arc::new(Forward(tx)));
        let mut bar = ctx.out.progress("下载回放 / downloading the replay");
        let mut offline = OfflineWatch::new(ctx);
        loop {
            let views = rx.borrow_and_update().clone().unwrap_or_default();
            if let Some(d) = views
                .into_iter()
                .find(|v| v.replay.id == id)
                .and_then(|v| v.download)
            {
                bar.update(
                    "下载回放 / downloading the replay",
                    d.bytes_done,
                    d.bytes_total,
                );
                last = d;
                if matches!(
                    last.state,
                    DownloadState::Done | DownloadState::Failed | DownloadState::Paused
                ) {
                    break;
                }
            } else if rx.borrow().is_some() {
                bar.finish();
                return Err(Failure::new(
                    Exit::NotFound,
                    "下载已被删除 / the download was deleted",
                ));
            }
            tokio::select! {
                changed = rx.changed() => {
                    changed.map_err(|_| Failure::new(Exit::Other, "the core stopped"))?
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            if offline.gave_up(client) {
                bar.finish();
                return Err(Failure::new(
                    Exit::Queued,
                    format!(
                        "无法连接服务器，下载已保存 / cannot reach the server: {} is kept; \
                         `lianxiao replays resume {id}` goes on from there",
                        download_label(&last)
                    ),
                ));
            }
        }
        bar.finish();
    }
    if follow.json {
        print_json(&DownloadJson::from(&last));
    } else {
        print(format!("{id}: {}", download_label(&last)));
    }
    match (&last.state, &last.error) {
        (DownloadState::Failed, Some(e)) => Err(Failure::new(
            Exit::from_code_str(&e.code),
            format!("下载失败 / download failed: {}", e.message),
        )),
        _ => Ok(()),
    }
}
