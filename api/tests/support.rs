//! A served sample store for the API tests, and helpers to call the router.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use api::{AppState, Config, Tokens};
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use tower::ServiceExt as _;

pub(crate) const READ: &str = "read-token-for-tests-0123456789";
pub(crate) const ADMIN: &str = "admin-token-for-tests-0123456789";

pub(crate) fn sample_logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

/// The bundled fleet ingested once per test run; tests copy it.
fn template_store() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            ingest::ingest(
                &ingest::Options {
                    data_dir: dir.path().to_owned(),
                    paths: vec![sample_logs()],
                    strict: false,
                    threads: 2,
                },
                &ingest::Progress::default(),
            )
            .unwrap();
            std::fs::copy(
                sample_logs().join("inventory.csv"),
                dir.path().join("inventory.csv"),
            )
            .unwrap();
            dir
        })
        .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A server state over its own copy of the sample store (or an empty one).
pub(crate) struct Served {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) state: Arc<AppState>,
}

impl Served {
    pub(crate) fn sample() -> Served {
        Served::with(true, |_| {})
    }

    pub(crate) fn empty() -> Served {
        Served::with(false, |_| {})
    }

    pub(crate) fn with(sample: bool, configure: impl FnOnce(&mut Config)) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if sample {
            copy_dir(template_store(), &data);
        } else {
            std::fs::create_dir_all(&data).unwrap();
        }
        let uploads = dir.path().join("uploads");
        std::fs::create_dir_all(&uploads).unwrap();
        let mut config = Config::new(data, Tokens::new(Some(READ), Some(ADMIN)).unwrap());
        config.upload_dir = uploads;
        config.memory_mb = 512;
        configure(&mut config);
        Served {
            dir,
            state: Arc::new(AppState::new(config)),
        }
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.state.config.data_dir.clone()
    }

    pub(crate) fn uploads(&self) -> PathBuf {
        self.state.config.upload_dir.clone()
    }

    /// The store's manifest bytes (to check a refused upload left it as it was).
    pub(crate) fn manifest(&self) -> Vec<u8> {
        std::fs::read(query::Store::new(self.data()).manifest_path()).unwrap_or_default()
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let response = api::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        Reply::read(response).await
    }

    pub(crate) async fn get(&self, uri: &str, token: Option<&str>) -> Reply {
        self.send(request("GET", uri, token, None, Body::empty()))
            .await
    }
}

pub(crate) fn request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Body,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    if let Some(c) = content_type {
        builder = builder.header("content-type", c);
    }
    builder.body(body).unwrap()
}

/// A whole response.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    async fn read(response: Response<Body>) -> Reply {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the error shape; returns the message.
    pub(crate) fn expect_error(&self, status: StatusCode, kind: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["error"], kind, "{body}");
        // Every error has a code, of that class and that status.
        let code: api::ErrorCode = serde_json::from_value(body["code"].clone())
            .unwrap_or_else(|e| panic!("no valid `code` in {body}: {e}"));
        assert_eq!((code.kind(), code.status()), (kind, status), "{body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{body}"
        );
        body["message"].as_str().unwrap().to_owned()
    }
}

/// A context over the same store, to compute the expected answers directly.
pub(crate) async fn direct_context(data: &Path) -> datafusion::prelude::SessionContext {
    let ctx = query::local_context(512).unwrap();
    query::register_store(&ctx, &query::Store::new(data))
        .await
        .unwrap();
    ctx
}

pub(crate) fn inventory(data: &Path) -> query::Inventory {
    query::Inventory::from_path(&data.join("inventory.csv")).unwrap()
}
