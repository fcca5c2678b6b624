//! The organisation as the database holds it: people, memberships, schools, classes, link
//! groups, and what each person can see of them. All SQL about these lives here.

use std::collections::BTreeSet;

use lianxiao_protocol::{
    Child, ClassInfo, EntityKind, LinkGroup, Membership, Role, School, SchoolKind, User,
};
use sqlx::{AnyConnection, Row};

use crate::db::{Tx, feed};

pub async fn load_user(pool: &sqlx::AnyPool, user_id: &str) -> sqlx::Result<Option<User>> {
    let mut conn = pool.acquire().await?;
    load_user_conn(&mut conn, user_id).await
}

pub async fn load_user_conn(conn: &mut AnyConnection, user_id: &str) -> sqlx::Result<Option<User>> {
    let Some(row) = sqlx::query("SELECT id, login, name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT role, school_id, class_id, subject, child_id FROM memberships WHERE user_id = $1 \
         ORDER BY role, school_id, class_id, subject, child_id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
    let mut memberships = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(role) = Role::parse(&r.try_get::<String, _>("role")?) else {
            continue;
        };
        memberships.push(Membership {
            role,
            school_id: none_if_empty(r.try_get("school_id")?),
            class_id: none_if_empty(r.try_get("class_id")?),
            subject: none_if_empty(r.try_get("subject")?),
            child_id: none_if_empty(r.try_get("child_id")?),
        });
    }
    Ok(Some(User {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        name: row.try_get("name")?,
        memberships,
    }))
}

pub async fn load_class(
    conn: &mut AnyConnection,
    class_id: &str,
) -> sqlx::Result<Option<ClassInfo>> {
    let row = sqlx::query(
        "SELECT c.id, c.name, c.grade, s.id AS school_id, s.name AS school_name, s.kind \
         FROM classes c JOIN schools s ON s.id = c.school_id WHERE c.id = $1",
    )
    .bind(class_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ClassInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        grade: row.try_get("grade")?,
        school: School {
            id: row.try_get("school_id")?,
            name: row.try_get("school_name")?,
            kind: SchoolKind::parse(&row.try_get::<String, _>("kind")?)
                .unwrap_or(SchoolKind::Branch),
        },
    }))
}

pub async fn load_link_group(
    conn: &mut AnyConnection,
    id: &str,
) -> sqlx::Result<Option<LinkGroup>> {
    let Some(row) = sqlx::query("SELECT id, name FROM link_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let schools = sqlx::query(
        "SELECT s.id, s.name, s.kind FROM link_group_schools g JOIN schools s ON s.id = g.school_id \
         WHERE g.link_group_id = $1 ORDER BY s.kind DESC, s.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(School {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            kind: SchoolKind::parse(&r.try_get::<String, _>("kind")?).unwrap_or(SchoolKind::Branch),
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Some(LinkGroup {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        schools,
    }))
}

/// A parent's child as that parent sees them; `None` when the link no longer exists.
pub async fn load_child(
    conn: &mut AnyConnection,
    parent_id: &str,
    child_id: &str,
) -> sqlx::Result<Option<Child>> {
    let row = sqlx::query(
        "SELECT u.id, u.name, s.class_id FROM memberships p \
         JOIN users u ON u.id = p.child_id \
         JOIN memberships s ON s.user_id = u.id AND s.role = 'student' \
         WHERE p.user_id = $1 AND p.role = 'parent' AND p.child_id = $2",
    )
    .bind(parent_id)
    .bind(child_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Child {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        class_id: row.try_get("class_id")?,
    }))
}

/// Everything of the organisation `user_id` can see, by kind.
pub async fn visible(
    conn: &mut AnyConnection,
    user_id: &str,
) -> sqlx::Result<Vec<(EntityKind, String)>> {
    let mut out = vec![(EntityKind::Profile, user_id.to_owned())];
    let classes = column(
        conn,
        "SELECT class_id AS id FROM memberships WHERE user_id = $1 AND class_id <> '' \
         UNION SELECT s.class_id AS id FROM memberships p JOIN memberships s \
           ON s.user_id = p.child_id AND s.role = 'student' WHERE p.user_id = $1 AND p.role = 'parent' \
         UNION SELECT c.id AS id FROM memberships m JOIN classes c ON c.school_id = m.school_id \
           WHERE m.user_id = $1 AND m.role = 'school_admin'",
        user_id,
    )
    .await?;
    out.extend(classes.into_iter().map(|id| (EntityKind::Class, id)));
    let children = column(
        conn,
        "SELECT child_id AS id FROM memberships WHERE user_id = $1 AND role = 'parent'",
        user_id,
    )
    .await?;
    out.extend(children.into_iter().map(|id| (EntityKind::Child, id)));
    let groups = column(
        conn,
        "SELECT g.link_group_id AS id FROM link_group_schools g WHERE g.school_id IN ( \
           SELECT school_id FROM memberships WHERE user_id = $1 AND school_id <> '' \
           UNION SELECT c.school_id FROM memberships p JOIN memberships s \
             ON s.user_id = p.child_id AND s.role = 'student' JOIN classes c ON c.id = s.class_id \
             WHERE p.user_id = $1 AND p.role = 'parent') \
         UNION SELECT id FROM link_groups WHERE EXISTS \
           (SELECT 1 FROM memberships WHERE user_id = $1 AND role = 'county_admin')",
        user_id,
    )
    .await?;
    out.extend(groups.into_iter().map(|id| (EntityKind::LinkGroup, id)));
    Ok(out)
}

