//! The push queue's SQL: queue pushes with the event that causes them, claim due ones for a
//! sender, record outcomes, and report them to a notice's author.
//!
//! A push's id is `kind:event:account:device`, so queuing the same event twice (a retried
//! transaction, a repeat) adds nothing: at most one push per event, account and phone.

use lianxiao_protocol::{
    NoticePushes, PushKind, PushOutcome, PushProvider, PushReach, PushState, RecipientPushes,
};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Db, Tx},
    error::{ApiError, ApiResult},
};

/// Queues a push to every registered phone of every recipient of a notice (parents, and
/// students when it includes them), inside the posting transaction. Each push keeps the school
/// of the child it concerns (the first by id when a parent's children are in several: the one
/// a digest names); when it comes due the sender holds it by the quiet hours of every school
/// it concerns ([`concerned_schools`]); urgent ones ignore them.
pub async fn enqueue_notice(
    tx: &mut Tx,
    notice_id: &str,
    urgent: bool,
    now: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO pushes (id, event_kind, event_id, user_id, device_id, provider, urgent, \
         collapse_key, deliver_after, state, attempts, next_attempt_at, created_at, school_id) \
         SELECT 'notice:' || r.notice_id || ':' || r.user_id || ':' || a.device_id, 'notice', \
         r.notice_id, r.user_id, a.device_id, d.provider, $3, 'notice:' || r.notice_id, $2, \
         'queued', 0, $2, $2, \
         (SELECT MIN(c.school_id) FROM notice_targets t JOIN classes c ON c.id = t.class_id \
          WHERE t.notice_id = r.notice_id AND t.user_id = r.user_id) \
         FROM notice_receipts r JOIN device_accounts a ON a.user_id = r.user_id \
         JOIN devices d ON d.id = a.device_id WHERE r.notice_id = $1 \
         ON CONFLICT DO NOTHING",
    )
    .bind(notice_id)
    .bind(now)
    .bind(i64::from(urgent))
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// The phone a claimed push goes to, as registered now.
#[derive(Clone)]
pub struct Target {
    pub provider: PushProvider,
    pub token: String,
}

/// A push claimed by one sender.
pub struct Claimed {
    pub id: String,
    pub kind: PushKind,
    /// `notice`, `homework_graded`, `homework_missing`, `lesson_starting`.
    pub event_kind: String,
    pub event_id: String,
    /// What tapping it opens: the notice, the assignment, the lesson.
    pub item_id: String,
    /// Whose quiet hours and offset apply.
    pub school_id: Option<String>,
    pub created_at: i64,
    pub user_id: String,
    pub device_id: String,
    pub collapse_key: String,
    pub urgent: bool,
    pub attempts: u32,
    claim: String,
    /// `None` when the device has been removed since.
    pub device: Option<Target>,
    /// Whether the account is still signed in on that phone.
    pub linked: bool,
}

