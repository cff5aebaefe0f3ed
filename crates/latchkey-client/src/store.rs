//! Where a client keeps its tokens: in memory for the life of the process,
//! in a file so a command-line tool stays signed in between runs, or
//! anywhere else an app implements [`TokenStore`] for (a keychain, say).

use std::{
    fmt, fs,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::Tokens;

/// What a [`TokenStore`] may fail with. Any error type converts into it
/// with `?` or `.into()`; its text becomes part of
/// [`Error::Store`](crate::Error::Store), so it must not quote a token.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Keeps one session's [`Tokens`] across requests and, for persistent
/// stores, across runs.
///
/// The client reads the store once, when it first needs a token, and
/// afterwards keeps the tokens in memory and writes every change through:
/// `save` after a login, refresh or renewal, `clear` when the session is
/// over. The methods are synchronous so that a store is plain code (a file,
/// a keychain call); the client calls them on Tokio's blocking pool, one at
/// a time, never on the async executor.
///
/// ```
/// use std::sync::Mutex;
/// use latchkey_client::{StoreError, TokenStore, Tokens};
///
/// /// Keeps the tokens in a settings database the app already has.
/// struct Settings(Mutex<Option<String>>);
///
/// impl TokenStore for Settings {
///     fn load(&self) -> Result<Option<Tokens>, StoreError> {
///         let row = self.0.lock().unwrap().clone();
///         Ok(row.map(|json| serde_json::from_str(&json)).transpose()?)
///     }
///     fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
///         *self.0.lock().unwrap() = Some(serde_json::to_string(tokens)?);
///         Ok(())
///     }
///     fn clear(&self) -> Result<(), StoreError> {
///         *self.0.lock().unwrap() = None;
///         Ok(())
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The tokens saved last, or `None` if there are none.
    fn load(&self) -> Result<Option<Tokens>, StoreError>;
    /// Replaces the saved tokens.
    fn save(&self, tokens: &Tokens) -> Result<(), StoreError>;
    /// Forgets the saved tokens. Clearing an empty store is not an error.
    fn clear(&self) -> Result<(), StoreError>;
}

/// Sharing one store between a client and the code around it (to look at
/// what it holds, or to hand it to a second client).
impl<S: TokenStore + ?Sized> TokenStore for Arc<S> {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        (**self).load()
    }
    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        (**self).save(tokens)
    }
    fn clear(&self) -> Result<(), StoreError> {
        (**self).clear()
    }
}

/// The default store: tokens live as long as the process. Right for
/// services and for apps that keep their own persistence elsewhere.
#[derive(Default)]
pub struct MemoryStore(Mutex<Option<Tokens>>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tokens.clone());
        Ok(())
    }
    fn clear(&self) -> Result<(), StoreError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holds = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("MemoryStore")
            .field("holds_tokens", &holds)
            .finish()
    }
}

/// Keeps the tokens in a JSON file, so a command-line tool stays signed in
/// between runs.
///
/// Every save writes a new file next to the old one and renames it over
/// it, so a crash leaves either the old tokens or the new ones, never half
/// a file; on Unix the file is created with mode `0600` and a missing
/// directory with `0700`. A refresh token is spent when it is used: two
/// processes that share one file and refresh at once both keep working
/// within the server's grace period (`refresh_grace`, 10 s), but a copy of
/// the file restored from an old backup signs the session out as a theft.
///
/// ```no_run
/// # async fn run() -> Result<(), latchkey_client::Error> {
/// use latchkey_client::{Client, FileStore};
///
/// let client = Client::builder("https://id.example.com")
///     .store(FileStore::new("/home/me/.config/mytool/session.json"))
///     .build()?;
/// if !client.is_signed_in().await? {
///     client.login("alice", "correct horse battery staple").await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store in the file at `path` (created on the first login).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file the tokens are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// A temporary name in the same directory (a rename only replaces a
    /// file atomically within one file system), unique per process and call.
    fn temp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = self
            .path
            .file_name()
            .map_or_else(|| "tokens".into(), |n| n.to_string_lossy());
        self.dir()
            .join(format!(".{name}.{}.{n}.tmp", std::process::id()))
    }

    fn not_ours(&self) -> StoreError {
        // serde's message could quote the file's content: a token.
        format!(
            "{} is not a latchkey token file; delete it to sign in again",
            self.path.display()
        )
        .into()
    }

    fn with_path(&self, what: &str, e: io::Error) -> StoreError {
        io::Error::new(e.kind(), format!("{what} {}: {e}", self.path.display())).into()
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| self.not_ours()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.with_path("cannot read", e)),
        }
    }

    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(tokens)?;
        create_private_dir(self.dir())
            .map_err(|e| self.with_path("cannot create the directory of", e))?;
        let temp = self.temp_path();
        let written = write_private(&temp, &json).and_then(|()| fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(self.with_path("cannot write", e));
        }
        sync_dir(self.dir());
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {
                sync_dir(self.dir());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.with_path("cannot remove", e)),
        }
    }
}

/// Creates `dir` and its parents if missing (`0700` on Unix: the directory
/// of a secrets file is nobody else's business either).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to a new file at `path`, readable by the owner only from
/// the moment it exists (not chmod-ed afterwards), and flushed to disk.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename or removal in `dir` durable. Best effort: some platforms
/// and file systems cannot open or sync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tokens(access: &str) -> Tokens {
        Tokens::new(
            access,
            Some("refresh".into()),
            Some(Duration::from_secs(60)),
        )
    }

    #[test]
    fn memory_store_saves_loads_and_clears() {
        let store = MemoryStore::new();
        assert_eq!(store.load().unwrap(), None);
        store.save(&tokens("a")).unwrap();
        assert_eq!(store.load().unwrap().unwrap().access_token(), "a");
        assert!(format!("{store:?}").contains("holds_tokens: true"));
        store.clear().unwrap();
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn file_store_round_trips_and_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("nested/deeper/session.json"));
        assert_eq!(store.load().unwrap(), None);
        store.save(&tokens("first")).unwrap();
        store.save(&tokens("second")).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.access_token(), "second");
        assert_eq!(loaded.refresh_token(), Some("refresh"));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["session.json"]);
        store.clear().unwrap();
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn file_store_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("cfg/session.json"));
        store.save(&tokens("a")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&dir.path().join("cfg")), 0o700);
        // Replacing a file someone loosened makes it private again.
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&tokens("b")).unwrap();
        assert_eq!(mode(store.path()), 0o600);
    }

    #[test]
    fn a_foreign_file_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        fs::write(
            &path,
            r#"{"access_token": 12, "secret": "hunter2-hunter2"}"#,
        )
        .unwrap();
        let err = FileStore::new(&path).load().unwrap_err().to_string();
        assert!(err.contains("not a latchkey token file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
