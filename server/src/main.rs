//! `lianxiao-server`: serve the API, or import a roster.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use lianxiao_server::{
    LiveKitConfig, ServerConfig,
    broadcast::{self, BroadcastConfig},
    db::Db,
    push::PushConfig,
    replays::ReplayConfig,
    roster,
};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "lianxiao-server",
    version,
    about = "Lianxiao (联校) reference server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of `Serve` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the JSON API under /v1 (SQLite in the data directory unless DATABASE_URL is set).
    Serve {
        /// Where the SQLite database and files live.
        #[arg(long, default_value = "./lianxiao-data")]
        data_dir: PathBuf,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// PostgreSQL URL (postgres://...); SQLite in the data directory when absent.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Lifetime of access tokens in seconds.
        #[arg(long, env = "LIANXIAO_ACCESS_TTL_SECS", default_value_t = 900)]
        access_ttl_secs: u64,
        /// How long an unfinished upload is kept after its last activity, in seconds.
        #[arg(long, env = "LIANXIAO_UPLOAD_TTL_SECS", default_value_t = lianxiao_protocol::DEFAULT_UPLOAD_TTL_SECS)]
        upload_ttl_secs: u64,
        /// LiveKit server the apps connect to for interactive lessons (wss://...).
        #[arg(long, env = "LIANXIAO_LIVEKIT_URL")]
        livekit_url: Option<String>,
        /// LiveKit's API address for the server (https://...); derived from --livekit-url if absent.
        #[arg(long, env = "LIANXIAO_LIVEKIT_API_URL", default_value = "")]
        livekit_api_url: String,
        #[arg(long, env = "LIVEKIT_API_KEY", default_value = "")]
        livekit_api_key: String,
        #[arg(
            long,
            env = "LIVEKIT_API_SECRET",
            hide_env_values = true,
            default_value = ""
        )]
        livekit_api_secret: String,
        /// How many seconds before a lesson its room opens.
        #[arg(long, env = "LIANXIAO_JOIN_EARLY_SECS", default_value_t = lianxiao_server::app::DEFAULT_JOIN_EARLY_SECS)]
        join_early_secs: u64,
        /// Hours without a sync, realtime connection or accepted push before a parent is listed
        /// for teachers as unreachable (fractions allowed).
        #[arg(long, env = "LIANXIAO_UNREACHABLE_AFTER_HOURS", default_value_t = 72.0)]
        unreachable_after_hours: f64,
        /// Where broadcast lessons' RTMP listeners bind (one ffmpeg per lesson being pushed).
        #[arg(long, env = "LIANXIAO_RTMP_LISTEN", default_value = "0.0.0.0")]
        rtmp_listen: std::net::IpAddr,
        /// Ports for broadcast ingests, one per lesson with an open ingest, e.g. 19350-19449.
        #[arg(long, env = "LIANXIAO_RTMP_PORTS", default_value = "19350-19449", value_parser = broadcast::parse_ports)]
        rtmp_ports: (u16, u16),
        /// Host name encoders push to; the host the teacher's app called when absent.
        #[arg(long, env = "LIANXIAO_RTMP_PUBLIC_HOST")]
        rtmp_public_host: Option<String>,
        /// Where broadcast lessons' SRT listeners bind (UDP, on each lesson's RTMP port
        /// number; the stream key is the passphrase); `off` for no SRT ingest.
        #[arg(long, env = "LIANXIAO_SRT_LISTEN", default_value = "0.0.0.0")]
        srt_listen: String,
        /// Host LiveKit's egress pushes interactive lessons' rooms to (this server's RTMP
        /// ingest as LiveKit reaches it); when set, interactive lessons are on HLS too.
        #[arg(long, env = "LIANXIAO_EGRESS_RTMP_HOST")]
        egress_rtmp_host: Option<String>,
        /// Where LiveKit's egress writes room recordings (a volume shared with this server);
        /// egress files elsewhere, but in the data directory, are refused.
        #[arg(long, env = "LIANXIAO_EGRESS_DIR")]
        egress_dir: Option<PathBuf>,
        /// Length of a broadcast's HLS segments in seconds.
        #[arg(long, env = "LIANXIAO_HLS_SEGMENT_SECS", default_value_t = broadcast::DEFAULT_SEGMENT_SECS)]
        hls_segment_secs: u32,
        /// The ffmpeg that packages broadcasts into HLS.
        #[arg(long, env = "LIANXIAO_FFMPEG", default_value = "ffmpeg")]
        ffmpeg: PathBuf,
        /// The ffprobe that reads uploaded recordings before they are transcoded.
        #[arg(long, env = "LIANXIAO_FFPROBE", default_value = "ffprobe")]
        ffprobe: PathBuf,
        /// How many recordings are transcoded at a time.
        #[arg(long, env = "LIANXIAO_TRANSCODE_JOBS", default_value_t = 1)]
        transcode_jobs: usize,
        /// Transcode recordings at their own speed (ffmpeg -re), leaving CPU to live lessons.
        #[arg(long, env = "LIANXIAO_TRANSCODE_REALTIME", default_value_t = false)]
        transcode_realtime: bool,
        /// End-to-end tests only: serve PUT /v1/test/clock to move the server's clock.
        #[arg(long, env = "LIANXIAO_TEST_CLOCK", hide = true, value_parser = clap::builder::FalseyValueParser::new())]
        test_clock: bool,
    },
    /// Import schools, classes and people from a roster CSV. Nothing is imported if any row is bad.
    ImportRoster {
        #[arg(long, default_value = "./lianxiao-data")]
        data_dir: PathBuf,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// UTF-8 CSV with header school,school_kind,link_group,class,grade,role,login,name,password,subject,child_login
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            data_dir,
            listen,
            database_url,
            access_ttl_secs,
            upload_ttl_secs,
            livekit_url,
            livekit_api_url,
            livekit_api_key,
            livekit_api_secret,
            join_early_secs,
            unreachable_after_hours,
            rtmp_listen,
            rtmp_ports,
            rtmp_public_host,
            srt_listen,
            egress_rtmp_host,
            egress_dir,
            hls_segment_secs,
            ffmpeg,
            ffprobe,
            transcode_jobs,
            transcode_realtime,
            test_clock,
        } => {
            let livekit = match livekit_url.filter(|u| !u.is_empty()) {
                None => None,
                Some(_) if livekit_api_key.is_empty() || livekit_api_secret.is_empty() => {
                    anyhow::bail!(
                        "LIANXIAO_LIVEKIT_URL is set but LIVEKIT_API_KEY or LIVEKIT_API_SECRET is not"
                    )
                }
                Some(url) => Some(LiveKitConfig {
                    url,
                    api_url: livekit_api_url,
                    api_key: livekit_api_key,
                    api_secret: livekit_api_secret,
                }),
            };
            let config = ServerConfig {
                data_dir,
                listen,
                database_url: database_url.filter(|u| !u.is_empty()),
                access_ttl_secs,
                upload_ttl_secs,
                livekit,
                join_early_secs,
                replays: ReplayConfig {
                    ffmpeg: ffmpeg.clone(),
                    ffprobe,
                    jobs: transcode_jobs.max(1),
                    realtime: transcode_realtime,
                },
                push: PushConfig::from_env()?,
                unreachable_after: std::time::Duration::try_from_secs_f64(
                    unreachable_after_hours * 3600.0,
                )
                .map_err(|_| {
                    anyhow::anyhow!(
                        "LIANXIAO_UNREACHABLE_AFTER_HOURS must be a number of hours, 0 or more"
                    )
                })?,
                test_clock,
                limits: lianxiao_server::auth::Limits::from_env()?,
                uploads: lianxiao_server::uploads::UploadLimits::from_env()?,
                broadcast: BroadcastConfig {
                    ffmpeg,
                    rtmp_listen,
                    rtmp_ports,
                    rtmp_public_host: rtmp_public_host.filter(|h| !h.is_empty()),
                    srt_listen: broadcast::parse_srt_listen(&srt_listen)
                        .map_err(|e| anyhow::anyhow!("LIANXIAO_SRT_LISTEN: {e}"))?,
                    egress_rtmp_host: egress_rtmp_host.filter(|h| !h.is_empty()),
                    egress_dir: egress_dir.filter(|d| !d.as_os_str().is_empty()),
                    segment_secs: hls_segment_secs,
                },
            };
            let server = lianxiao_server::start(&config).await?;
            println!("lianxiao-server listening on {}", server.url());
            tracing::info!(addr = %server.addr, database = server.state.db().backend().name(), "serving");
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportRoster {
            data_dir,
            database_url,
            file,
        } => {
            let csv = std::fs::read(&file)?;
            let db = Db::open(&data_dir, database_url.as_deref().filter(|u| !u.is_empty())).await?;
            match roster::import_into(&db, &csv).await {
                Ok((report, _)) => {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("roster not imported: {}", e.body.message);
                    for row in &e.body.rows {
                        let column = row
                            .column
                            .as_deref()
                            .map(|c| format!(" [{c}]"))
                            .unwrap_or_default();
                        eprintln!("  line {}{}: {}", row.line, column, row.reason);
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
