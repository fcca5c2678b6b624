//! Receipts: a recipient reads and acknowledges; the author counts, lists who has not acted,
//! reminds them (at most once an hour) or retracts the notice.

use std::collections::BTreeMap;

use lianxiao_protocol::{
    ClassPending, ClassReceipts, EntityKind, PendingPerson, PersonRef, REMIND_INTERVAL_MS,
    ReceiptAck, ReceiptReport, ReceiptSummary, RemindResult, Role,
};
use sqlx::{AnyConnection, Row};

use crate::{
    db::{Tx, feed, now_ms},
    error::{ApiError, ApiResult},
};

use super::flag;

struct NoticeHead {
    author_id: String,
    requires_ack: bool,
    last_reminded_at: Option<i64>,
}

async fn head(conn: &mut AnyConnection, notice_id: &str) -> sqlx::Result<Option<NoticeHead>> {
    let row = sqlx::query(
        "SELECT author_id, requires_ack, last_reminded_at FROM notices WHERE id = $1 AND retracted_at IS NULL",
    )
    .bind(notice_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(NoticeHead {
            author_id: r.try_get("author_id")?,
            requires_ack: flag(r.try_get("requires_ack")?),
            last_reminded_at: r.try_get("last_reminded_at")?,
        })
    })
    .transpose()
}

