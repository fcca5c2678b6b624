//! Shared helpers for the end-to-end tests: the real `lianxiao-server` binary as a child
//! process, on SQLite or PostgreSQL, and the demo roster the tests and the demo sign in with.
//!
//! The backend comes from `LIANXIAO_TEST_BACKEND` (`sqlite`, the default, or `postgres`, which
//! needs `LIANXIAO_TEST_PG_URL`, an admin URL; `scripts/test.sh` sets both). Each
//! [`TestServer`] gets a fresh data directory and, on PostgreSQL, a fresh database that is
//! dropped when the last server using it is dropped.
//!
//! The calls block (they wait on a child process); that is fine inside `#[tokio::test]`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub mod api;
pub mod bench;
pub mod broadcast;
pub mod livekit_fakes;
pub mod phone;
pub mod proxy;
pub mod push_fakes;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const LISTENING_PREFIX: &str = "lianxiao-server listening on ";

/// Where a test server keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the server's data directory: the default, needs nothing.
    Sqlite,
    /// A fresh database per test server, created through this admin URL.
    Postgres { admin_url: String },
}

impl Backend {
    /// `LIANXIAO_TEST_BACKEND=sqlite|postgres` (default sqlite); postgres reads
    /// `LIANXIAO_TEST_PG_URL`.
    pub fn from_env() -> Backend {
        match std::env::var("LIANXIAO_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
            Ok("postgres") => match std::env::var("LIANXIAO_TEST_PG_URL") {
                Ok(admin_url) if !admin_url.is_empty() => Backend::Postgres { admin_url },
                _ => panic!(
                    "LIANXIAO_TEST_BACKEND=postgres needs LIANXIAO_TEST_PG_URL, an admin URL such \
                     as postgres://postgres@127.0.0.1:55432/postgres (scripts/test.sh starts a \
                     private PostgreSQL and sets it)"
                ),
            },
            Ok(other) => panic!("LIANXIAO_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// A database made for one test; dropped (connections forced out) with its last user.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("lianxiao_test_{:016x}", rand::random::<u64>());
        let mut url = reqwest::Url::parse(admin_url).context("LIANXIAO_TEST_PG_URL is no URL")?;
        url.set_path(&format!("/{name}"));
        admin_sql(admin_url, format!("CREATE DATABASE \"{name}\""))?;
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin_sql(&self.admin_url, sql) {
            eprintln!("could not drop test database {}: {e:#}", self.name);
        }
    }
}

/// Runs one statement on the admin database. On a thread of its own with its own runtime, so
/// it works from sync code, from async tests and from `Drop`.
fn admin_sql(admin_url: &str, sql: String) -> anyhow::Result<()> {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .context("cannot connect to LIANXIAO_TEST_PG_URL")?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            Ok(())
        })
    })
    .join()
    .expect("the admin SQL thread panicked")
}

/// Picks rustls' crypto for this process (the workspace builds reqwest without a default), so
/// `reqwest::get` and clients in tests work. Starting a [`TestServer`] calls it; repeat calls
/// are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `lianxiao-server` binary: `LIANXIAO_SERVER_BIN`, or next to the test executable
/// (target/<profile>/), built once with cargo if it is not there yet.
pub fn server_binary() -> PathBuf {
    static BINARY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut binary = BINARY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = binary.as_ref() {
        return path.clone();
    }
    let path = match std::env::var_os("LIANXIAO_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().expect("no current executable");
            // target/<profile>/deps/<test> → target/<profile>/lianxiao-server
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test executable outside target/");
            let path = profile_dir.join(format!("lianxiao-server{}", std::env::consts::EXE_SUFFIX));
            if !path.exists() {
                let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
                let status =
                    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                        .args(["build", "-p", "lianxiao-server"])
                        .current_dir(workspace)
                        .status()
                        .expect("cannot run cargo to build lianxiao-server");
                assert!(status.success(), "cargo build -p lianxiao-server failed");
            }
            path
        }
    };
    assert!(path.exists(), "no server binary at {}", path.display());
    *binary = Some(path.clone());
    path
}

