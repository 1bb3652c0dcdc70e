//! `lockstep serve`: the HTTP API (and, later, the dashboard) over a data folder.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::engine;
use crate::output;
use crate::store_args::read_policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Raw arguments of `lockstep serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// EVTX files or folders to ingest first (idempotent); a folder's inventory.csv becomes
    /// the served inventory when the data folder has none and --inventory is not given.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The data folder (the event store).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
    /// The inventory CSV to serve; `PUT /api/v1/inventory` replaces this file
    /// (default: DATA/inventory.csv).
    #[arg(long, value_name = "CSV")]
    inventory: Option<PathBuf>,
    /// The policy in force for every group, over what the workspace holds (XML, a
    /// registry.pol or a GPO backup folder): suggestions leave out what it allows; readiness
    /// judges each group's candidate, this policy plus the rules of its decisions.
    #[arg(long, value_name = "CURRENT.xml")]
    current: Option<PathBuf>,
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// File with the read token (default: $LOCKSTEP_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// File with the admin token, for uploads, the inventory, imports and decisions
    /// (default: $LOCKSTEP_ADMIN_TOKEN); recorded as `admin`. Without any token on loopback,
    /// an admin token is generated and printed.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// File with named admin tokens, `name token` per line: what each admin decides is
    /// recorded under their name (default: $LOCKSTEP_ADMIN_TOKENS, `name=token,…`).
    #[arg(long, value_name = "FILE")]
    admin_tokens_file: Option<PathBuf>,
    /// Request logs as text or JSON lines (stderr).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    #[command(flatten)]
    engine: engine::EngineArgs,
    /// Queries that run at once (more wait for a turn).
    #[arg(long, value_name = "N", default_value_t = api::Config::DEFAULT_QUERY_CONCURRENCY)]
    query_concurrency: usize,
    /// A query that runs longer is answered 503.
    #[arg(long, value_name = "SECONDS", default_value_t = api::Config::DEFAULT_QUERY_TIMEOUT_SECS)]
    query_timeout: u64,
    /// Largest EVTX upload, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = api::Config::DEFAULT_UPLOAD_LIMIT_MB)]
    upload_limit_mb: u64,
    /// Largest policy or inventory body, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = api::Config::DEFAULT_DOCUMENT_LIMIT_MB)]
    document_limit_mb: u64,
    /// Where uploads are written while they arrive (default: the system's temporary folder).
    #[arg(long, value_name = "DIR")]
    upload_dir: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first), so
    /// tokens do not cross the network in clear; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS #8, PKCS #1 or SEC1); needs --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// POST alerts on unexpected blocks (a new app blocked without a decision, more than 20
    /// unexpected blocks in an hour) to this http(s) URL, e.g. a Teams or Slack incoming
    /// webhook; each alert once, retried until delivered. Default: the webhook kept by
    /// `lockstep alerts set`.
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// How often groups with a rollout record are looked at for alerts.
    #[arg(long, value_name = "SECONDS", default_value_t = api::AlertSettings::DEFAULT_INTERVAL_SECS, requires = "alert_webhook")]
    alert_interval: u64,
    /// Keep this folder or file ingested while serving, as `lockstep collect` does
    /// (repeatable).
    #[arg(long, value_name = "PATH")]
    watch: Vec<PathBuf>,
    /// Seconds between the collector's passes.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, requires = "watch")]
    watch_interval: u64,
}

/// The tokens from files or the environment; a generated admin token on loopback when none
/// is given (returned too, to print it).
fn tokens(args: &ServeArgs) -> anyhow::Result<(api::Tokens, Option<String>)> {
    let from = |file: &Option<PathBuf>, var: &str| -> anyhow::Result<Option<String>> {
        match file {
            Some(path) => Ok(Some(read_token_file(path)?)),
            None => Ok(std::env::var(var).ok().filter(|v| !v.trim().is_empty())),
        }
    };
    let read = from(&args.token_file, "LOCKSTEP_TOKEN")?;
    let admin = from(&args.admin_token_file, "LOCKSTEP_ADMIN_TOKEN")?;
    let named = from(&args.admin_tokens_file, "LOCKSTEP_ADMIN_TOKENS")?;
    let mut admins = match &named {
        Some(text) => api::Tokens::parse_named(text).map_err(|e| {
            anyhow::anyhow!(
                "the named admin tokens (--admin-tokens-file or LOCKSTEP_ADMIN_TOKENS): {e}"
            )
        })?,
        None => Vec::new(),
    };
    if let Some(admin) = &admin {
        admins.push((api::ADMIN_NAME.to_owned(), admin.clone()));
    }
    if read.is_none() && admins.is_empty() {
        if !args.listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {} without a token: set LOCKSTEP_TOKEN / LOCKSTEP_ADMIN_TOKEN or pass --token-file / --admin-token-file",
                args.listen
            );
        }
        let generated = api::Tokens::generate().context("generating a token")?;
        let tokens = api::Tokens::new(None, Some(&generated)).map_err(anyhow::Error::msg)?;
        return Ok((tokens, Some(generated)));
    }
    let tokens = api::Tokens::named(read.as_deref(), admins).map_err(|e| {
        anyhow::anyhow!("{e} (LOCKSTEP_TOKEN, LOCKSTEP_ADMIN_TOKEN(S) or the token files)")
    })?;
    Ok((tokens, None))
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", output::path(path)))
}

pub(crate) fn run(args: ServeArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let (tokens, generated) = tokens(&args)?;
    // A webhook that is not a URL is refused before anything else happens.
    let alerts = args
        .alert_webhook
        .as_deref()
        .map(|url| {
            api::Webhook::parse(url)
                .map_err(|e| anyhow::anyhow!("--alert-webhook: {e}"))
                .map(|webhook| api::AlertSettings {
                    interval: Duration::from_secs(args.alert_interval.max(1)),
                    ..api::AlertSettings::new(webhook)
                })
        })
        .transpose()?;
    // Files that cannot serve HTTPS are refused before anything is ingested or opened.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(api::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    if !args.paths.is_empty() {
        crate::report::ingest_first(&args.paths, &args.data, quiet)?;
        if args.inventory.is_none()
            && let Some(said) = crate::report::adopt_inventory(&args.paths, &args.data)?
        {
            tracing::info!("{said}");
        }
    }
    let mut config = api::Config::new(args.data.clone(), tokens);
    // A workspace that cannot be opened (damaged, newer) stops the server here, untouched.
    let ws = workspace::Workspace::open(&args.data)?;
    // Without --alert-webhook, alerts go where `lockstep alerts set` said.
    let alerts = match (alerts, ws.alert_config()?) {
        (None, Some(kept)) => Some(
            api::AlertSettings::from_config(&kept)
                .map_err(|e| anyhow::anyhow!("the workspace's alert webhook: {e}"))?,
        ),
        (alerts, _) => alerts,
    };
    config.workspace = Some(std::sync::Arc::new(ws));
    if let Some(inventory) = &args.inventory {
        // A bad inventory is better refused now than on every request.
        query::Inventory::from_path(inventory)?;
        config.inventory_path = inventory.clone();
    }
    config.current_policy = args.current.as_deref().map(read_policy).transpose()?;
    config.memory_mb = args.engine.memory_mb;
    config.engine = args.engine.engine.clone();
    config.query_concurrency = args.query_concurrency.max(1);
    config.query_timeout = Duration::from_secs(args.query_timeout.max(1));
    config.upload_limit = args.upload_limit_mb.max(1) << 20;
    config.document_limit = args.document_limit_mb.max(1) << 20;
    if let Some(dir) = &args.upload_dir {
        config.upload_dir = dir.clone();
    }
    config.tls = tls;
    config.alerts = alerts;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating the data folder {}", output::path(&args.data)))?;
    if !args.watch.is_empty() {
        // Ingests take the store lock, so the collector and uploads never interleave.
        let (data, watch) = (args.data.clone(), args.watch.clone());
        let interval = Duration::from_secs(args.watch_interval.max(1));
        std::thread::spawn(move || {
            let mut collector = ingest::collect::Collector::new(&data, &watch);
            loop {
                let pass = collector.pass();
                if let Some(e) = &pass.error {
                    tracing::warn!("collecting: {e}");
                }
                if pass.rows_new > 0 {
                    tracing::info!(
                        rows = pass.rows_new,
                        files = pass.files_read.len(),
                        "collected"
                    );
                }
                collector.wait(interval);
            }
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if config.engine != query::Engine::Local {
            // An unreachable scheduler is said now, not as a 503 on every request.
            let store = query::Store::new(&args.data);
            config.engine.context(config.memory_mb, &store).await?;
            tracing::info!(engine = %config.engine, "queries run on Ballista");
        }
        if let Some(alerts) = &config.alerts {
            // Unreachable now is said, not fatal: alerts are kept and retried.
            let address = alerts.webhook.address();
            let reachable = tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(address.as_str()),
            )
            .await;
            if !matches!(reachable, Ok(Ok(_))) {
                tracing::warn!(
                    "the alert webhook ({address}) cannot be reached now; alerts are kept and retried"
                );
            }
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        // A closed stdout (a script that read the address and went) must not stop the server.
        if let Err(e) = announce(scheme, address, &args.data, generated.as_deref()) {
            tracing::warn!("could not print the address: {e}");
        }
        let state = Arc::new(api::AppState::new(config));
        api::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped: requests in progress were finished");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where to go, on stdout (a script can read the address when the port was 0).
fn announce(
    scheme: &str,
    address: SocketAddr,
    data: &Path,
    generated: Option<&str>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let base = format!("{scheme}://{address}");
    writeln!(out, "lockstep serving {} on {base}/", output::path(data))?;
    writeln!(out, "API: {base}/api/v1/ (OpenAPI: /api/v1/openapi.json)")?;
    match generated {
        Some(token) => writeln!(
            out,
            "No token was given: this run's admin token is {token}\nDashboard: {base}/#token={token}"
        )?,
        None => writeln!(out, "Dashboard: {base}/ (sign in with your token)")?,
    }
    out.flush()?;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in progress");
}