/// The notice, if `user_id` wrote it; "not found" for strangers, "forbidden" for recipients.
async fn authored(
    conn: &mut AnyConnection,
    user_id: &str,
    notice_id: &str,
) -> ApiResult<NoticeHead> {
    let head = head(conn, notice_id)
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    if head.author_id == user_id {
        return Ok(head);
    }
    let is_recipient =
        sqlx::query("SELECT 1 FROM notice_receipts WHERE notice_id = $1 AND user_id = $2")
            .bind(notice_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
    if is_recipient {
        Err(ApiError::forbidden(
            "only the notice's author may see its receipts",
        ))
    } else {
        Err(ApiError::not_found("notice"))
    }
}

/// Marks a notice read, or acknowledged (which implies read). Doing it again changes nothing
/// and keeps the first time. Returns the receipt and the feed sequence if anything changed.
pub async fn mark(
    tx: &mut Tx,
    user_id: &str,
    notice_id: &str,
    ack: bool,
) -> ApiResult<(ReceiptAck, Option<i64>)> {
    let head = head(tx, notice_id)
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    let before = sqlx::query(
        "SELECT read_at, acked_at FROM notice_receipts WHERE notice_id = $1 AND user_id = $2",
    )
    .bind(notice_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(before) = before else {
        return Err(if head.author_id == user_id {
            ApiError::forbidden("you are not a recipient of this notice")
        } else {
            ApiError::not_found("notice")
        });
    };
    if ack && !head.requires_ack {
        return Err(ApiError::validation(
            "ack",
            "this notice does not ask for an acknowledgment",
        ));
    }
    let read_at: Option<i64> = before.try_get(0)?;
    let acked_at: Option<i64> = before.try_get(1)?;
    let changes = read_at.is_none() || (ack && acked_at.is_none());
    let mut seq = None;
    if changes {
        let now = now_ms();
        sqlx::query(
            "UPDATE notice_receipts SET read_at = COALESCE(read_at, $1), \
             acked_at = CASE WHEN $2 = 1 THEN COALESCE(acked_at, $1) ELSE acked_at END \
             WHERE notice_id = $3 AND user_id = $4",
        )
        .bind(now)
        .bind(ack as i64)
        .bind(notice_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        let s = feed::next_seq(tx).await?;
        feed::touch(tx, s, user_id, EntityKind::Notice, notice_id, false).await?;
        feed::touch(
            tx,
            s,
            &head.author_id,
            EntityKind::ReceiptSummary,
            notice_id,
            false,
        )
        .await?;
        seq = Some(s);
    }
    let notice = super::view::get(tx, user_id, notice_id).await?;
    let receipt = notice.receipt.ok_or_else(ApiError::internal)?;
    Ok((
        ReceiptAck {
            notice_id: notice_id.to_owned(),
            receipt,
        },
        seq,
    ))
}

/// Counts overall and per class, for the author's devices.
pub async fn summary(
    conn: &mut AnyConnection,
    notice_id: &str,
) -> sqlx::Result<Option<ReceiptSummary>> {
    let Some(head) = head(conn, notice_id).await? else {
        return Ok(None);
    };
    let totals = sqlx::query(
        "SELECT COUNT(*), COUNT(read_at), COUNT(acked_at) FROM notice_receipts WHERE notice_id = $1",
    )
    .bind(notice_id)
    .fetch_one(&mut *conn)
    .await?;
    let classes = sqlx::query(
        "SELECT t.class_id, c.name, s.name, COUNT(DISTINCT t.user_id), \
         COUNT(DISTINCT CASE WHEN r.read_at IS NOT NULL THEN t.user_id END), \
         COUNT(DISTINCT CASE WHEN r.acked_at IS NOT NULL THEN t.user_id END) \
         FROM notice_targets t \
         JOIN notice_receipts r ON r.notice_id = t.notice_id AND r.user_id = t.user_id \
         JOIN classes c ON c.id = t.class_id JOIN schools s ON s.id = c.school_id \
         WHERE t.notice_id = $1 GROUP BY t.class_id, c.name, s.name ORDER BY s.name, c.name",
    )
    .bind(notice_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ClassReceipts {
            class_id: r.try_get(0)?,
            class_name: r.try_get(1)?,
            school_name: r.try_get(2)?,
            recipients: count(r.try_get(3)?),
            read: count(r.try_get(4)?),
            acknowledged: count(r.try_get(5)?),
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Some(ReceiptSummary {
        notice_id: notice_id.to_owned(),
        recipients: count(totals.try_get(0)?),
        read: count(totals.try_get(1)?),
        acknowledged: count(totals.try_get(2)?),
        requires_ack: head.requires_ack,
        last_reminded_at: head.last_reminded_at,
        classes,
    }))
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Counts plus, per class, who has not read and who has not acknowledged.
pub async fn receipt_report(
    conn: &mut AnyConnection,
    user_id: &str,
    notice_id: &str,
) -> ApiResult<ReceiptReport> {
    let head = authored(conn, user_id, notice_id).await?;
    let summary = summary(conn, notice_id)
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    let rows = sqlx::query(
        "SELECT t.class_id, c.name AS class_name, t.user_id, u.name, r.role, t.child_id, cu.name AS child_name, \
         r.read_at, r.acked_at FROM notice_targets t \
         JOIN notice_receipts r ON r.notice_id = t.notice_id AND r.user_id = t.user_id \
         JOIN users u ON u.id = t.user_id JOIN classes c ON c.id = t.class_id \
         LEFT JOIN users cu ON cu.id = t.child_id \
         WHERE t.notice_id = $1 AND (r.read_at IS NULL OR r.acked_at IS NULL) \
         ORDER BY c.name, u.name, t.user_id",
    )
    .bind(notice_id)
    .fetch_all(&mut *conn)
    .await?;
    let reach = crate::push::devices::reach_by_recipient(conn, user_id, notice_id).await?;
    // Every class of the notice is listed, also those where everyone has acted.
    let mut classes: BTreeMap<String, ClassPending> = summary
        .classes
        .iter()
        .map(|c| {
            (
                c.class_id.clone(),
                ClassPending {
                    class_id: c.class_id.clone(),
                    class_name: c.class_name.clone(),
                    not_read: Vec::new(),
                    not_acknowledged: Vec::new(),
                },
            )
        })
        .collect();
    for r in rows {
        let class_id: String = r.try_get("class_id")?;
        let entry = classes
            .entry(class_id.clone())
            .or_insert_with(|| ClassPending {
                class_id,
                class_name: String::new(),
                not_read: Vec::new(),
                not_acknowledged: Vec::new(),
            });
        entry.class_name = r.try_get("class_name")?;
        let person_id: String = r.try_get("user_id")?;
        let child_id: String = r.try_get("child_id")?;
        let child_name: Option<String> = r.try_get("child_name")?;
        let read_at: Option<i64> = r.try_get("read_at")?;
        let acked_at: Option<i64> = r.try_get("acked_at")?;
        let person = || -> sqlx::Result<PendingPerson> {
            Ok(PendingPerson {
                id: person_id.clone(),
                name: r.try_get("name")?,
                role: Role::parse(&r.try_get::<String, _>("role")?).unwrap_or(Role::Parent),
                children: Vec::new(),
                push: reach
                    .get(&person_id)
                    .copied()
                    .unwrap_or(lianxiao_protocol::PushReach::NoDevice),
            })
        };
        let child = (!child_id.is_empty()).then(|| PersonRef {
            id: child_id.clone(),
            name: child_name.clone().unwrap_or_default(),
        });
        let mut lists: Vec<&mut Vec<PendingPerson>> = Vec::new();
        let ClassPending {
            not_read,
            not_acknowledged,
            ..
        } = entry;
        if read_at.is_none() {
            lists.push(not_read);
        }
        if head.requires_ack && acked_at.is_none() {
            lists.push(not_acknowledged);
        }
        for list in lists {
            // A parent of two children in one class is listed once, with both children.
            if list.last().is_none_or(|p| p.id != person_id) {
                list.push(person()?);
            }
            if let (Some(last), Some(child)) = (list.last_mut(), child.clone()) {
                last.children.push(child);
            }
        }
    }
    Ok(ReceiptReport {
        summary,
        classes: classes.into_values().collect(),
    })
}

/// Reminds everyone who has not acted: not acknowledged where an acknowledgment is asked,
/// otherwise not read. At most once an hour per notice, by the server's clock.
pub async fn remind(
    tx: &mut Tx,
    user_id: &str,
    notice_id: &str,
) -> ApiResult<(RemindResult, Option<i64>)> {
    let head = authored(tx, user_id, notice_id).await?;
    let now = now_ms();
    if let Some(last) = head.last_reminded_at {
        let next = last + REMIND_INTERVAL_MS;
        if now < next {
            return Err(ApiError::rate_limited(((next - now) as u64).div_ceil(1000)));
        }
    }
    let pending = if head.requires_ack {
        "acked_at IS NULL"
    } else {
        "read_at IS NULL"
    };
    let reminded = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE notice_receipts SET reminded_at = $1 WHERE notice_id = $2 AND {pending}"
    )))
    .bind(now)
    .bind(notice_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let mut seq = None;
    if reminded > 0 {
        sqlx::query("UPDATE notices SET last_reminded_at = $1 WHERE id = $2")
            .bind(now)
            .bind(notice_id)
            .execute(&mut **tx)
            .await?;
        let s = feed::next_seq(tx).await?;
        feed::touch_many(
            tx,
            s,
            EntityKind::Notice,
            notice_id,
            false,
            &format!("SELECT user_id FROM notice_receipts WHERE notice_id = $3 AND {pending}"),
            &[notice_id],
        )
        .await?;
        feed::touch(tx, s, user_id, EntityKind::ReceiptSummary, notice_id, false).await?;
        seq = Some(s);
    }
    let reminded_at = if reminded > 0 {
        now
    } else {
        head.last_reminded_at.unwrap_or(now)
    };
    Ok((
        RemindResult {
            reminded: count(reminded as i64),
            reminded_at,
            next_allowed_at: if reminded > 0 {
                now + REMIND_INTERVAL_MS
            } else {
                now
            },
        },
        seq,
    ))
}

/// The author withdraws a notice: it disappears from every recipient's phone at their next sync.
pub async fn retract(tx: &mut Tx, user_id: &str, notice_id: &str) -> ApiResult<Option<i64>> {
    authored(tx, user_id, notice_id).await?;
    sqlx::query("UPDATE notices SET retracted_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(notice_id)
        .execute(&mut **tx)
        .await?;
    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Notice,
        notice_id,
        true,
        "SELECT user_id FROM notice_receipts WHERE notice_id = $3",
        &[notice_id],
    )
    .await?;
    feed::touch(tx, seq, user_id, EntityKind::Notice, notice_id, true).await?;
    feed::touch(
        tx,
        seq,
        user_id,
        EntityKind::ReceiptSummary,
        notice_id,
        true,
    )
    .await?;
    Ok(Some(seq))
}