/// A running `lianxiao-server serve` process. Dropping it kills the process; the data
/// directory and the PostgreSQL database go when the last instance using them is dropped.
pub struct TestServer {
    backend: Backend,
    data_dir: Arc<tempfile::TempDir>,
    database: Option<Arc<PgDatabase>>,
    env: Vec<(String, String)>,
    /// Which instance on this data directory (names its stderr log).
    instance: u32,
    instances: Arc<AtomicU32>,
    child: Option<Child>,
    port: u16,
}

impl TestServer {
    /// Starts a server with a fresh data directory (and database) and waits until it answers.
    pub fn start(backend: &Backend) -> TestServer {
        TestServer::start_with_env(backend, &[])
    }

    /// Like [`TestServer::start`], with extra environment, e.g.
    /// `[("LIANXIAO_ACCESS_TTL_SECS", "2")]`. The environment is kept across restarts.
    pub fn start_with_env(backend: &Backend, env: &[(&str, &str)]) -> TestServer {
        install_crypto_provider();
        let data_dir = tempfile::Builder::new()
            .prefix("lianxiao-test-")
            .tempdir()
            .expect("cannot create a temporary data directory");
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres { admin_url } => Some(Arc::new(
                PgDatabase::create(admin_url).expect("cannot create the test database"),
            )),
        };
        let mut server = TestServer {
            backend: backend.clone(),
            data_dir: Arc::new(data_dir),
            database,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            instance: 0,
            instances: Arc::new(AtomicU32::new(1)),
            child: None,
            port: 0,
        };
        server.spawn(0);
        server
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT`, for the realtime channel.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process's id while it runs (benches read its CPU and memory in /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The PostgreSQL URL of this test's database; `None` on SQLite.
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(|db| db.url.clone())
    }

    /// Whether the process is running (not stopped, not exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the process (no graceful shutdown: like a crash or a pulled plug) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same data directory, database and port; returns once
    /// `/v1/health` answers.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.spawn(port);
    }

    /// Another server process on the same database (and data directory, as a shared blob
    /// store would be), on its own port. PostgreSQL only.
    pub fn second_instance(&self) -> TestServer {
        assert!(
            self.backend.is_postgres(),
            "several server instances need PostgreSQL (LIANXIAO_TEST_BACKEND=postgres)"
        );
        let mut server = TestServer {
            backend: self.backend.clone(),
            data_dir: Arc::clone(&self.data_dir),
            database: self.database.clone(),
            env: self.env.clone(),
            instance: self.instances.fetch_add(1, Ordering::SeqCst),
            instances: Arc::clone(&self.instances),
            child: None,
            port: 0,
        };
        server.spawn(0);
        server
    }

    /// Runs `lianxiao-server import-roster` on this server's data. `Ok(stdout)` when it exits
    /// 0; otherwise `Err` with its stdout and stderr (where the row errors are).
    pub fn import_roster(&self, csv: &str) -> Result<String, String> {
        static FILES: AtomicU32 = AtomicU32::new(0);
        let file = self.data_dir().join(format!(
            "roster-{}.csv",
            FILES.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&file, csv).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let mut cmd = self.command();
        cmd.arg("import-roster")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg(&file)
            .stdin(Stdio::null());
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run lianxiao-server import-roster: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!("{}\n{stdout}{stderr}", output.status))
        }
    }

    /// Imports [`demo_roster`], panicking on failure.
    pub fn import_demo_roster(&self) -> String {
        self.import_roster(&demo_roster())
            .unwrap_or_else(|e| panic!("the demo roster did not import: {e}"))
    }

    /// The last lines the server wrote to stderr (its logs), for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.stderr_path(), lines)
    }

    /// A `lianxiao-server` command with this server's database and environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new(server_binary());
        match &self.database {
            Some(db) => cmd.env("DATABASE_URL", &db.url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        // Tests see each push as it is queued; the digest window (a phone's next pushes wait
        // two minutes after one was sent) is switched on by the tests about it.
        cmd.env("LIANXIAO_PUSH_DIGEST_WINDOW_SECS", "0");
        // Nor do quiet hours hold them: tests run at any time of day. Those about quiet
        // hours set them (and the server's clock).
        cmd.env("LIANXIAO_PUSH_QUIET_HOURS", "none");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    fn stderr_path(&self) -> PathBuf {
        self.data_dir()
            .join(format!("server-{}.stderr.log", self.instance))
    }

    /// Starts the process and waits for it to say where it listens and to answer health.
    fn spawn(&mut self, port: u16) {
        // A port just freed by `restart` can be slow to bind again: retry a few times.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_spawn(port) {
                Ok(()) => return,
                Err(e) if attempts < 3 && port != 0 => {
                    eprintln!("server start failed ({e:#}); retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!(
                    "lianxiao-server did not start: {e:#}\n--- last lines of its stderr ({}) ---\n{}",
                    self.stderr_path().display(),
                    self.log_tail(40)
                ),
            }
        }
    }

    fn try_spawn(&mut self, port: u16) -> anyhow::Result<()> {
        let stderr_path = self.stderr_path();
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .context("cannot open the server's stderr log")?;
        let mut cmd = self.command();
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().context("cannot spawn lianxiao-server")?;
        let stdout = child.stdout.take().expect("piped stdout");

        // Read stdout on a thread: hand over the first line, then keep draining it so the
        // server never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            for _ in lines {}
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => {
                let status = child.wait()?;
                bail!("the server exited ({status}) before saying where it listens");
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not print its listening line within {}s",
                    STARTUP_TIMEOUT.as_secs()
                );
            }
        };
        let bound = parse_listening_line(&line);
        let Some(bound) = bound else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("unexpected first line on the server's stdout: {line:?}");
        };
        self.child = Some(child);
        self.port = bound;
        while !health_ok(bound) {
            if !self.is_running() {
                self.stop();
                bail!("the server exited before /v1/health answered");
            }
            if Instant::now() > deadline {
                self.stop();
                bail!("/v1/health did not answer 200 in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port from `lianxiao-server listening on http://127.0.0.1:PORT`.
fn parse_listening_line(line: &str) -> Option<u16> {
    let url = line.trim().strip_prefix(LISTENING_PREFIX)?;
    url.trim_end_matches('/').rsplit(':').next()?.parse().ok()
}

/// A plain HTTP/1.1 GET, so waiting for health needs no async runtime.
fn health_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = String::new();
    let _ = BufReader::new(stream).read_line(&mut status_line);
    status_line.split_whitespace().nth(1) == Some("200")
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::from("(no log)");
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// The demo roster.

/// Every demo account's password.
pub const DEMO_PASSWORD: &str = "lianxiao-demo";

/// The demo county: one link group of a main school, two branch schools and a teaching point.
pub mod places {
    pub const LINK_GROUP: &str = "城关联校";
    pub const MAIN_SCHOOL: &str = "城关中心小学";
    pub const BRANCH_SHIQIAO: &str = "石桥小学";
    pub const BRANCH_HEKOU: &str = "河口小学";
    pub const TEACHING_POINT: &str = "山背教学点";
    /// Every school has this class; the main school also has [`CLASS_2`].
    pub const CLASS_1: &str = "三年级(1)班";
    pub const CLASS_2: &str = "三年级(2)班";
    pub const GRADE: &str = "3";
}

/// The demo's logins, for tests to sign in with (password [`DEMO_PASSWORD`]).
pub mod logins {
    /// 主讲: teaches 语文 to both third-grade classes of the main school.
    pub const LEAD_TEACHER: &str = "t_wang";
    /// Teaches 数学 in 石桥小学 三年级(1)班.
    pub const BRANCH_TEACHER: &str = "t_chen";
    /// 助课 in each receiving class.
    pub const ASSISTANT_SHIQIAO: &str = "a_zhou";
    pub const ASSISTANT_HEKOU: &str = "a_sun";
    pub const ASSISTANT_TEACHING_POINT: &str = "a_he";
    /// Administers the main school.
    pub const SCHOOL_ADMIN: &str = "sa_liu";
    pub const COUNTY_ADMIN: &str = "ca_zhang";

