//! Applying checked roster rows: look up what exists, check what only the database can tell
//! (a parent's child must be a student, in the file or imported before, and in the class the
//! row names; a new person needs a password), hash passwords outside the transaction, then
//! write everything at once and announce it to the people it concerns. The database is asked
//! about the rows that passed on their own even when others did not, so a file's problems all
//! come back in one answer. Importing the same file again finds nothing to do and writes
//! nothing.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, stream};
use lianxiao_protocol::{EntityKind, Role, RosterReport, RosterRowError, SchoolKind};
use sqlx::Row;

use super::parse::{ReadRoster, RosterRow, read_roster};
use crate::{
    app::AppState,
    auth::password,
    db::{Db, Tx, feed, new_id, now_ms, placeholders},
    error::{ApiError, ApiResult},
    org,
};

struct Existing {
    id: String,
    name: String,
    hash: String,
}

/// Imports through a running server and tells connected devices.
pub async fn import(state: &AppState, csv: &[u8]) -> ApiResult<RosterReport> {
    let (report, seq) = import_into(state.db(), csv).await?;
    if let Some(seq) = seq {
        state.hub().committed(state.db().backend(), seq);
    }
    Ok(report)
}

/// Imports into a database; returns the report and the feed sequence if anything changed.
pub async fn import_into(db: &Db, csv: &[u8]) -> ApiResult<(RosterReport, Option<i64>)> {
    let ReadRoster {
        rows,
        mut errors,
        refused_logins,
    } = read_roster(csv);
    // Parents' children too: a file of parent rows alone links children imported before.
    let logins: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| std::iter::once(r.login.as_str()).chain(r.child_login.as_deref()))
        .collect();
    let existing = existing_people(db, &logins).await?;
    let found = check_against_database(db, &rows, &existing, &refused_logins).await?;
    // One problem per cell: what the file showed already is not said twice.
    let shown: BTreeSet<(u64, Option<String>)> =
        errors.iter().map(|e| (e.line, e.column.clone())).collect();
    errors.extend(
        found
            .into_iter()
            .filter(|e| !shown.contains(&(e.line, e.column.clone()))),
    );
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(ApiError::roster(errors));
    }
    let hashes = new_password_hashes(&rows, &existing).await?;

    let mut report = RosterReport {
        rows: rows.len() as u64,
        ..RosterReport::default()
    };
    let mut tx = db.begin_write().await?;
    let mut affected: BTreeSet<String> = BTreeSet::new();
    let mut changed_classes: BTreeSet<String> = BTreeSet::new();
    let mut changed_groups: BTreeSet<String> = BTreeSet::new();

    let mut schools: HashMap<String, String> = HashMap::new();
    let mut classes: HashMap<(String, String), String> = HashMap::new();
    for row in &rows {
        let (Some(school), Some(kind)) = (&row.school, row.school_kind) else {
            continue;
        };
        if !schools.contains_key(school) {
            let id = ensure_school(&mut tx, school, kind, &mut report).await?;
            schools.insert(school.clone(), id);
        }
        let school_id = schools[school].clone();
        if let Some(group) = &row.link_group
            && let Some(group_id) = ensure_link(&mut tx, group, &school_id, &mut report).await?
        {
            changed_groups.insert(group_id);
        }
        if let (Some(class), Some(grade)) = (&row.class, &row.grade) {
            let key = (school_id.clone(), class.clone());
            if let std::collections::hash_map::Entry::Vacant(e) = classes.entry(key) {
                let (id, updated) =
                    ensure_class(&mut tx, &school_id, class, grade, &mut report).await?;
                if updated {
                    changed_classes.insert(id.clone());
                }
                e.insert(id);
            }
        }
    }

    // People: create, rename, or set a new password.
    let mut user_ids: HashMap<String, String> = existing
        .iter()
        .map(|(l, e)| (l.clone(), e.id.clone()))
        .collect();
    let now = now_ms();
    let mut seen = BTreeSet::new();
    let mut phones: HashMap<&str, &str> = HashMap::new();
    for row in &rows {
        // A phone number on any of the person's rows (the last one given wins).
        if let Some(phone) = &row.phone {
            phones.insert(row.login.as_str(), phone.as_str());
        }
        if !seen.insert(row.login.as_str()) {
            continue;
        }
        match existing.get(&row.login) {
            None => {
                let id = new_id();
                sqlx::query(
                    "INSERT INTO users (id, login, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(&id)
                .bind(&row.login)
                .bind(&row.name)
                .bind(hashes.get(&row.login).ok_or_else(ApiError::internal)?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                report.people_created += 1;
                affected.insert(id.clone());
                user_ids.insert(row.login.clone(), id);
            }
            Some(person) => {
                let new_hash = hashes.get(&row.login);
                if person.name != row.name || new_hash.is_some() {
                    sqlx::query("UPDATE users SET name = $1, password_hash = $2, updated_at = $3 WHERE id = $4")
                        .bind(&row.name)
                        .bind(new_hash.unwrap_or(&person.hash))
                        .bind(now)
                        .bind(&person.id)
                        .execute(&mut *tx)
                        .await?;
                    if new_hash.is_some() {
                        // A new password ends every session: the old tokens stop working.
                        crate::auth::end_all_sessions(&mut tx, db.backend(), &person.id).await?;
                    }
                    report.people_updated += 1;
                    affected.insert(person.id.clone());
                }
            }
        }
    }

    // Phone numbers, for a teacher to call a parent the app cannot reach; a new number is an
    // update of the person (nothing any phone syncs).
    for (login, phone) in phones {
        let id = &user_ids[login];
        let changed = sqlx::query(
            "UPDATE users SET phone = $1 WHERE id = $2 AND (phone IS NULL OR phone <> $1)",
        )
        .bind(phone)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 && !affected.contains(id) {
            report.people_updated += 1;
        }
    }

    // Students first, so parents' links see each child's class.
    let mut ordered: Vec<&RosterRow> = rows.iter().collect();
    ordered.sort_by_key(|r| r.role != Role::Student);
    for row in ordered {
        let user_id = user_ids[&row.login].clone();
        // A parent row's school only places the child (checked above): it may name a school
        // no row of this file describes.
        let school_id = match row.role {
            Role::Parent | Role::CountyAdmin => String::new(),
            _ => row
                .school
                .as_ref()
                .map(|s| schools[s].clone())
                .unwrap_or_default(),
        };
        let class_id = match (&row.class, row.role) {
            (Some(class), Role::Teacher | Role::Assistant | Role::Student) => {
                classes[&(school_id.clone(), class.clone())].clone()
            }
            _ => String::new(),
        };
        let (school_id, subject, child_id) = match row.role {
            Role::Teacher | Role::Assistant => (
                school_id,
                row.subject.clone().unwrap_or_default(),
                String::new(),
            ),
            Role::Student => (school_id, String::new(), String::new()),
            Role::SchoolAdmin => (school_id, String::new(), String::new()),
            Role::CountyAdmin => (String::new(), String::new(), String::new()),
            Role::Parent => {
                let child = row
                    .child_login
                    .as_ref()
                    .and_then(|l| user_ids.get(l))
                    .cloned()
                    .unwrap_or_default();
                (String::new(), String::new(), child)
            }
        };
        if row.role == Role::Student {
            // A student is in one class: moving them removes the old membership.
            let moved = sqlx::query(
                "DELETE FROM memberships WHERE user_id = $1 AND role = 'student' AND class_id <> $2",
            )
            .bind(&user_id)
            .bind(&class_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved > 0 {
                report.people_updated += 1;
            }
        }
        let created = sqlx::query(
            "INSERT INTO memberships (user_id, role, school_id, class_id, subject, child_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&user_id)
        .bind(row.role.as_str())
        .bind(&school_id)
        .bind(&class_id)
        .bind(&subject)
        .bind(&child_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if created > 0 {
            report.memberships_created += 1;
            affected.insert(user_id.clone());
            if row.role == Role::Student {
                // Their parents now see another class.
                affected.extend(parents_of(&mut tx, &user_id).await?);
            }
        }
    }

    if report.changed_nothing() {
        tx.rollback().await?;
        return Ok((report, None));
    }
    let seq = feed::next_seq(&mut tx).await?;
    for class_id in &changed_classes {
        announce_to_viewers(&mut tx, seq, EntityKind::Class, class_id).await?;
    }
    for group_id in &changed_groups {
        announce_to_viewers(&mut tx, seq, EntityKind::LinkGroup, group_id).await?;
    }
    for user_id in &affected {
        org::refresh_feed(&mut tx, seq, user_id).await?;
    }
    feed::announce(&mut tx, db.backend(), seq).await?;
    tx.commit().await?;
    Ok((report, Some(seq)))
}

async fn existing_people(db: &Db, logins: &BTreeSet<&str>) -> ApiResult<HashMap<String, Existing>> {
    let mut out = HashMap::new();
    let logins: Vec<&str> = logins.iter().copied().collect();
    for chunk in logins.chunks(500) {
        let sql = format!(
            "SELECT id, login, name, password_hash FROM users WHERE login IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for login in chunk {
            q = q.bind(*login);
        }
        for r in q.fetch_all(db.pool()).await? {
            out.insert(
                r.try_get("login")?,
                Existing {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    hash: r.try_get("password_hash")?,
                },
            );
        }
    }
    Ok(out)
}

/// What only the database can tell: new people need a password, a parent's child must be a
/// student (in this file or already, and then in the school and class the row names), a
/// school keeps its kind. Logins of rows refused on their own are not looked into.
async fn check_against_database(
    db: &Db,
    rows: &[RosterRow],
    existing: &HashMap<String, Existing>,
    refused_logins: &BTreeSet<String>,
) -> ApiResult<Vec<RosterRowError>> {
    let mut errors = Vec::new();
    let with_password: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.password.is_some())
        .map(|r| r.login.as_str())
        .collect();
    let students_in_file: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.role == Role::Student)
        .map(|r| r.login.as_str())
        .collect();
    let mut reported = BTreeSet::new();
    let mut conn = db.pool().acquire().await?;
    let mut school_kinds: HashMap<String, Option<String>> = HashMap::new();
    // Child login → the (school, class) they are a student in, `None` when not a student.
    let mut placed: HashMap<&str, Option<(String, String)>> = HashMap::new();
    for row in rows {
        if !existing.contains_key(&row.login)
            && !with_password.contains(row.login.as_str())
            && !refused_logins.contains(&row.login)
            && reported.insert(&row.login)
        {
            errors.push(row_error(
                row.line,
                "password",
                format!("login {} is new and needs a password", row.login),
            ));
        }
        if let Some(child) = row.child_login.as_deref()
            && !students_in_file.contains(child)
            && !refused_logins.contains(child)
        {
            // The file says nothing of this child (the parse checked those it does).
            if !placed.contains_key(child) {
                let place = match existing.get(child) {
                    Some(person) => student_place(&mut conn, &person.id).await?,
                    None => None,
                };
                placed.insert(child, place);
            }
            match &placed[child] {
                None => errors.push(row_error(
                    row.line,
                    "child_login",
                    format!(
                        "child_login {child} is not a student in this file or already imported"
                    ),
                )),
                Some((school, class)) => {
                    if row.school.as_ref().is_some_and(|s| s != school) {
                        errors.push(row_error(
                            row.line,
                            "school",
                            format!("student {child} is in school {school}"),
                        ));
                    } else if row.class.as_ref().is_some_and(|c| c != class) {
                        errors.push(row_error(
                            row.line,
                            "class",
                            format!("student {child} is in class {class}"),
                        ));
                    }
                }
            }
        }
        if let (Some(school), Some(kind)) = (&row.school, row.school_kind) {
            if !school_kinds.contains_key(school) {
                let stored = sqlx::query("SELECT kind FROM schools WHERE name = $1")
                    .bind(school)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get::<String, _>(0))
                    .transpose()?;
                school_kinds.insert(school.clone(), stored);
            }
            if let Some(Some(stored)) = school_kinds.get(school)
                && stored != kind.as_str()
            {
                errors.push(row_error(
                    row.line,
                    "school_kind",
                    format!("school {school} already exists as {stored}"),
                ));
            }
        }
    }
    Ok(errors)
}

/// The school and class (by name) a person is a student in; `None` for someone who is not.
async fn student_place(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
) -> ApiResult<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT s.name AS school, c.name AS class FROM memberships m \
         JOIN classes c ON c.id = m.class_id JOIN schools s ON s.id = c.school_id \
         WHERE m.user_id = $1 AND m.role = 'student' ORDER BY c.id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("school")?, r.try_get("class")?)),
        None => None,
    })
}