async fn column(
    conn: &mut AnyConnection,
    sql: &'static str,
    user_id: &str,
) -> sqlx::Result<BTreeSet<String>> {
    sqlx::query(sql)
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect()
}

/// Re-announces everything of the organisation a user can see, and tombstones what they no
/// longer can (a child unlinked, a student moved to another class).
pub async fn refresh_feed(tx: &mut Tx, seq: i64, user_id: &str) -> sqlx::Result<()> {
    let now_visible: BTreeSet<(EntityKind, String)> =
        visible(tx, user_id).await?.into_iter().collect();
    let before = sqlx::query(
        "SELECT kind, entity_id FROM feed WHERE user_id = $1 AND removed = 0 \
         AND kind IN ('profile', 'class', 'child', 'link_group')",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    for row in before {
        let kind: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        if let Some(kind) = EntityKind::parse(&kind)
            && !now_visible.contains(&(kind, id.clone()))
        {
            feed::touch(tx, seq, user_id, kind, &id, true).await?;
        }
    }
    for (kind, id) in &now_visible {
        feed::touch(tx, seq, user_id, *kind, id, false).await?;
    }
    // The notification settings list one entry per child: a child linked or unlinked
    // changes them, so every phone of the account gets them again.
    feed::touch(
        tx,
        seq,
        user_id,
        EntityKind::NotificationSettings,
        user_id,
        false,
    )
    .await?;
    Ok(())
}

/// The classes in which `user_id` teaches or assists, or which belong to a school they administer.
pub async fn teachable_classes(
    conn: &mut AnyConnection,
    user_id: &str,
) -> sqlx::Result<BTreeSet<String>> {
    column(
        conn,
        "SELECT class_id AS id FROM memberships WHERE user_id = $1 AND role IN ('teacher', 'assistant') \
         UNION SELECT c.id AS id FROM memberships m JOIN classes c ON c.school_id = m.school_id \
           WHERE m.user_id = $1 AND m.role = 'school_admin'",
        user_id,
    )
    .await
}

pub async fn has_role(
    conn: &mut AnyConnection,
    user_id: &str,
    role: Role,
    school_id: Option<&str>,
) -> sqlx::Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND role = $2 AND ($3 = '' OR school_id = $3)",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(school_id.unwrap_or(""))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// 同步作业 and 专递课堂: the classes that follow a lead class. A main school's class is
/// followed by the classes of the same grade in the branch schools and teaching points of its
/// link groups; never by other classes of the main school, and a branch's or teaching point's
/// class by none.
macro_rules! receiving_sql {
    () => {
        "SELECT DISTINCT c.id FROM classes lc \
         JOIN schools ls ON ls.id = lc.school_id AND ls.kind = 'main' \
         JOIN link_group_schools g1 ON g1.school_id = ls.id \
         JOIN link_group_schools g2 ON g2.link_group_id = g1.link_group_id \
         JOIN schools rs ON rs.id = g2.school_id AND rs.kind IN ('branch', 'teaching_point') \
         JOIN classes c ON c.school_id = rs.id AND c.grade = lc.grade"
    };
}

/// The receiving classes of one lead class.
pub async fn receiving_classes(
    conn: &mut AnyConnection,
    lead_class_id: &str,
) -> sqlx::Result<BTreeSet<String>> {
    column(
        conn,
        concat!(receiving_sql!(), " WHERE lc.id = $1"),
        lead_class_id,
    )
    .await
}

/// The receiving classes of every main-school class `user_id` teaches. Only a teacher's
/// membership counts: assisting in a class does not make it someone's lead class.
pub async fn receiving_classes_of_teacher(
    conn: &mut AnyConnection,
    user_id: &str,
) -> sqlx::Result<BTreeSet<String>> {
    column(
        conn,
        concat!(
            receiving_sql!(),
            " JOIN memberships m ON m.class_id = lc.id AND m.role = 'teacher' WHERE m.user_id = $1"
        ),
        user_id,
    )
    .await
}
