//! What every handler shares: the configuration, the response cache, and the permits that
//! bound how much query work runs at once.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};

use crate::auth::Tokens;
use crate::cache::{Fingerprint, ResponseCache};
use crate::error::{ApiError, ErrorCode};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data folder (the event store).
    pub data_dir: PathBuf,
    /// The served inventory; `PUT /inventory` replaces this file.
    pub inventory_path: PathBuf,
    /// The policy in force, if known: suggestions leave out what it allows, and readiness
    /// judges "current + suggestions".
    pub current_policy: Option<policy::Policy>,
    pub tokens: Tokens,
    /// Where the queries run (in this process, or on a Ballista cluster).
    pub engine: query::Engine,
    /// Memory all running queries may use together, in MiB (local engine).
    pub memory_mb: usize,
    /// Queries that run at once; more wait for a turn (within `query_timeout`).
    pub query_concurrency: usize,
    pub query_timeout: Duration,
    /// Requests in progress at once; more are answered 503.
    pub max_in_flight: usize,
    /// Largest EVTX upload, in bytes.
    pub upload_limit: u64,
    /// Largest policy or inventory body, in bytes.
    pub document_limit: u64,
    /// An upload that sends nothing for this long is abandoned.
    pub upload_idle_timeout: Duration,
    /// A policy, inventory or JSON body that sends nothing for this long is refused (408).
    pub document_idle_timeout: Duration,
    /// A policy, inventory or JSON body not complete after this long is refused (408).
    pub document_timeout: Duration,
    /// A connection whose request headers are not complete this long after it starts
    /// waiting for them (also an idle keep-alive connection) is closed.
    pub header_timeout: Duration,
    /// Connections one client address may hold open at once; more are closed at once. With
    /// HTTP/1.1 this also bounds the client's requests in progress, so one client cannot
    /// take the `max_in_flight` slots from the others.
    pub max_connections_per_client: usize,
    /// Where uploads are written while they arrive (outside the data folder).
    pub upload_dir: PathBuf,
    /// The workspace (decisions, each group's policy); opened in the data folder when not
    /// given.
    pub workspace: Option<Arc<workspace::Workspace>>,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<crate::server::Tls>,
    /// Alerts on unexpected blocks to a webhook (`--alert-webhook`).
    pub alerts: Option<crate::alerts::AlertSettings>,
}

impl Config {
    /// Queries that run at once unless told otherwise.
    pub const DEFAULT_QUERY_CONCURRENCY: usize = 2;
    /// Seconds a query may run unless told otherwise.
    pub const DEFAULT_QUERY_TIMEOUT_SECS: u64 = 300;
    /// Requests in progress at once.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
    /// Largest EVTX upload unless told otherwise, in MiB.
    pub const DEFAULT_UPLOAD_LIMIT_MB: u64 = 1024;
    /// Largest policy or inventory body unless told otherwise, in MiB.
    pub const DEFAULT_DOCUMENT_LIMIT_MB: u64 = 10;
    /// Seconds of upload silence after which an upload is abandoned.
    pub const DEFAULT_UPLOAD_IDLE_SECS: u64 = 60;
    /// Seconds of silence in a document body after which it is refused.
    pub const DEFAULT_DOCUMENT_IDLE_SECS: u64 = 10;
    /// Seconds a whole document body may take.
    pub const DEFAULT_DOCUMENT_SECS: u64 = 60;
    /// Seconds a connection may take to send a request's headers.
    pub const DEFAULT_HEADER_SECS: u64 = 10;
    /// Connections one client address may hold open.
    pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;

    /// Defaults for everything but the data folder and the tokens.
    pub fn new(data_dir: PathBuf, tokens: Tokens) -> Config {
        Config {
            inventory_path: data_dir.join(query::session::DATA_INVENTORY),
            data_dir,
            current_policy: None,
            tokens,
            engine: query::Engine::Local,
            memory_mb: query::DEFAULT_MEMORY_MB,
            query_concurrency: Self::DEFAULT_QUERY_CONCURRENCY,
            query_timeout: Duration::from_secs(Self::DEFAULT_QUERY_TIMEOUT_SECS),
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            upload_limit: Self::DEFAULT_UPLOAD_LIMIT_MB << 20,
            document_limit: Self::DEFAULT_DOCUMENT_LIMIT_MB << 20,
            upload_idle_timeout: Duration::from_secs(Self::DEFAULT_UPLOAD_IDLE_SECS),
            document_idle_timeout: Duration::from_secs(Self::DEFAULT_DOCUMENT_IDLE_SECS),
            document_timeout: Duration::from_secs(Self::DEFAULT_DOCUMENT_SECS),
            header_timeout: Duration::from_secs(Self::DEFAULT_HEADER_SECS),
            max_connections_per_client: Self::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            upload_dir: std::env::temp_dir(),
            workspace: None,
            tls: None,
            alerts: None,
        }
    }
}