fn row_error(line: u64, column: &str, reason: String) -> RosterRowError {
    RosterRowError {
        line,
        column: Some(column.to_owned()),
        reason,
    }
}

/// Hashes for new people and for existing people whose given password differs from theirs.
async fn new_password_hashes(
    rows: &[RosterRow],
    existing: &HashMap<String, Existing>,
) -> ApiResult<HashMap<String, String>> {
    let mut wanted: HashMap<String, (String, Option<String>)> = HashMap::new();
    for row in rows {
        if let Some(pw) = &row.password {
            wanted
                .entry(row.login.clone())
                .or_insert_with(|| (pw.clone(), existing.get(&row.login).map(|e| e.hash.clone())));
        }
    }
    let results: Vec<anyhow::Result<Option<(String, String)>>> = stream::iter(wanted)
        .map(|(login, (pw, current))| async move {
            if let Some(current) = current
                && password::verify(&pw, &current).await
            {
                return Ok(None);
            }
            Ok(Some((login, password::hash(pw).await?)))
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut out = HashMap::new();
    for r in results {
        if let Some((login, hash)) = r? {
            out.insert(login, hash);
        }
    }
    Ok(out)
}

async fn ensure_school(
    tx: &mut Tx,
    name: &str,
    kind: SchoolKind,
    report: &mut RosterReport,
) -> ApiResult<String> {
    if let Some(r) = sqlx::query("SELECT id FROM schools WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
    {
        return Ok(r.try_get(0)?);
    }
    let id = new_id();
    sqlx::query("INSERT INTO schools (id, name, kind, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(kind.as_str())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    report.schools_created += 1;
    Ok(id)
}

/// Puts a school in a link group; returns the group's id when that changed the group.
async fn ensure_link(
    tx: &mut Tx,
    group: &str,
    school_id: &str,
    report: &mut RosterReport,
) -> ApiResult<Option<String>> {
    let group_id = match sqlx::query("SELECT id FROM link_groups WHERE name = $1")
        .bind(group)
        .fetch_optional(&mut **tx)
        .await?
    {
        Some(r) => r.try_get(0)?,
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO link_groups (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(group)
                .bind(now_ms())
                .execute(&mut **tx)
                .await?;
            report.link_groups_created += 1;
            id
        }
    };
    let linked = sqlx::query(
        "INSERT INTO link_group_schools (link_group_id, school_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(&group_id)
    .bind(school_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    report.school_links_created += linked;
    Ok((linked > 0).then_some(group_id))
}

/// Returns the class id and whether an existing class's grade changed.
async fn ensure_class(
    tx: &mut Tx,
    school_id: &str,
    name: &str,
    grade: &str,
    report: &mut RosterReport,
) -> ApiResult<(String, bool)> {
    if let Some(r) = sqlx::query("SELECT id, grade FROM classes WHERE school_id = $1 AND name = $2")
        .bind(school_id)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
    {
        let id: String = r.try_get(0)?;
        let stored: String = r.try_get(1)?;
        if stored != grade {
            sqlx::query("UPDATE classes SET grade = $1 WHERE id = $2")
                .bind(grade)
                .bind(&id)
                .execute(&mut **tx)
                .await?;
            report.classes_updated += 1;
            return Ok((id, true));
        }
        return Ok((id, false));
    }
    let id = new_id();
    sqlx::query("INSERT INTO classes (id, school_id, name, grade) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(school_id)
        .bind(name)
        .bind(grade)
        .execute(&mut **tx)
        .await?;
    report.classes_created += 1;
    Ok((id, false))
}

async fn parents_of(tx: &mut Tx, student_id: &str) -> ApiResult<Vec<String>> {
    Ok(
        sqlx::query("SELECT user_id FROM memberships WHERE role = 'parent' AND child_id = $1")
            .bind(student_id)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<Vec<String>>>()?,
    )
}

/// Re-announces a changed class or link group to everyone who already sees it.
async fn announce_to_viewers(tx: &mut Tx, seq: i64, kind: EntityKind, id: &str) -> ApiResult<()> {
    let viewers: Vec<String> =
        sqlx::query("SELECT user_id FROM feed WHERE kind = $1 AND entity_id = $2 AND removed = 0")
            .bind(kind.as_str())
            .bind(id)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|r| r.try_get(0))
            .collect::<sqlx::Result<_>>()?;
    for user in viewers {
        feed::touch(tx, seq, &user, kind, id, false).await?;
    }
    Ok(())
}