    /// Main school, class 1.
    pub const STUDENT_MAIN_1A: &str = "s_li01";
    pub const STUDENT_MAIN_1B: &str = "s_zhao01";
    pub const STUDENT_MAIN_1C: &str = "s_wu01";
    /// Main school, class 2.
    pub const STUDENT_MAIN_2A: &str = "s_sun02";
    pub const STUDENT_MAIN_2B: &str = "s_zhou02";
    /// 石桥小学.
    pub const STUDENT_SHIQIAO_A: &str = "s_zhao03";
    pub const STUDENT_SHIQIAO_B: &str = "s_ma03";
    /// 河口小学.
    pub const STUDENT_HEKOU_A: &str = "s_yang04";
    pub const STUDENT_HEKOU_B: &str = "s_hu04";
    /// 山背教学点.
    pub const STUDENT_TEACHING_POINT_A: &str = "s_gao05";
    pub const STUDENT_TEACHING_POINT_B: &str = "s_lin05";

    pub const ALL_STUDENTS: [&str; 11] = [
        STUDENT_MAIN_1A,
        STUDENT_MAIN_1B,
        STUDENT_MAIN_1C,
        STUDENT_MAIN_2A,
        STUDENT_MAIN_2B,
        STUDENT_SHIQIAO_A,
        STUDENT_SHIQIAO_B,
        STUDENT_HEKOU_A,
        STUDENT_HEKOU_B,
        STUDENT_TEACHING_POINT_A,
        STUDENT_TEACHING_POINT_B,
    ];

