//! Where tokens live: the platform's secure storage (Keychain / Keystore), supplied by the
//! app. Two implementations ship in core: in memory (tests, desktop) and a 0600 JSON file
//! (terminal client, demo).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// A secure-storage failure. Carries no key values or secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secure storage failed: {reason}")]
pub struct SecureStorageError {
    pub reason: String,
}

impl SecureStorageError {
    pub fn new(reason: impl Into<String>) -> Self {
        SecureStorageError {
            reason: reason.into(),
        }
    }
}

impl From<SecureStorageError> for crate::Error {
    fn from(e: SecureStorageError) -> Self {
        crate::Error::Storage(e.to_string())
    }
}

/// Key–value secret storage. Calls are short and may block briefly.
pub trait SecureStorage: Send + Sync {
    fn get(&self, key: String) -> Result<Option<String>, SecureStorageError>;
    fn set(&self, key: String, value: String) -> Result<(), SecureStorageError>;
    fn delete(&self, key: String) -> Result<(), SecureStorageError>;
}

#[derive(Default)]
pub struct MemorySecureStorage {
    values: Mutex<HashMap<String, String>>,
}

impl MemorySecureStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemorySecureStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemorySecureStorage(..)")
    }
}

impl SecureStorage for MemorySecureStorage {
    fn get(&self, key: String) -> Result<Option<String>, SecureStorageError> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned())
    }

    fn set(&self, key: String, value: String) -> Result<(), SecureStorageError> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
        Ok(())
    }

    fn delete(&self, key: String) -> Result<(), SecureStorageError> {
        self.values
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        Ok(())
    }
}

/// A JSON object in one file, readable only by its owner (0600). Writes go to a temporary file
/// renamed over the old one, so a crash never leaves half a file.
pub struct FileSecureStorage {
    path: PathBuf,
    lock: Mutex<()>,
}

impl std::fmt::Debug for FileSecureStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSecureStorage").finish_non_exhaustive()
    }
}

impl FileSecureStorage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSecureStorage {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<HashMap<String, String>, SecureStorageError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|_| SecureStorageError::new("the token file is not valid JSON")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(SecureStorageError::new(format!(
                "read failed: {}",
                e.kind()
            ))),
        }
    }

    /// Locks the file against other processes for a read-modify-write (two processes on one
    /// data directory each writing a key must not lose the other's). Released on drop, and by
    /// the system if the process dies.
    fn lock_across_processes(&self) -> Result<std::fs::File, SecureStorageError> {
        let io = |e: std::io::Error| SecureStorageError::new(format!("lock failed: {}", e.kind()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    fn save(&self, values: &HashMap<String, String>) -> Result<(), SecureStorageError> {
        use std::io::Write;
        let io = |e: std::io::Error| SecureStorageError::new(format!("write failed: {}", e.kind()));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        let bytes = serde_json::to_vec(values)
            .map_err(|_| SecureStorageError::new("could not encode the token file"))?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

impl SecureStorage for FileSecureStorage {
    fn get(&self, key: String) -> Result<Option<String>, SecureStorageError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.load()?.remove(&key))
    }

    fn set(&self, key: String, value: String) -> Result<(), SecureStorageError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _file = self.lock_across_processes()?;
        let mut values = self.load()?;
        values.insert(key, value);
        self.save(&values)
    }

    fn delete(&self, key: String) -> Result<(), SecureStorageError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _file = self.lock_across_processes()?;
        let mut values = self.load()?;
        if values.remove(&key).is_some() {
            self.save(&values)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &dyn SecureStorage) {
        assert_eq!(s.get("a".into()).unwrap(), None);
        s.set("a".into(), "1".into()).unwrap();
        s.set("b".into(), "2".into()).unwrap();
        s.set("a".into(), "3".into()).unwrap();
        assert_eq!(s.get("a".into()).unwrap().as_deref(), Some("3"));
        s.delete("a".into()).unwrap();
        s.delete("missing".into()).unwrap();
        assert_eq!(s.get("a".into()).unwrap(), None);
        assert_eq!(s.get("b".into()).unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn memory_round_trip() {
        round_trip(&MemorySecureStorage::new());
    }

    #[test]
    fn file_round_trip_survives_reopen_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tokens.json");
        round_trip(&FileSecureStorage::new(&path));
        let reopened = FileSecureStorage::new(&path);
        assert_eq!(reopened.get("b".into()).unwrap().as_deref(), Some("2"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, b"not json").unwrap();
        let s = FileSecureStorage::new(&path);
        assert!(s.get("a".into()).is_err());
    }
}
