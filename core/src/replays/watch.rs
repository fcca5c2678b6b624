//! Watch time and position: the player's progress is written to the store at once (the
//! position) and into the replay's open watch report in the outbox (the time), so it works
//! offline, survives a killed app, and reaches the server once. The outbox seals a report
//! when it sends it; progress after that opens a new one.

use std::sync::Arc;

use lianxiao_protocol::WatchReport;

use super::WatchPlace;
use crate::{
    Error, Result,
    api::now_ms,
    client::Shared,
    store::{self, replays::StoredDownload},
};

/// Longest stretch one call may add: a player reports every few seconds, so more is a bug
/// in the caller (or a clock jump) and is not counted as watching.
const MAX_PLAYED_PER_REPORT_MS: i64 = 10 * 60 * 1000;

pub(super) fn place(p: store::replays::Position) -> WatchPlace {
    WatchPlace {
        position_ms: p.position_ms,
        at: p.at,
        watched_ms: p.server_watched_ms + p.unsent_watched_ms,
        unsent_watched_ms: p.unsent_watched_ms,
    }
}

pub(super) async fn report(
    shared: &Arc<Shared>,
    replay_id: String,
    position_ms: i64,
    played_ms: i64,
) -> Result<()> {
    if position_ms < 0 {
        return Err(Error::Validation {
            field: Some("position_ms".into()),
            message: "a position is not negative".into(),
        });
    }
    if !(0..=MAX_PLAYED_PER_REPORT_MS).contains(&played_ms) {
        return Err(Error::Validation {
            field: Some("played_ms".into()),
            message: "played time is between 0 and 10 minutes per report".into(),
        });
    }
    // Server time, so positions from phones with wrong clocks still order correctly.
    let at = shared.api.clock.now();
    let created = now_ms();
    let queued = shared
        .store
        .write(move |tx| {
            if store::replays::get(tx, &replay_id)?.is_none() {
                return Err(Error::NotFound(format!("replay {replay_id}")));
            }
            // Played from the downloaded copy: offline time (the app does not stream then).
            let offline = store::replays::download(tx, &replay_id)?
                .is_some_and(|d| d.state == StoredDownload::Done);
            let report = WatchReport {
                position_ms,
                watched_ms: played_ms,
                at,
                offline,
            };
            store::replays::record_progress(tx, &replay_id, &report, created)
        })
        .await?;
    if queued {
        shared.outbox_enqueued();
    } else {
        shared.outbox_changed();
    }
    shared.replays_changed();
    Ok(())
}