    /// One child: [`STUDENT_MAIN_1A`].
    pub const PARENT_ONE_CHILD: &str = "p_li";
    /// Two children in two schools: [`STUDENT_MAIN_1B`] and [`STUDENT_SHIQIAO_A`].
    pub const PARENT_TWO_CHILDREN: &str = "p_zhao";
    /// Parent of [`STUDENT_MAIN_2A`].
    pub const PARENT_MAIN_2: &str = "p_sun";
    /// Parent of [`STUDENT_HEKOU_A`].
    pub const PARENT_HEKOU: &str = "p_yang";
    /// Parent of [`STUDENT_TEACHING_POINT_A`]; never opens the app (for unread reminders).
    pub const PARENT_NEVER_OPENS: &str = "p_gao";
}

/// One class or school a roster row is about.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub school: &'a str,
    pub kind: &'a str,
    pub link_group: &'a str,
    pub class: &'a str,
    pub grade: &'a str,
}

impl<'a> Place<'a> {
    pub fn class(school: &'a str, kind: &'a str, class: &'a str, grade: &'a str) -> Self {
        Place {
            school,
            kind,
            link_group: "",
            class,
            grade,
        }
    }

    pub fn in_link_group(self, link_group: &'a str) -> Self {
        Place { link_group, ..self }
    }
}

/// Builds roster CSVs row by row (the demo's and tests' own); every password is
/// [`DEMO_PASSWORD`].
#[derive(Debug, Clone, Default)]
pub struct RosterBuilder {
    rows: Vec<[String; 11]>,
}

