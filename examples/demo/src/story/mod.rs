//! The story, chapter by chapter. Each chapter is an async function over [`World`]: the
//! server, the phones signed in so far and the narrator. A new feature (homework, live
//! lessons) adds a module here and one call in [`run_story`].

mod homework;
mod notices;
mod setup;
mod summary;
mod timetable;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, anyhow};

use crate::{Narrator, phone::Phone, server::DemoServer};

/// What a finished story leaves behind, for tests.
#[derive(Debug, Clone)]
pub struct StoryReport {
    /// The temporary directory the server and phones used; removed before returning.
    pub data_root: PathBuf,
    /// Every line the narrator said.
    pub lines: Vec<String>,
}

/// Everything the chapters share.
pub struct World {
    pub say: Narrator,
    /// Phones in the order they were signed in. Declared before the server and the
    /// directory: dropped (background tasks ended) first.
    phones: Vec<Phone>,
    pub server: DemoServer,
    /// One line per chapter for the closing summary.
    pub recap: Vec<String>,
    chapters: u32,
    root: tempfile::TempDir,
}

impl World {
    /// Starts the next chapter's heading.
    pub fn chapter(&mut self, zh: &str, en: &str) {
        self.chapters += 1;
        self.say.chapter(self.chapters, zh, en);
    }

    /// Where a phone keeps its data: its own directory, as on a real device.
    pub fn phone_dir(&self, name: &str) -> PathBuf {
        self.root.path().join("phones").join(name)
    }

    pub fn add_phone(&mut self, phone: Phone) {
        self.phones.push(phone);
    }

    pub fn phone(&self, login: &str) -> anyhow::Result<&Phone> {
        self.phones
            .iter()
            .find(|p| p.login == login)
            .ok_or_else(|| anyhow!("no phone signed in as {login}"))
    }

    pub fn phones(&self) -> &[Phone] {
        &self.phones
    }
}

/// Plays the whole story; `Err` says which step failed. Cleans up its temporary files.
pub async fn run_story(say: Narrator) -> anyhow::Result<StoryReport> {
    let root = tempfile::Builder::new()
        .prefix("lianxiao-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let data_root = root.path().to_owned();
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = DemoServer::start(root.path().join("server"), listen).await?;
    let mut world = World {
        say: say.clone(),
        phones: Vec::new(),
        server,
        recap: Vec::new(),
        chapters: 0,
        root,
    };

    let played = play(&mut world).await;
    // Phones first (their background tasks), then the server, then the files.
    for phone in world.phones() {
        phone.close();
    }
    world.server.stop().await;
    drop(world);
    played?;
    Ok(StoryReport {
        data_root,
        lines: say.lines(),
    })
}

async fn play(w: &mut World) -> anyhow::Result<()> {
    setup::server_and_roster(w).await?;
    setup::phones_sign_in(w).await?;
    let class_notice = notices::teacher_posts(w).await?;
    notices::parents_receive(w, &class_notice).await?;
    notices::read_and_acknowledge(w, &class_notice).await?;
    notices::receipts_and_reminders(w, &class_notice).await?;
    notices::link_group_notice(w).await?;
    homework::round_trip(w).await?;
    timetable::lessons_scheduled(w).await?;
    summary::closing(w).await
}

/// A server time (Unix ms) as Beijing wall-clock time, `HH:MM:SS`.
pub fn beijing_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    format!(
        "{:02}:{:02}:{:02}",
        secs.div_euclid(3600).rem_euclid(24),
        secs.div_euclid(60).rem_euclid(60),
        secs.rem_euclid(60)
    )
}
