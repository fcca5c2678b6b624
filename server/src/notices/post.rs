//! Posting a notice: check the author may reach the audience, resolve recipients into
//! receipts in a few set-based statements, and announce it in the change feed.

use lianxiao_protocol::{EntityKind, ErrorCode, Notice, NoticeAudience, PostNotice, Role};
use sqlx::Row;

use crate::{
    db::{Backend, Tx, feed, new_id, placeholders},
    error::{ApiError, ApiResult},
    org,
};

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 20_000;
const MAX_CLASSES: usize = 500;
/// Pushes queued by one notice past which their table's statistics are refreshed.
const BIG_FAN_OUT: u64 = 5_000;

/// Writes the notice and its receipts; returns it as the author sees it and the feed sequence.
/// `now` is the server clock's (quiet hours and the daily cap go by it).
pub async fn post(
    tx: &mut Tx,
    backend: Backend,
    author_id: &str,
    req: PostNotice,
    now: i64,
) -> ApiResult<(Notice, i64)> {
    let title = req.title.trim();
    let body = req.body.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::validation(
            "title",
            format!("title must be 1 to {MAX_TITLE} characters"),
        ));
    }
    if body.is_empty() || body.chars().count() > MAX_BODY {
        return Err(ApiError::validation(
            "body",
            format!("body must be 1 to {MAX_BODY} characters"),
        ));
    }
    if let Some(deadline) = req.ack_deadline {
        if !req.requires_ack {
            return Err(ApiError::validation(
                "ack_deadline",
                "an acknowledgment deadline needs requires_ack",
            ));
        }
        if deadline <= now {
            return Err(ApiError::validation(
                "ack_deadline",
                "the acknowledgment deadline must be in the future",
            ));
        }
    }

    let notice_id = new_id();
    let label = authorise_and_label(tx, author_id, &req.audience).await?;
    if req.urgent {
        may_mark_urgent(tx, author_id, &req.audience).await?;
    } else if let NoticeAudience::Classes { class_ids } = &req.audience {
        // Whole-school, link-group and county notices come from the admins who set the cap:
        // they count against each class, but only class notices are refused.
        let mut ids = class_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        crate::push::policy::check_cap(tx, backend, &ids, now).await?;
    }
    sqlx::query(
        "INSERT INTO notices (id, author_id, title, body, audience, audience_label, include_students, \
         requires_ack, ack_deadline, posted_at, urgent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&notice_id)
    .bind(author_id)
    .bind(title)
    .bind(body)
    .bind(serde_json::to_string(&req.audience).map_err(anyhow::Error::from)?)
    .bind(&label)
    .bind(req.include_students as i64)
    .bind(req.requires_ack as i64)
    .bind(req.ack_deadline)
    .bind(now)
    .bind(req.urgent as i64)
    .execute(&mut **tx)
    .await?;
    insert_classes(tx, &notice_id, &req.audience).await?;

    // Parents, once per (child, class); then students themselves when asked.
    sqlx::query(
        "INSERT INTO notice_targets (notice_id, user_id, class_id, child_id) \
         SELECT DISTINCT nc.notice_id, p.user_id, s.class_id, s.user_id FROM notice_classes nc \
         JOIN memberships s ON s.class_id = nc.class_id AND s.role = 'student' \
         JOIN memberships p ON p.child_id = s.user_id AND p.role = 'parent' \
         WHERE nc.notice_id = $1",
    )
    .bind(&notice_id)
    .execute(&mut **tx)
    .await?;
    if req.include_students {
        sqlx::query(
            "INSERT INTO notice_targets (notice_id, user_id, class_id, child_id) \
             SELECT DISTINCT nc.notice_id, s.user_id, s.class_id, '' FROM notice_classes nc \
             JOIN memberships s ON s.class_id = nc.class_id AND s.role = 'student' \
             WHERE nc.notice_id = $1",
        )
        .bind(&notice_id)
        .execute(&mut **tx)
        .await?;
    }
    // One receipt per person, however many children the notice concerns.
    sqlx::query(
        "INSERT INTO notice_receipts (notice_id, user_id, role) \
         SELECT notice_id, user_id, MIN(CASE WHEN child_id = '' THEN 'student' ELSE 'parent' END) \
         FROM notice_targets WHERE notice_id = $1 GROUP BY notice_id, user_id",
    )
    .bind(&notice_id)
    .execute(&mut **tx)
    .await?;
    // A push to each recipient's phones, queued with the notice: both or neither.
    let queued = crate::push::queue::enqueue_notice(tx, &notice_id, req.urgent, now).await?;
    if backend == Backend::Postgres && queued >= BIG_FAN_OUT {
        // A county's worth of rows at once: without fresh statistics PostgreSQL plans the
        // sender's claims as scans of the whole queue until autovacuum gets round to it.
        sqlx::query("ANALYZE pushes").execute(&mut **tx).await?;
    }
    // Urgent notices break through parents' settings.
    crate::push::prefs::skip_unwanted_notice(tx, &notice_id, req.urgent, now).await?;

    let seq = feed::next_seq(tx).await?;
    feed::touch_many(
        tx,
        seq,
        EntityKind::Notice,
        &notice_id,
        false,
        "SELECT user_id FROM notice_receipts WHERE notice_id = $3",
        &[&notice_id],
    )
    .await?;
    feed::touch(tx, seq, author_id, EntityKind::Notice, &notice_id, false).await?;
    feed::touch(
        tx,
        seq,
        author_id,
        EntityKind::ReceiptSummary,
        &notice_id,
        false,
    )
    .await?;

    let notice = super::view::load_for_user(tx, author_id, &[notice_id])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    Ok((notice, seq))
}