impl RosterBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A raw row in header order: school, school_kind, link_group, class, grade, role, login,
    /// name, password, subject, child_login.
    pub fn row(mut self, cells: [&str; 11]) -> Self {
        self.rows.push(cells.map(str::to_owned));
        self
    }

    fn member(self, place: Place, role: &str, login: &str, name: &str, subject: &str) -> Self {
        self.row([
            place.school,
            place.kind,
            place.link_group,
            place.class,
            place.grade,
            role,
            login,
            name,
            DEMO_PASSWORD,
            subject,
            "",
        ])
    }

    pub fn teacher(self, place: Place, login: &str, name: &str, subject: &str) -> Self {
        self.member(place, "teacher", login, name, subject)
    }

    pub fn assistant(self, place: Place, login: &str, name: &str) -> Self {
        self.member(place, "assistant", login, name, "")
    }

    pub fn student(self, place: Place, login: &str, name: &str) -> Self {
        self.member(place, "student", login, name, "")
    }

    /// A parent row naming the child's school and class.
    pub fn parent(self, child_place: Place, login: &str, name: &str, child_login: &str) -> Self {
        self.row([
            child_place.school,
            "",
            "",
            child_place.class,
            "",
            "parent",
            login,
            name,
            DEMO_PASSWORD,
            "",
            child_login,
        ])
    }

    pub fn school_admin(self, place: Place, login: &str, name: &str) -> Self {
        let school = Place {
            class: "",
            grade: "",
            ..place
        };
        self.member(school, "school_admin", login, name, "")
    }

    pub fn county_admin(self, login: &str, name: &str) -> Self {
        self.member(
            Place::class("", "", "", ""),
            "county_admin",
            login,
            name,
            "",
        )
    }

    pub fn to_csv(&self) -> String {
        let mut csv = lianxiao_protocol::ROSTER_HEADER.join(",");
        csv.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
        csv
    }
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// The demo county as a roster CSV: see [`places`] and [`logins`].
pub fn demo_roster() -> String {
    use logins::*;
    use places::*;
    let main_1 = Place::class(MAIN_SCHOOL, "main", CLASS_1, GRADE).in_link_group(LINK_GROUP);
    let main_2 = Place::class(MAIN_SCHOOL, "main", CLASS_2, GRADE).in_link_group(LINK_GROUP);
    let shiqiao = Place::class(BRANCH_SHIQIAO, "branch", CLASS_1, GRADE).in_link_group(LINK_GROUP);
    let hekou = Place::class(BRANCH_HEKOU, "branch", CLASS_1, GRADE).in_link_group(LINK_GROUP);
    let shanbei =
        Place::class(TEACHING_POINT, "teaching_point", CLASS_1, GRADE).in_link_group(LINK_GROUP);

    RosterBuilder::new()
        .county_admin(COUNTY_ADMIN, "张建华")
        .school_admin(main_1, SCHOOL_ADMIN, "刘国强")
        .teacher(main_1, LEAD_TEACHER, "王丽", "语文")
        .teacher(main_2, LEAD_TEACHER, "王丽", "语文")
        .teacher(shiqiao, BRANCH_TEACHER, "陈刚", "数学")
        .assistant(shiqiao, ASSISTANT_SHIQIAO, "周敏")
        .assistant(hekou, ASSISTANT_HEKOU, "孙强")
        .assistant(shanbei, ASSISTANT_TEACHING_POINT, "何芳")
        .student(main_1, STUDENT_MAIN_1A, "李明")
        .student(main_1, STUDENT_MAIN_1B, "赵雨涵")
        .student(main_1, STUDENT_MAIN_1C, "吴浩然")
        .student(main_2, STUDENT_MAIN_2A, "孙悦")
        .student(main_2, STUDENT_MAIN_2B, "周子轩")
        .student(shiqiao, STUDENT_SHIQIAO_A, "赵雨轩")
        .student(shiqiao, STUDENT_SHIQIAO_B, "马欣怡")
        .student(hekou, STUDENT_HEKOU_A, "杨博文")
        .student(hekou, STUDENT_HEKOU_B, "胡佳琪")
        .student(shanbei, STUDENT_TEACHING_POINT_A, "高小龙")
        .student(shanbei, STUDENT_TEACHING_POINT_B, "林晓")
        .parent(main_1, PARENT_ONE_CHILD, "李建国", STUDENT_MAIN_1A)
        .parent(main_1, PARENT_TWO_CHILDREN, "赵红梅", STUDENT_MAIN_1B)
        .parent(shiqiao, PARENT_TWO_CHILDREN, "赵红梅", STUDENT_SHIQIAO_A)
        .parent(main_2, PARENT_MAIN_2, "孙卫东", STUDENT_MAIN_2A)
        .parent(hekou, PARENT_HEKOU, "杨秀英", STUDENT_HEKOU_A)
        .parent(
            shanbei,
            PARENT_NEVER_OPENS,
            "高大山",
            STUDENT_TEACHING_POINT_A,
        )
        .to_csv()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_port() {
        assert_eq!(
            parse_listening_line("lianxiao-server listening on http://127.0.0.1:4123\n"),
            Some(4123)
        );
        assert_eq!(parse_listening_line("starting"), None);
    }

    #[test]
    fn the_demo_roster_names_every_login_once_per_membership() {
        let csv = demo_roster();
        let header = csv.lines().next().unwrap();
        assert_eq!(header, lianxiao_protocol::ROSTER_HEADER.join(","));
        assert_eq!(csv.lines().count(), 26);
        for login in logins::ALL_STUDENTS {
            let rows = csv
                .lines()
                .filter(|l| l.contains(&format!(",student,{login},")))
                .count();
            assert_eq!(rows, 1, "{login}");
        }
        let two_children = csv
            .lines()
            .filter(|l| l.contains(&format!(",parent,{},", logins::PARENT_TWO_CHILDREN)))
            .count();
        assert_eq!(two_children, 2);
    }
}
