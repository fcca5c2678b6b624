//! The install's push database (`push.sqlite3` beside `accounts.sqlite3`): device id, the
//! shell's push token, each account's registration, farewells of signed-out accounts and
//! unsent push reports. All its SQL lives here.

use std::{
    path::Path,
    sync::{Arc, LazyLock, Mutex},
};

use lianxiao_protocol::{DevicePlatform, Millis, PushKind, PushProvider, RegisterDevice};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::Result;

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::new(vec![M::up(include_str!("0001_install.sql"))]));

#[derive(Clone)]
pub(crate) struct InstallDb(Arc<Mutex<Connection>>);

impl InstallDb {
    /// Opens the database and makes this install's device id if it has none yet.
    pub(crate) fn open(dir: &Path) -> Result<InstallDb> {
        let mut db = Connection::open(dir.join("push.sqlite3"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        MIGRATIONS.to_latest(&mut db)?;
        // A random id: nothing on the phone (IMEI, Android id) that would follow the person.
        let id = format!("lx-{}", uuid::Uuid::new_v4().simple());
        db.execute(
            "INSERT INTO install (id, device_id) VALUES (1, ?1) ON CONFLICT(id) DO NOTHING",
            [id],
        )?;
        Ok(InstallDb(Arc::new(Mutex::new(db))))
    }

    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await?
    }
}

pub(crate) fn device_id(conn: &Connection) -> Result<String> {
    Ok(
        conn.query_row("SELECT device_id FROM install WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

/// The registration the shell's last token makes, if it handed one over.
pub(crate) fn current(conn: &Connection) -> Result<Option<RegisterDevice>> {
    let row = conn.query_row(
        "SELECT platform, provider, token, app_version, locale FROM install WHERE id = 1",
        [],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        },
    )?;
    let (Some(platform), Some(provider), Some(token), Some(app_version), Some(locale)) = row else {
        return Ok(None);
    };
    Ok(Some(RegisterDevice {
        platform: DevicePlatform::parse(&platform).unwrap_or(DevicePlatform::Android),
        provider: PushProvider::parse(&provider).unwrap_or(PushProvider::Log),
        token,
        app_version,
        locale,
    }))
}

/// A registration as one comparable string (what `registrations.registered` holds).
pub(crate) fn fingerprint(r: &RegisterDevice) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

/// Keeps the shell's registration; when it differs from the last one, every account's
/// registration is due again. Returns whether it changed.
pub(crate) fn set_current(conn: &mut Connection, r: &RegisterDevice) -> Result<bool> {
    if current(conn)?.as_ref() == Some(r) {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE install SET platform = ?1, provider = ?2, token = ?3, app_version = ?4, \
         locale = ?5 WHERE id = 1",
        params![
            r.platform.as_str(),
            r.provider.as_str(),
            r.token,
            r.app_version,
            r.locale
        ],
    )?;
    tx.execute(
        "UPDATE registrations SET state = 'pending', attempts = 0, next_attempt_at = 0, \
         error_code = NULL WHERE state NOT IN ('off', 'unlinking') \
         AND (state <> 'registered' OR registered <> ?1)",
        [fingerprint(r)],
    )?;
    tx.commit()?;
    Ok(true)
}

/// An account signed in: register it (again), and keep its old session's farewell from
/// unlinking the device it is about to register.
pub(crate) fn signed_in(conn: &mut Connection, user_id: &str) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO registrations (user_id, state) VALUES (?1, 'pending') \
         ON CONFLICT(user_id) DO UPDATE SET state = 'pending', attempts = 0, \
         next_attempt_at = 0, error_code = NULL",
        [user_id],
    )?;
    tx.execute(
        "UPDATE farewells SET unlink = 0 WHERE user_id = ?1",
        [user_id],
    )?;
    tx.commit()?;
    Ok(())
}

/// An account signs out: its registration and unsent reports go. Returns whether the server
/// may have a registration for it (so the device must be unlinked).
pub(crate) fn forget_account(conn: &mut Connection, user_id: &str) -> Result<bool> {
    let tx = conn.transaction()?;
    let had: Option<Option<String>> = tx
        .query_row(
            "SELECT registered FROM registrations WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute("DELETE FROM registrations WHERE user_id = ?1", [user_id])?;
    tx.execute("DELETE FROM push_reports WHERE user_id = ?1", [user_id])?;
    tx.commit()?;
    // A registration that was pending may still have reached the server (the answer lost),
    // and an earlier token may be registered: unlink whenever the account had a row.
    Ok(had.is_some())
}

/// Where one account's registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationRow {
    pub user_id: String,
    pub state: String,
    pub registered: Option<String>,
    pub registered_at: Option<Millis>,
    pub error_code: Option<String>,
    pub attempts: u32,
}

pub(crate) fn registrations(conn: &Connection) -> Result<Vec<RegistrationRow>> {
    let mut stmt = conn.prepare(
        "SELECT user_id, state, registered, registered_at, error_code, attempts \
         FROM registrations ORDER BY user_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(RegistrationRow {
            user_id: r.get(0)?,
            state: r.get(1)?,
            registered: r.get(2)?,
            registered_at: r.get(3)?,
            error_code: r.get(4)?,
            attempts: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The user turned pushes off for a signed-in account: unlink it (`unlinking`, then `off`)
/// and leave it off until the next sign-in.
pub(crate) fn unregister(conn: &Connection, user_id: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE registrations SET state = 'unlinking', attempts = 0, next_attempt_at = 0, \
         error_code = NULL WHERE user_id = ?1",
        [user_id],
    )? == 1)
}

pub(crate) fn unlinked(conn: &Connection, user_id: &str) -> Result<()> {
    conn.execute(
        "UPDATE registrations SET state = 'off', registered = NULL, attempts = 0 \
         WHERE user_id = ?1 AND state = 'unlinking'",
        [user_id],
    )?;
    Ok(())
}

/// Registrations to send now (`force`: ignoring their retry times): user id, whether it is
/// an unlink, attempts so far.
pub(crate) fn due_registrations(
    conn: &Connection,
    now: Millis,
    force: bool,
) -> Result<Vec<(String, bool, u32)>> {
    let mut stmt = conn.prepare(
        "SELECT user_id, state = 'unlinking', attempts FROM registrations \
         WHERE state IN ('pending', 'unlinking') \
         AND (?2 OR next_attempt_at <= ?1) ORDER BY user_id",
    )?;
    let rows = stmt.query_map(params![now, force], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The server took `registered` for the account; if the token changed meanwhile, the
/// account stays due for the new one.
pub(crate) fn registered(
    conn: &Connection,
    user_id: &str,
    registered: &str,
    now: Millis,
) -> Result<()> {
    let latest = current(conn)?.map(|c| fingerprint(&c));
    let state = if latest.as_deref() == Some(registered) {
        "registered"
    } else {
        "pending"
    };
    conn.execute(
        "UPDATE registrations SET state = ?2, registered = ?3, registered_at = ?4, \
         attempts = 0, next_attempt_at = 0, error_code = NULL \
         WHERE user_id = ?1 AND state = 'pending'",
        params![user_id, state, registered, now],
    )?;
    Ok(())
}

pub(crate) fn registration_failed(conn: &Connection, user_id: &str, code: &str) -> Result<()> {
    conn.execute(
        "UPDATE registrations SET state = 'failed', error_code = ?2 \
         WHERE user_id = ?1 AND state = 'pending'",
        params![user_id, code],
    )?;
    Ok(())
}

pub(crate) fn registration_retry(
    conn: &Connection,
    user_id: &str,
    attempts: u32,
    at: Millis,
) -> Result<()> {
    conn.execute(
        "UPDATE registrations SET attempts = ?2, next_attempt_at = ?3 WHERE user_id = ?1",
        params![user_id, attempts, at],
    )?;
    Ok(())
}

/// An account signed out without the server being told.
pub(crate) fn add_farewell(
    conn: &Connection,
    user_id: &str,
    device_id: &str,
    now: Millis,
) -> Result<()> {
    conn.execute(
        "INSERT INTO farewells (user_id, device_id, unlink, queued_at) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT(user_id) DO UPDATE SET device_id = excluded.device_id, unlink = 1, \
         attempts = 0, next_attempt_at = 0",
        params![user_id, device_id, now],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub(crate) struct Farewell {
    pub user_id: String,
    pub device_id: String,
    pub unlink: bool,
    pub attempts: u32,
}

pub(crate) fn due_farewells(conn: &Connection, now: Millis, force: bool) -> Result<Vec<Farewell>> {
    let mut stmt = conn.prepare(
        "SELECT user_id, device_id, unlink, attempts FROM farewells \
         WHERE ?2 OR next_attempt_at <= ?1 ORDER BY queued_at",
    )?;
    let rows = stmt.query_map(params![now, force], |r| {
        Ok(Farewell {
            user_id: r.get(0)?,
            device_id: r.get(1)?,
            unlink: r.get(2)?,
            attempts: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn farewell_done(conn: &Connection, user_id: &str) -> Result<()> {
    conn.execute("DELETE FROM farewells WHERE user_id = ?1", [user_id])?;
    Ok(())
}

pub(crate) fn farewell_retry(
    conn: &Connection,
    user_id: &str,
    attempts: u32,
    at: Millis,
) -> Result<()> {
    conn.execute(
        "UPDATE farewells SET attempts = ?2, next_attempt_at = ?3 WHERE user_id = ?1",
        params![user_id, attempts, at],
    )?;
    Ok(())
}

/// Remembers that a push arrived (opened: was tapped) until the server is told.
pub(crate) fn add_report(
    conn: &Connection,
    user_id: &str,
    kind: PushKind,
    event_id: &str,
    opened: bool,
) -> Result<()> {
    conn.execute(
        "INSERT INTO push_reports (user_id, kind, event_id, opened) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(user_id, kind, event_id) DO UPDATE SET \
         opened = max(opened, excluded.opened), next_attempt_at = 0",
        params![user_id, kind.as_str(), event_id, opened],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub user_id: String,
    pub kind: PushKind,
    pub event_id: String,
    pub opened: bool,
    pub attempts: u32,
}

pub(crate) fn due_reports(conn: &Connection, now: Millis, force: bool) -> Result<Vec<Report>> {
    let mut stmt = conn.prepare(
        "SELECT user_id, kind, event_id, opened, attempts FROM push_reports \
         WHERE ?2 OR next_attempt_at <= ?1 ORDER BY user_id, event_id",
    )?;
    let rows = stmt.query_map(params![now, force], |r| {
        let kind: String = r.get(1)?;
        Ok(Report {
            user_id: r.get(0)?,
            kind: PushKind::parse(&kind).unwrap_or(PushKind::Notice),
            event_id: r.get(2)?,
            opened: r.get(3)?,
            attempts: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The report went (or was refused for good). A tap reported after a receipt was sent keeps
/// its row: `opened` rose meanwhile.
pub(crate) fn report_done(conn: &Connection, r: &Report) -> Result<()> {
    conn.execute(
        "DELETE FROM push_reports WHERE user_id = ?1 AND kind = ?2 AND event_id = ?3 \
         AND opened <= ?4",
        params![r.user_id, r.kind.as_str(), r.event_id, r.opened],
    )?;
    Ok(())
}

pub(crate) fn report_retry(conn: &Connection, r: &Report, at: Millis) -> Result<()> {
    conn.execute(
        "UPDATE push_reports SET attempts = attempts + 1, next_attempt_at = ?4 \
         WHERE user_id = ?1 AND kind = ?2 AND event_id = ?3",
        params![r.user_id, r.kind.as_str(), r.event_id, at],
    )?;
    Ok(())
}

/// Everything waiting to go, now or later.
pub(crate) fn pending_count(conn: &Connection) -> Result<usize> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM registrations WHERE state IN ('pending', 'unlinking')) \
         + (SELECT count(*) FROM farewells) + (SELECT count(*) FROM push_reports)",
        [],
        |r| r.get::<_, i64>(0),
    )? as usize)
}

/// When the earliest item becomes due.
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn.query_row(
        "SELECT min(t) FROM (SELECT min(next_attempt_at) AS t FROM registrations \
         WHERE state IN ('pending', 'unlinking') UNION ALL SELECT min(next_attempt_at) FROM farewells \
         UNION ALL SELECT min(next_attempt_at) FROM push_reports)",
        [],
        |r| r.get(0),
    )?)
}

/// The network came back: everything is due now.
pub(crate) fn all_due_now(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "UPDATE registrations SET next_attempt_at = 0 WHERE state IN ('pending', 'unlinking');
         UPDATE farewells SET next_attempt_at = 0;
         UPDATE push_reports SET next_attempt_at = 0;",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(token: &str) -> RegisterDevice {
        RegisterDevice {
            platform: DevicePlatform::Android,
            provider: PushProvider::Getui,
            token: token.into(),
            app_version: "1.0".into(),
            locale: "zh-CN".into(),
        }
    }

    fn states(c: &Connection) -> Vec<(String, String)> {
        registrations(c)
            .unwrap()
            .into_iter()
            .map(|r| (r.user_id, r.state))
            .collect()
    }

    fn pair(user: &str, state: &str) -> (String, String) {
        (user.to_owned(), state.to_owned())
    }

    #[test]
    fn the_device_id_is_made_once_per_install() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstallDb::open(dir.path()).unwrap();
        let id = device_id(&first.0.lock().unwrap()).unwrap();
        drop(first);
        let again = InstallDb::open(dir.path()).unwrap();
        assert_eq!(device_id(&again.0.lock().unwrap()).unwrap(), id);
        assert!(id.starts_with("lx-") && id.len() >= 8);
    }

    #[test]
    fn a_new_token_makes_every_account_due_and_a_stale_answer_does_not_settle_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = InstallDb::open(dir.path()).unwrap();
        let mut c = db.0.lock().unwrap();
        signed_in(&mut c, "mum").unwrap();
        signed_in(&mut c, "kid").unwrap();
        assert!(set_current(&mut c, &reg("t1")).unwrap());
        assert!(
            !set_current(&mut c, &reg("t1")).unwrap(),
            "the same token again"
        );
        registered(&c, "mum", &fingerprint(&reg("t1")), 1).unwrap();
        registered(&c, "kid", &fingerprint(&reg("t1")), 1).unwrap();
        assert_eq!(
            states(&c),
            [pair("kid", "registered"), pair("mum", "registered")]
        );

        // A new token while mum's old one is on its way: her answer leaves her due.
        assert!(set_current(&mut c, &reg("t2")).unwrap());
        assert_eq!(due_registrations(&c, 0, false).unwrap().len(), 2);
        registered(&c, "mum", &fingerprint(&reg("t1")), 2).unwrap();
        registered(&c, "kid", &fingerprint(&reg("t2")), 2).unwrap();
        assert_eq!(
            states(&c),
            [pair("kid", "registered"), pair("mum", "pending")]
        );
    }

    #[test]
    fn pushes_turned_off_stay_off_until_the_next_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let db = InstallDb::open(dir.path()).unwrap();
        let mut c = db.0.lock().unwrap();
        signed_in(&mut c, "mum").unwrap();
        set_current(&mut c, &reg("t1")).unwrap();
        assert!(unregister(&c, "mum").unwrap());
        assert_eq!(
            due_registrations(&c, 0, false).unwrap(),
            [("mum".to_owned(), true, 0)]
        );
        unlinked(&c, "mum").unwrap();
        set_current(&mut c, &reg("t2")).unwrap();
        assert_eq!(states(&c), [pair("mum", "off")]);
        assert_eq!(pending_count(&c).unwrap(), 0);
        signed_in(&mut c, "mum").unwrap();
        assert_eq!(states(&c), [pair("mum", "pending")]);
    }

    #[test]
    fn a_sign_in_keeps_an_old_farewell_from_unlinking_the_new_registration() {
        let dir = tempfile::tempdir().unwrap();
        let db = InstallDb::open(dir.path()).unwrap();
        let mut c = db.0.lock().unwrap();
        signed_in(&mut c, "mum").unwrap();
        assert!(forget_account(&mut c, "mum").unwrap());
        assert!(
            !forget_account(&mut c, "mum").unwrap(),
            "nothing left to unlink"
        );
        add_farewell(&c, "mum", "lx-1", 1).unwrap();
        assert!(due_farewells(&c, 0, false).unwrap()[0].unlink);
        signed_in(&mut c, "mum").unwrap();
        let f = &due_farewells(&c, 0, false).unwrap()[0];
        assert!(
            !f.unlink,
            "the old session still ends, the device stays linked"
        );
    }

    #[test]
    fn a_tap_after_the_receipt_was_sent_is_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = InstallDb::open(dir.path()).unwrap();
        let c = db.0.lock().unwrap();
        add_report(&c, "mum", PushKind::Notice, "n1", false).unwrap();
        let sent = due_reports(&c, 0, false).unwrap().remove(0);
        add_report(&c, "mum", PushKind::Notice, "n1", true).unwrap();
        report_done(&c, &sent).unwrap();
        let left = due_reports(&c, 0, false).unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].opened);
        report_done(&c, &left[0]).unwrap();
        assert_eq!(pending_count(&c).unwrap(), 0);
    }
}
