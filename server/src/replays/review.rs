//! 学校审核: a school admin of a school in the lesson (or a county admin) approves a replay
//! for its audience, or rejects it with a reason the teacher sees. A decision can be revised
//! (a rejected replay approved after all, an approved one withdrawn); each change reaches
//! exactly who gains or loses the replay through sync.

use lianxiao_protocol::{Replay, ReplayStatus, ReviewReplay};

use super::{access, store};
use crate::{
    db::{Tx, feed},
    error::{ApiError, ApiResult},
};

pub async fn review(
    tx: &mut Tx,
    caller_id: &str,
    id: &str,
    req: ReviewReplay,
) -> ApiResult<(Replay, i64)> {
    if !access::sees(tx, caller_id, id).await? {
        return Err(ApiError::not_found("replay"));
    }
    if !access::is_reviewer(tx, caller_id, id).await? {
        return Err(ApiError::forbidden(
            "only an admin of a school in the lesson reviews its replays",
        ));
    }
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if !req.approve && reason.is_none() {
        return Err(ApiError::validation(
            "reason",
            "say why the replay is rejected: the teacher sees it",
        ));
    }
    if reason.is_some_and(|r| r.chars().count() > 1000) {
        return Err(ApiError::validation("reason", "at most 1000 characters"));
    }
    let current = store::load(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("replay"))?
        .replay;
    match current.status {
        ReplayStatus::PendingReview | ReplayStatus::Approved | ReplayStatus::Rejected => {}
        ReplayStatus::Processing => {
            return Err(ApiError::conflict("the replay is still being prepared"));
        }
        ReplayStatus::Failed => {
            return Err(ApiError::conflict(
                "a failed recording has nothing to review",
            ));
        }
    }
    store::set_review(tx, id, caller_id, req.approve, reason, req.visibility).await?;
    let seq = feed::next_seq(tx).await?;
    access::publish(tx, seq, id).await?;
    let replay = store::load(tx, id)
        .await?
        .ok_or_else(ApiError::internal)?
        .replay;
    Ok((replay, seq))
}