impl Claimed {
    /// A UUID derived from the push's id: the same on every attempt, so a provider (and the
    /// phone) can tell a retry from a new push.
    pub fn uuid(&self) -> uuid::Uuid {
        let digest = Sha256::digest(self.id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

/// Claims up to `limit` due pushes for `lease_ms`. The outer conditions are checked again on
/// the row itself, so two instances racing for the same rows on PostgreSQL cannot both win.
pub async fn claim(
    db: &Db,
    claim: &str,
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> sqlx::Result<Vec<Claimed>> {
    let due = "state = 'queued' AND next_attempt_at <= $3 AND deliver_after <= $3 \
               AND (claimed_until IS NULL OR claimed_until < $3)";
    let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE pushes SET claim = $1, claimed_until = $2 WHERE id IN \
         (SELECT id FROM pushes WHERE {due} ORDER BY next_attempt_at LIMIT $4) AND {due}"
    )))
    .bind(claim)
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit as i64)
    .execute(db.pool())
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(Vec::new());
    }
    // The same phone's other due pushes come along, so that a digest holds all of them and
    // no second one follows from the next batch. Driven from the claimed rows through the
    // (user, device) index: a claim costs its batch, not the queue's length. CROSS JOIN makes
    // SQLite keep that order (without statistics it looped over the whole queue instead);
    // PostgreSQL plans it as any inner join. `state || ''` keeps SQLite off the due index for
    // `p`: through it, every claimed row walked every queued push (the 50,000-phone bench's
    // quadratic time on SQLite), where the (user, device) index finds a phone's few.
    sqlx::query(
        "UPDATE pushes SET claim = $1, claimed_until = $2 WHERE id IN \
         (SELECT p.id FROM pushes c CROSS JOIN pushes p WHERE c.claim = $1 \
          AND p.user_id = c.user_id AND p.device_id = c.device_id AND p.state || '' = 'queued' \
          AND p.next_attempt_at <= $3 AND p.deliver_after <= $3 \
          AND (p.claimed_until IS NULL OR p.claimed_until < $3)) \
         AND state = 'queued' AND (claimed_until IS NULL OR claimed_until < $3)",
    )
    .bind(claim)
    .bind(now + lease_ms)
    .bind(now)
    .execute(db.pool())
    .await?;
    let rows = sqlx::query(
        "SELECT p.id, p.event_kind, p.event_id, p.item_id, p.school_id, p.created_at, p.user_id, \
         p.device_id, p.collapse_key, p.urgent, p.attempts, d.provider, d.token, \
         (SELECT COUNT(*) FROM device_accounts a WHERE a.device_id = p.device_id AND a.user_id = p.user_id) AS linked \
         FROM pushes p LEFT JOIN devices d ON d.id = p.device_id WHERE p.claim = $1",
    )
    .bind(claim)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let provider: Option<String> = r.try_get("provider")?;
        let token: Option<String> = r.try_get("token")?;
        let device = match (provider.as_deref().and_then(PushProvider::parse), token) {
            (Some(provider), Some(token)) => Some(Target { provider, token }),
            _ => None,
        };
        let event_kind: String = r.try_get("event_kind")?;
        let event_id: String = r.try_get("event_id")?;
        out.push(Claimed {
            id: r.try_get("id")?,
            kind: kind_of(&event_kind),
            event_kind,
            item_id: r
                .try_get::<Option<String>, _>("item_id")?
                .unwrap_or_else(|| event_id.clone()),
            event_id,
            school_id: r.try_get("school_id")?,
            created_at: r.try_get("created_at")?,
            user_id: r.try_get("user_id")?,
            device_id: r.try_get("device_id")?,
            collapse_key: r.try_get("collapse_key")?,
            urgent: r.try_get::<i64, _>("urgent")? != 0,
            attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
            claim: claim.to_owned(),
            device,
            linked: r.try_get::<i64, _>("linked")? > 0,
        });
    }
    Ok(out)
}

/// The screen a push opens, by the event that caused it.
fn kind_of(event_kind: &str) -> PushKind {
    match event_kind {
        "homework_graded" | "homework_missing" => PushKind::Homework,
        "lesson_starting" => PushKind::Lesson,
        other => PushKind::parse(other).unwrap_or(PushKind::Notice),
    }
}

/// What a push says, read when it is sent (a notice retracted meanwhile is not pushed).
pub struct Content {
    pub title: String,
    pub body: String,
    /// The account's unread count.
    pub badge: u32,
}

/// Longest preview of a notice's body in a push.
const PREVIEW_CHARS: usize = 80;

pub async fn content(db: &Db, push: &Claimed) -> sqlx::Result<Option<Content>> {
    if push.kind != PushKind::Notice {
        let Some((title, body)) = super::schedule::content(db, push).await? else {
            return Ok(None);
        };
        return Ok(Some(Content {
            title,
            body,
            badge: badge(db, &push.user_id).await?,
        }));
    }
    match push.kind {
        PushKind::Notice => {
            let Some(row) = sqlx::query(
                "SELECT title, body FROM notices WHERE id = $1 AND retracted_at IS NULL",
            )
            .bind(&push.event_id)
            .fetch_optional(db.pool())
            .await?
            else {
                return Ok(None);
            };
            let body: String = row.try_get("body")?;
            Ok(Some(Content {
                title: row.try_get("title")?,
                body: preview(&body),
                badge: badge(db, &push.user_id).await?,
            }))
        }
        PushKind::Homework | PushKind::Lesson => Ok(None),
    }
}

