//! The blob store: one file per upload id under `<data_dir>/blobs/`. Uploads write into it at
//! their offset; attachments are read from it. (An S3-compatible store can sit behind the
//! same few calls later.)

use std::path::{Path, PathBuf};

/// The blob store's directory under the data directory.
pub const BLOBS_DIR: &str = "blobs";

#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    /// The store under `data_dir`, created if missing.
    pub fn under(data_dir: &Path) -> std::io::Result<Blobs> {
        let dir = data_dir.join(BLOBS_DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(Blobs { dir })
    }

    /// Where an upload's (or attachment's) bytes live. Ids are server-made (hex), never
    /// taken from a path unchecked.
    pub fn path(&self, id: &str) -> PathBuf {
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        self.dir.join(safe)
    }

    pub async fn create(&self, id: &str) -> std::io::Result<()> {
        tokio::fs::File::create(self.path(id)).await.map(|_| ())
    }

    /// The stored bytes, for reading (attachment downloads).
    pub async fn open(&self, id: &str) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(id)).await
    }

    pub async fn remove(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }
}