/// The server's shared state.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub(crate) cache: ResponseCache,
    query_permits: Semaphore,
    pub(crate) in_flight: Arc<Semaphore>,
    /// Uploads are ingested one at a time (the store lock would serialise them anyway, on a
    /// blocked thread).
    pub(crate) ingest_turn: Mutex<()>,
    /// Bumped by every change this server makes (ingest, inventory), on top of the file
    /// metadata in the fingerprint, so a change within one timestamp tick is still seen.
    generation: AtomicU64,
}

impl AppState {
    /// The state over `config`. Without a workspace in it, the data folder's is opened (or
    /// made); one that cannot be opened leaves the decision and policy endpoints answering 503, the
    /// reports working (`lockstep serve` opens it first and refuses to start instead).
    pub fn new(mut config: Config) -> AppState {
        if config.workspace.is_none() {
            match workspace::Workspace::open(&config.data_dir) {
                Ok(ws) => config.workspace = Some(Arc::new(ws)),
                Err(e) => tracing::error!("the workspace: {e}"),
            }
        }
        AppState {
            query_permits: Semaphore::new(config.query_concurrency.max(1)),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            cache: ResponseCache::default(),
            ingest_turn: Mutex::new(()),
            generation: AtomicU64::new(0),
            config,
        }
    }

    pub(crate) fn store(&self) -> query::Store {
        query::Store::new(&self.config.data_dir)
    }

    /// What the answers depend on: the store's manifest, the inventory file, the workspace
    /// (its file and write-ahead log), and this server's own changes. Also catches a
    /// `lockstep ingest` or `lockstep decide` run beside the server.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        // The workspace's write-ahead log changes with every decision, also one a CLI run
        // beside the server takes.
        let workspace = match &self.config.workspace {
            Some(ws) => ws.path().to_owned(),
            None => self.config.data_dir.join(workspace::FILE),
        };
        let mut wal = workspace.clone().into_os_string();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        Fingerprint::of(
            &[
                &self.store().manifest_path(),
                &self.config.inventory_path,
                &workspace,
                &wal,
            ],
            self.generation.load(Ordering::Acquire),
        )
    }

    /// The workspace, or a 503 saying why there is none.
    pub(crate) fn workspace(&self) -> Result<&Arc<workspace::Workspace>, ApiError> {
        self.config.workspace.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::WorkspaceUnavailable,
                "the workspace (DATA/workspace.sqlite) could not be opened; the server log says why",
            )
        })
    }

    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The served inventory (no file: every computer `unassigned`).
    pub(crate) fn inventory(&self) -> Result<query::Inventory, ApiError> {
        let path = &self.config.inventory_path;
        if !path.exists() {
            return Ok(query::Inventory::default());
        }
        Ok(query::Inventory::from_path(path)?)
    }

    /// Runs `f` on a session over the current store state and inventory, when a query turn
    /// is free, within the query timeout.
    pub(crate) async fn query<T, F, Fut>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(query::Session) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.in_turn(async {
            let share = self.config.memory_mb / self.config.query_concurrency.max(1);
            let mut session = query::Session::new(self.store(), self.inventory()?)
                .with_engine(self.config.engine.clone(), share)
                .with_current(self.config.current_policy.clone());
            if let Some(ws) = &self.config.workspace {
                session = session.with_workspace(ws.clone());
            }
            f(session).await
        })
        .await
    }

    /// Runs CPU-heavy `work` (parsing a policy) on the blocking pool, as a query does: when
    /// a query turn is free and within the query timeout, never on a thread that serves
    /// requests.
    pub(crate) async fn cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.in_turn(async {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| ApiError::internal("parsing", &e))
        })
        .await
    }

    /// `work` when a query turn is free, within the query timeout (waiting counts).
    async fn in_turn<T>(
        &self,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let timeout = self.config.query_timeout;
        let turn = async {
            let _turn = self
                .query_permits
                .acquire()
                .await
                .map_err(|e| ApiError::internal("waiting for a query turn", &e))?;
            work.await
        };
        tokio::time::timeout(timeout, turn).await.map_err(|_| {
            ApiError::new(
                ErrorCode::QueryTimeout,
                format!(
                    "the query did not finish within {} s; narrow it (since/until, group) or raise --query-timeout",
                    timeout.as_secs()
                ),
            )
        })?
    }
}