/// The account's unread notices.
pub async fn badge(db: &Db, user_id: &str) -> sqlx::Result<u32> {
    let badge: i64 = sqlx::query(
        "SELECT COUNT(*) FROM notice_receipts r JOIN notices n ON n.id = r.notice_id \
         WHERE r.user_id = $1 AND r.read_at IS NULL AND n.retracted_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?
    .try_get(0)?;
    Ok(u32::try_from(badge).unwrap_or(u32::MAX))
}

/// The school's name, for a digest's title.
pub async fn school_name(db: &Db, school_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query("SELECT name FROM schools WHERE id = $1")
        .bind(school_id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}

/// The schools each claimed notice or lesson push is about, by push id: for a parent, the
/// schools of the children it concerns (a county notice to a parent of children in two
/// schools is about both); for a student, their own. Read from the roster as it is now;
/// driven from the claimed rows (CROSS JOIN keeps SQLite's join order, as in [`claim`]).
/// Other pushes are about one child, whose school they keep.
pub async fn concerned_schools(
    db: &Db,
    claim: &str,
) -> sqlx::Result<std::collections::HashMap<String, Vec<String>>> {
    let rows = sqlx::query(
        "SELECT p.id, c.school_id FROM pushes p CROSS JOIN notice_targets t \
         CROSS JOIN classes c WHERE p.claim = $1 AND p.event_kind = 'notice' AND p.urgent = 0 \
         AND t.user_id = p.user_id AND t.notice_id = p.event_id AND c.id = t.class_id \
         UNION SELECT p.id, c.school_id FROM pushes p CROSS JOIN memberships s \
         CROSS JOIN lesson_classes lc CROSS JOIN classes c WHERE p.claim = $1 \
         AND p.event_kind = 'lesson_starting' AND s.user_id = p.user_id AND s.role = 'student' \
         AND lc.lesson_id = p.item_id AND lc.class_id = s.class_id AND c.id = lc.class_id \
         UNION SELECT p.id, c.school_id FROM pushes p CROSS JOIN memberships m \
         CROSS JOIN memberships s CROSS JOIN lesson_classes lc CROSS JOIN classes c \
         WHERE p.claim = $1 AND p.event_kind = 'lesson_starting' AND m.user_id = p.user_id \
         AND m.role = 'parent' AND s.user_id = m.child_id AND s.role = 'student' \
         AND lc.lesson_id = p.item_id AND lc.class_id = s.class_id AND c.id = lc.class_id",
    )
    .bind(claim)
    .fetch_all(db.pool())
    .await?;
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for r in rows {
        out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(out)
}

/// Puts claimed pushes back until `at` (quiet hours, the digest window).
pub async fn defer(db: &Db, claim: &str, ids: &[&str], at: i64) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE pushes SET deliver_after = $1, claim = NULL, claimed_until = NULL \
         WHERE claim = $2 AND id IN ({})",
        crate::db::placeholders(3, ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at).bind(claim);
    for id in ids {
        q = q.bind(*id);
    }
    q.execute(db.pool()).await?;
    Ok(())
}

/// When each phone of a claim last got a non-urgent push, if at `since` or later: the digest
/// window starts there.
pub async fn last_sent(
    db: &Db,
    claim: &str,
    since: i64,
) -> sqlx::Result<std::collections::HashMap<(String, String), i64>> {
    let rows = sqlx::query(
        "SELECT c.user_id, c.device_id, MAX(p.finished_at) AS at FROM pushes c \
         CROSS JOIN pushes p WHERE c.claim = $1 AND p.user_id = c.user_id \
         AND p.device_id = c.device_id AND p.state = 'sent' AND p.urgent = 0 AND p.finished_at >= $2 \
         GROUP BY c.user_id, c.device_id",
    )
    .bind(claim)
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        out.insert(
            (r.try_get("user_id")?, r.try_get("device_id")?),
            r.try_get::<i64, _>("at")?,
        );
    }
    Ok(out)
}

/// The pushes a digest carried besides the one it was sent as: sent with it.
pub async fn finish_carried(
    db: &Db,
    lead: &Claimed,
    carried: &[&Claimed],
    now: i64,
) -> sqlx::Result<()> {
    if carried.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE pushes SET state = 'sent', reason = 'digest', digest_of = $1, finished_at = $2, \
         attempts = attempts + 1, claim = NULL, claimed_until = NULL \
         WHERE claim = $3 AND id IN ({})",
        crate::db::placeholders(4, carried.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&lead.id)
        .bind(now)
        .bind(&lead.claim);
    for p in carried {
        q = q.bind(&p.id);
    }
    q.execute(db.pool()).await?;
    Ok(())
}

impl Claimed {
    /// The claim this push was taken under.
    pub fn claim(&self) -> &str {
        &self.claim
    }
}

fn preview(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        flat
    } else {
        let mut cut: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// Records a final outcome (sent, failed, skipped) and lets go of the claim.
pub async fn finish(
    db: &Db,
    push: &Claimed,
    state: PushState,
    reason: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    let provider = push.device.as_ref().map(|d| d.provider.as_str());
    sqlx::query(
        "UPDATE pushes SET state = $1, reason = $2, finished_at = $3, attempts = attempts + $4, \
         provider = COALESCE($5, provider), claim = NULL, claimed_until = NULL \
         WHERE id = $6 AND claim = $7",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(now)
    .bind(i64::from(state != PushState::Skipped))
    .bind(provider)
    .bind(&push.id)
    .bind(&push.claim)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A push a provider accepted, to be written as sent.
pub struct SentRecord {
    id: String,
    claim: String,
    provider: Option<&'static str>,
    at: i64,
}

impl SentRecord {
    pub fn of(push: &Claimed, at: i64) -> SentRecord {
        SentRecord {
            id: push.id.clone(),
            claim: push.claim.clone(),
            provider: push.device.as_ref().map(|d| d.provider.as_str()),
            at,
        }
    }
}

/// Records pushes as sent, in one transaction (what [`finish`] does for one).
pub async fn finish_sent(db: &Db, sent: &[SentRecord]) -> sqlx::Result<()> {
    let mut tx = db.begin_write().await?;
    for s in sent {
        sqlx::query(
            "UPDATE pushes SET state = 'sent', reason = NULL, finished_at = $1, \
             attempts = attempts + 1, provider = COALESCE($2, provider), claim = NULL, \
             claimed_until = NULL WHERE id = $3 AND claim = $4",
        )
        .bind(s.at)
        .bind(s.provider)
        .bind(&s.id)
        .bind(&s.claim)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Puts a push back in the queue until `at`.
pub async fn retry(db: &Db, push: &Claimed, at: i64, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE pushes SET attempts = attempts + 1, next_attempt_at = $1, reason = $2, \
         claim = NULL, claimed_until = NULL WHERE id = $3 AND claim = $4",
    )
    .bind(at)
    .bind(reason)
    .bind(&push.id)
    .bind(&push.claim)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The provider said the token is dead: the device goes (unless it registered a new token
/// meanwhile), with every account's link to it, and the push records why.
pub async fn remove_device(db: &Db, push: &Claimed, reason: &str, now: i64) -> sqlx::Result<()> {
    let token = push.device.as_ref().map(|d| d.token.as_str()).unwrap_or("");
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "DELETE FROM device_accounts WHERE device_id = $1 \
         AND EXISTS (SELECT 1 FROM devices WHERE id = $1 AND token = $2)",
    )
    .bind(&push.device_id)
    .bind(token)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM devices WHERE id = $1 AND token = $2")
        .bind(&push.device_id)
        .bind(token)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE pushes SET state = 'device_removed', reason = $1, finished_at = $2, \
         attempts = attempts + 1, claim = NULL, claimed_until = NULL WHERE id = $3 AND claim = $4",
    )
    .bind(reason)
    .bind(now)
    .bind(&push.id)
    .bind(&push.claim)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// For the notice's author: each recipient's pushes and how far they got.
pub async fn notice_pushes(
    conn: &mut AnyConnection,
    user_id: &str,
    notice_id: &str,
) -> ApiResult<NoticePushes> {
    let author: Option<String> =
        sqlx::query("SELECT author_id FROM notices WHERE id = $1 AND retracted_at IS NULL")
            .bind(notice_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
    match author {
        None => return Err(ApiError::not_found("notice")),
        Some(author) if author != user_id => {
            return Err(ApiError::not_found("notice"));
        }
        Some(_) => {}
    }
    let rows = sqlx::query(
        "SELECT r.user_id, p.device_id, p.provider, p.state, p.attempts, p.reason, p.finished_at \
         FROM notice_receipts r LEFT JOIN pushes p ON p.event_kind = 'notice' \
         AND p.event_id = r.notice_id AND p.user_id = r.user_id \
         WHERE r.notice_id = $1 ORDER BY r.user_id, p.device_id",
    )
    .bind(notice_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut recipients: Vec<RecipientPushes> = Vec::new();
    for r in rows {
        let user: String = r.try_get("user_id")?;
        if recipients.last().is_none_or(|p| p.user_id != user) {
            recipients.push(RecipientPushes {
                user_id: user,
                reach: PushReach::NoDevice,
                pushes: Vec::new(),
            });
        }
        let Some(device_id) = r.try_get::<Option<String>, _>("device_id")? else {
            continue;
        };
        let provider: String = r.try_get("provider")?;
        let state: String = r.try_get("state")?;
        let entry = recipients.last_mut().ok_or_else(ApiError::internal)?;
        entry.pushes.push(PushOutcome {
            device_id,
            provider: PushProvider::parse(&provider).unwrap_or(PushProvider::Log),
            state: PushState::parse(&state).unwrap_or(PushState::Failed),
            attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
            reason: r.try_get("reason")?,
            finished_at: r.try_get("finished_at")?,
        });
    }
    for r in &mut recipients {
        r.reach = reach(&r.pushes);
    }
    Ok(NoticePushes {
        notice_id: notice_id.to_owned(),
        recipients,
    })
}

fn reach(pushes: &[PushOutcome]) -> PushReach {
    if pushes.is_empty() {
        PushReach::NoDevice
    } else if pushes.iter().any(|p| p.state == PushState::Sent) {
        PushReach::Delivered
    } else if pushes.iter().any(|p| p.state == PushState::Queued) {
        PushReach::Pending
    } else {
        PushReach::NotDelivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_line_and_short() {
        assert_eq!(preview("明天\n  春游"), "明天 春游");
        let long = "字".repeat(200);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.ends_with('…'));
    }
}
