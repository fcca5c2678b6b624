//! Waiting for work to reach the server: a hand-in (its files through the uploader, then the
//! hand-in through the outbox) with a progress display, and reviews (grade, return,
//! sign-off, with an optional voice file).

use std::time::Duration;

use lianxiao_core::{Client, ClientState, Handin, HandinState, OutboxKind, UploadState};
use tokio::time::Instant;

use crate::{
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::human_bytes,
};

/// How a hand-in ended within the wait.
pub enum HandinEnd {
    Delivered,
    /// Still on this device (files uploading, or the network away): sent later.
    Queued(Handin),
    Rejected(Failure),
}

/// This hand-in's files as the uploader sees them now: (sent, total, retries, all done).
async fn files_progress(client: &Client, handin_id: &str) -> (u64, u64, u32, bool) {
    let list = client.uploads().list().await.unwrap_or_default();
    // The hand-in's files share an upload batch named after its (unique) local id.
    let mine = list
        .iter()
        .filter(|u| u.batch.as_deref().is_some_and(|b| b.ends_with(handin_id)));
    let mut acc = (0, 0, 0, true);
    for u in mine {
        acc.0 += u.sent;
        acc.1 += u.total;
        acc.2 = acc.2.max(u.attempts);
        acc.3 &= matches!(u.state, UploadState::Done | UploadState::Failed);
    }
    acc
}

async fn current(client: &Client, homework_id: &str, handin_id: &str) -> CliResult<Handin> {
    let view = client.homework().get(homework_id.to_owned()).await?;
    view.work
        .into_iter()
        .filter_map(|w| w.handin)
        .find(|h| h.id == handin_id)
        .ok_or_else(|| {
            Failure::new(
                Exit::Other,
                "这次提交在本机找不到了 / the hand-in is no longer on this device",
            )
        })
}

/// Sends a hand-in (the client must be started: the uploader sends its files) until it is
/// delivered, refused, or the wait runs out, showing the upload's progress on stderr.
pub async fn wait_handin(
    ctx: &Context,
    client: &Client,
    homework_id: &str,
    handin_id: &str,
) -> CliResult<HandinEnd> {
    let deadline = ctx.deadline();
    let mut progress = ctx.out.progress("提交中 / handing in");
    let mut next_flush = Instant::now();
    let end = loop {
        let handin = current(client, homework_id, handin_id).await?;
        match handin.state {
            HandinState::Delivered => break HandinEnd::Delivered,
            HandinState::Failed => {
                let failure = ctx
                    .report_rejections(client, Some((OutboxKind::HandIn, Some(handin_id))))
                    .await
                    .unwrap_or_else(|| {
                        Failure::new(
                            Exit::Validation,
                            format!(
                                "被拒绝 / rejected by the server: {}",
                                handin.error.clone().unwrap_or_default()
                            ),
                        )
                    });
                break HandinEnd::Rejected(Failure::new(
                    failure.exit,
                    format!(
                        "{} (作业已放回草稿 / the work is back in the draft)",
                        failure.message
                    ),
                ));
            }
            HandinState::Queued | HandinState::Uploading => {}
        }
        let (sent, total, retries, files_done) = files_progress(client, handin_id).await;
        let message = if !files_done && retries > 0 {
            format!("重试中 / retrying (#{retries})")
        } else if !files_done {
            "上传中 / uploading".to_owned()
        } else {
            "提交中 / handing in".to_owned()
        };
        progress.update(&message, sent, total);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) || client.state() == ClientState::AuthExpired {
            break HandinEnd::Queued(handin);
        }
        // The outbox sends the hand-in once its files are up; nudge it rather than wait
        // out a retry time it set while the network was away.
        if files_done && now >= next_flush {
            let flush = client.flush_outbox();
            let _ = match deadline {
                Some(d) => tokio::time::timeout_at(d, flush).await.ok(),
                None => Some(flush.await),
            };
            next_flush = Instant::now() + Duration::from_millis(500);
            continue;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    progress.finish();
    Ok(end)
}

/// How far a hand-in that stays queued got, for the message.
pub fn queued_note(h: &Handin) -> String {
    if h.total_bytes == 0 {
        String::new()
    } else if h.sent_bytes < h.total_bytes {
        format!(
            " — 已上传 / uploaded {} of {}",
            human_bytes(h.sent_bytes),
            human_bytes(h.total_bytes)
        )
    } else {
        " — 文件已上传 / the files are up".to_owned()
    }
}

/// Delivers a review just queued (a voice file first) within the wait. `done` says whether
/// the store's copy of the submission shows it applied, for when other actions are left.
pub async fn deliver_review(
    ctx: &Context,
    client: &Client,
    submission_id: &str,
    with_voice: bool,
    done: impl Fn(&lianxiao_core::protocol::Submission) -> bool,
) -> Delivery {
    if with_voice {
        ctx.start(client);
    }
    let all_sent = ctx
        .out
        .spin("发送中 / sending…", ctx.flush_until(client, ctx.deadline()))
        .await;
    // The core does not say which review is ours; every review this command's flush was
    // refused is reported, the first as this command's failure.
    if let Some(failure) = ctx
        .report_rejections(client, Some((OutboxKind::Review, None)))
        .await
    {
        return Delivery::Rejected(failure);
    }
    if all_sent {
        return Delivery::Delivered;
    }
    match client.homework().submission(submission_id.to_owned()).await {
        Ok(s) if done(&s) => Delivery::Delivered,
        _ => Delivery::Queued,
    }
}
