//! Writing an organisation straight into the database, for benchmarks that need thousands of
//! people (the roster import would hash every password). Not used by the server itself.

use crate::{
    auth::TokenKeys,
    db::{Tx, new_id, now_ms},
};

pub async fn insert_school(tx: &mut Tx, id: &str, name: &str, kind: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO schools (id, name, kind, created_at) VALUES ($1, $2, $3, 0)")
        .bind(id)
        .bind(name)
        .bind(kind)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn insert_class(
    tx: &mut Tx,
    id: &str,
    school: &str,
    name: &str,
    grade: &str,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO classes (id, school_id, name, grade) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(school)
        .bind(name)
        .bind(grade)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn insert_user(
    tx: &mut Tx,
    id: &str,
    login: &str,
    name: &str,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (id, login, name, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, 0)",
    )
    .bind(id)
    .bind(login)
    .bind(name)
    .bind(password_hash)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One membership; empty strings for what does not apply (as the roster import stores them).
pub async fn insert_membership(
    tx: &mut Tx,
    user: &str,
    role: &str,
    school: &str,
    class: &str,
    child: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO memberships (user_id, role, school_id, class_id, subject, child_id) \
         VALUES ($1, $2, $3, $4, '', $5)",
    )
    .bind(user)
    .bind(role)
    .bind(school)
    .bind(class)
    .bind(child)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Signs `user` in the way a login ends, without checking a password: a new session and an
/// access token for it, signed with the server's own key (`keys`, loaded from the same
/// database). A benchmark's thousands of phones start signed in, as real phones do, instead of
/// spending an argon2 verification each before the part being measured.
pub async fn sign_in(tx: &mut Tx, keys: &TokenKeys, user: &str) -> anyhow::Result<String> {
    let session = new_id();
    sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(&session)
        .bind(user)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    let (token, _) = keys
        .issue(user, &session)
        .map_err(|e| anyhow::anyhow!("cannot sign a token: {}", e.body.message))?;
    Ok(token)
}