/// Urgent notices (closures, safety) break through quiet hours, caps and parents' settings, so
/// only admins mark them: a school admin for their own school's classes or the school, a
/// county admin for anything.
async fn may_mark_urgent(tx: &mut Tx, author_id: &str, audience: &NoticeAudience) -> ApiResult<()> {
    if org::has_role(tx, author_id, Role::CountyAdmin, None).await? {
        return Ok(());
    }
    let schools: Vec<String> = match audience {
        NoticeAudience::School { school_id } => vec![school_id.clone()],
        NoticeAudience::Classes { class_ids } => {
            let mut schools = Vec::new();
            for class_id in class_ids {
                if let Some(class) = org::load_class(tx, class_id).await? {
                    schools.push(class.school.id);
                }
            }
            schools
        }
        // Only county admins reach these, and they were let through above.
        NoticeAudience::LinkGroup { .. } | NoticeAudience::County => Vec::new(),
    };
    let mut admin = !schools.is_empty();
    for school in &schools {
        admin &= org::has_role(tx, author_id, Role::SchoolAdmin, Some(school)).await?;
    }
    if admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UrgentNotAllowed,
            "only a school or county admin may mark a notice urgent; post it as a normal notice or ask the school's admin",
        ))
    }
}

/// Checks the author may post to the audience and describes it in words.
async fn authorise_and_label(
    tx: &mut Tx,
    author_id: &str,
    audience: &NoticeAudience,
) -> ApiResult<String> {
    match audience {
        NoticeAudience::Classes { class_ids } => {
            if class_ids.is_empty() || class_ids.len() > MAX_CLASSES {
                return Err(ApiError::validation(
                    "audience.class_ids",
                    format!("name 1 to {MAX_CLASSES} classes"),
                ));
            }
            let teachable = org::teachable_classes(tx, author_id).await?;
            let mut labels = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for class_id in class_ids {
                if !seen.insert(class_id) {
                    continue;
                }
                // Permission before existence: a class the author has no business with
                // answers the same whether or not it exists, so ids cannot be probed.
                if !teachable.contains(class_id) {
                    return Err(ApiError::forbidden(format!(
                        "you do not teach class {class_id}"
                    )));
                }
                let Some(class) = org::load_class(tx, class_id).await? else {
                    return Err(ApiError::validation(
                        "audience.class_ids",
                        format!("class {class_id} does not exist"),
                    ));
                };
                labels.push(format!("{} · {}", class.school.name, class.name));
            }
            Ok(labels.join(", "))
        }
        NoticeAudience::School { school_id } => {
            // Permission first: only a county admin learns that a school does not exist.
            let allowed = org::has_role(tx, author_id, Role::SchoolAdmin, Some(school_id)).await?
                || org::has_role(tx, author_id, Role::CountyAdmin, None).await?;
            if !allowed {
                return Err(ApiError::forbidden(
                    "only the school's admin may post to the whole school",
                ));
            }
            name_of(
                tx,
                "SELECT name FROM schools WHERE id = $1",
                school_id,
                "audience.school_id",
            )
            .await
        }
        NoticeAudience::LinkGroup { link_group_id } => {
            if !org::has_role(tx, author_id, Role::CountyAdmin, None).await? {
                return Err(ApiError::forbidden(
                    "only a county admin may post to a link group",
                ));
            }
            name_of(
                tx,
                "SELECT name FROM link_groups WHERE id = $1",
                link_group_id,
                "audience.link_group_id",
            )
            .await
        }
        NoticeAudience::County => {
            if !org::has_role(tx, author_id, Role::CountyAdmin, None).await? {
                return Err(ApiError::forbidden(
                    "only a county admin may post to the county",
                ));
            }
            Ok("全县 (county)".to_owned())
        }
    }
}

async fn name_of(tx: &mut Tx, sql: &'static str, id: &str, field: &str) -> ApiResult<String> {
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut **tx).await?;
    match row {
        Some(row) => Ok(row.try_get(0)?),
        None => Err(ApiError::validation(
            field,
            format!("{field} does not exist"),
        )),
    }
}

async fn insert_classes(tx: &mut Tx, notice_id: &str, audience: &NoticeAudience) -> ApiResult<()> {
    match audience {
        NoticeAudience::Classes { class_ids } => {
            let mut ids: Vec<&str> = class_ids.iter().map(String::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            let sql = format!(
                "INSERT INTO notice_classes (notice_id, class_id) SELECT $1, id FROM classes WHERE id IN ({})",
                placeholders(2, ids.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(notice_id);
            for id in ids {
                q = q.bind(id);
            }
            q.execute(&mut **tx).await?;
        }
        NoticeAudience::School { school_id } => {
            sqlx::query("INSERT INTO notice_classes (notice_id, class_id) SELECT $1, id FROM classes WHERE school_id = $2")
                .bind(notice_id)
                .bind(school_id)
                .execute(&mut **tx)
                .await?;
        }
        NoticeAudience::LinkGroup { link_group_id } => {
            sqlx::query(
                "INSERT INTO notice_classes (notice_id, class_id) SELECT $1, c.id FROM classes c \
                 JOIN link_group_schools g ON g.school_id = c.school_id WHERE g.link_group_id = $2",
            )
            .bind(notice_id)
            .bind(link_group_id)
            .execute(&mut **tx)
            .await?;
        }
        NoticeAudience::County => {
            sqlx::query("INSERT INTO notice_classes (notice_id, class_id) SELECT $1, id FROM classes WHERE id <> ''")
                .bind(notice_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
