//! `engage-server`: see `engage_server` and the README.

use axum::http::HeaderName;
use clap::Parser;
use engage_server::auth::{self, TokenSource};
use engage_server::{app, publish, AppState, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

// mimalloc returns freed memory to the OS and keeps no per-thread arenas of freed blocks: with
// glibc's allocator a 100,000-contact freeze left the process ≈ 250 MiB larger for good.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// engage's server: campaign documents, bundles, availability, events and reports.
///
/// The admin token comes from ENGAGE_ADMIN_TOKEN; without it a token is generated at the first
/// start, printed once, and only its SHA-256 is kept in the data directory (so it keeps working
/// after a restart). Setting ENGAGE_ADMIN_TOKEN overrides the stored one.
#[derive(Parser, Debug)]
#[command(name = "engage-server", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Data directory (SQLite database, admin token digest).
    #[arg(long, env = "ENGAGE_DATA", default_value = "./data")]
    data: PathBuf,
    /// The database: `sqlite://<path>` (default: engage.sqlite3 in --data) or
    /// `postgres://user:password@host:port/db`, which any number of engage-server processes
    /// can share (they then behave as one server).
    #[arg(long, env = "ENGAGE_DATABASE_URL")]
    database: Option<String>,
    /// How long an SMS message or hand-off being sent may stay unfinished before another server
    /// sharing the database takes it as lost and sends it again, seconds.
    #[arg(long, env = "ENGAGE_LEASE_SECONDS", default_value_t = 60)]
    lease_seconds: u32,
    /// Static root: tag.js, pkg/, demo/, admin/.
    #[arg(long, env = "ENGAGE_WWW", default_value = "./www")]
    www: PathBuf,
    /// Request header holding the visitor's ISO country code (e.g. CF-IPCountry).
    #[arg(long, env = "ENGAGE_COUNTRY_HEADER")]
    country_header: Option<String>,
    /// Request header holding the client IP when behind a proxy (e.g. X-Forwarded-For);
    /// otherwise the peer address is used for rate limiting.
    #[arg(long, env = "ENGAGE_CLIENT_IP_HEADER")]
    client_ip_header: Option<String>,
    /// Public base URL of this server, for offsite links in QR codes (default: http://<Host>).
    #[arg(long, env = "ENGAGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// A campaign document uploaded at start-up when its site has no active version yet.
    #[arg(long, env = "ENGAGE_DEMO")]
    demo: Option<PathBuf>,
    /// Largest admin request body (documents, simulations), bytes.
    #[arg(long, env = "ENGAGE_MAX_DOCUMENT_BYTES", default_value_t = engage_engine::validate::MAX_DOCUMENT_BYTES + (1 << 20))]
    max_document_bytes: usize,
    /// Event batches per minute per client IP (0: unlimited).
    #[arg(long, env = "ENGAGE_RATE_IP", default_value_t = 1200)]
    rate_ip: u32,
    /// Event batches per minute per visitor (0: unlimited).
    #[arg(long, env = "ENGAGE_RATE_VISITOR", default_value_t = 120)]
    rate_visitor: u32,
    /// Request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// A request head must arrive within this many seconds (also how long an idle keep-alive
    /// connection is kept); slow or half-open clients are closed.
    #[arg(long, env = "ENGAGE_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// A request body must arrive within this many seconds.
    #[arg(long, env = "ENGAGE_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Open connections at most; above it a connection is answered 503 and closed.
    #[arg(long, env = "ENGAGE_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Open availability streams per client address (the next one is answered 429).
    #[arg(long, env = "ENGAGE_SSE_PER_ADDRESS", default_value_t = 16)]
    sse_per_address: usize,
    /// Open availability streams in all (above it the stream idle longest is closed).
    #[arg(long, env = "ENGAGE_SSE_TOTAL", default_value_t = 10_000)]
    sse_total: usize,
    /// A proxy address or CIDR block whose forwarding header (--client-ip-header, default
    /// X-Forwarded-For) is believed; repeat or separate with commas. None by default.
    #[arg(long, env = "ENGAGE_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxy: Vec<String>,
}

fn header_name(flag: &str, v: Option<String>) -> anyhow::Result<Option<HeaderName>> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            HeaderName::try_from(s.to_ascii_lowercase())
                .map_err(|_| anyhow::anyhow!("{flag}: \"{s}\" is not a header name"))
        })
        .transpose()
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("engage-server: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(&cli.data);
    config.database = cli.database.clone();
    engage_server::store::sms::set_lease_ms(i64::from(cli.lease_seconds) * 1000);
    config.www = cli.www.clone();
    config.country_header = header_name("--country-header", cli.country_header)?;
    config.client_ip_header = header_name("--client-ip-header", cli.client_ip_header)?;
    config.public_url = cli.public_url.filter(|s| !s.is_empty());
    // Bound first, so the URLs handed to SMS providers name the real port (`--listen …:0`).
    let addr: SocketAddr = tokio::net::lookup_host(&cli.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cli.listen))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--listen {}: no address", cli.listen))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let reachable = if local.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
    } else {
        local
    };
    config.listen_url = Some(format!("http://{reachable}"));
    config.max_document_bytes = cli.max_document_bytes;
    config.rate_ip_per_minute = cli.rate_ip;
    config.rate_visitor_per_minute = cli.rate_visitor;
    config.request_timeout = Duration::from_secs(cli.timeout.max(1));
    config.body_timeout = Duration::from_secs(cli.body_timeout.max(1));
    config.sse_per_address = cli.sse_per_address.max(1);
    config.sse_total = cli.sse_total.max(1);
    config.trusted_proxies = cli
        .trusted_proxy
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("--trusted-proxy: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let limits = engage_server::serve::Limits {
        header_timeout: Duration::from_secs(cli.header_timeout.max(1)),
        max_connections: cli.max_connections.max(1),
    };

    let env_token = std::env::var("ENGAGE_ADMIN_TOKEN").ok();
    let (digest, source) = auth::setup(&cli.data, env_token.as_deref())?;
    let refresh_every = config.refresh_interval;
    let state = tokio::task::spawn_blocking(move || AppState::open(config, digest)).await??;

    if let Some(path) = &cli.demo {
        load_demo(&state, path).await?;
    }

    match source {
        TokenSource::Generated(token) => {
            println!("engage-server: admin token (shown once; only its SHA-256 is stored in {}): {token}",
                cli.data.join(auth::TOKEN_FILE).display());
        }
        TokenSource::Stored => println!(
            "engage-server: admin token: the one printed at the first start (its SHA-256 is in {}; \
             delete that file for a new one, or set ENGAGE_ADMIN_TOKEN)",
            cli.data.join(auth::TOKEN_FILE).display()
        ),
        TokenSource::Environment => println!("engage-server: admin token from ENGAGE_ADMIN_TOKEN"),
    }
    println!("engage-server: listening on http://{local}");
    tracing::info!(%local, data = %cli.data.display(), www = %cli.www.display(), "listening");

    tokio::spawn(publish::refresher(state.clone(), refresh_every));
    engage_server::sms::sender::start(&state)?;
    engage_server::conversations::start_worker(&state)?;
    engage_server::fanout::start(&state);
    let shutdown_state = state.clone();
    let router = app(state.clone());
    let server = engage_server::serve::serve(listener, router, state, limits, async move {
        signal().await;
        tracing::info!("shutting down: finishing requests, closing streams");
        shutdown_state.begin_shutdown();
    });
    // In-flight requests get a bounded time to finish after the signal.
    let mut server = std::pin::pin!(server);
    tokio::select! {
        () = &mut server => {}
        _ = async { signal().await; tokio::time::sleep(Duration::from_secs(10)).await } => {
            tracing::warn!("requests still running 10 s after the signal; exiting");
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn signal() {
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
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// `--demo`: upload the document when its site has no active version yet.
async fn load_demo(state: &AppState, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--demo {}: {e}", path.display()))?;
    let site = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("site").and_then(|s| s.as_str()).map(str::to_owned))
        .filter(|s| engage_server::ids::is_id(s))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--demo {}: no valid \"site\" in the document",
                path.display()
            )
        })?;
    if state.sites.get(&site).and_then(|s| s.active()).is_some() {
        tracing::info!(%site, "demo document not loaded: the site already has an active version");
        return Ok(());
    }
    match publish::publish(state, &site, "demo".into(), false, move |_| Ok(text)).await {
        Ok(p) => {
            tracing::info!(%site, version = p.version, warnings = p.warnings.len(), "demo document loaded");
            for w in p.warnings {
                tracing::warn!(%site, "demo document: {}: {}", w.path, w.message);
            }
            Ok(())
        }
        Err(e) => {
            let details: Vec<String> = e
                .details
                .iter()
                .map(|d| format!("  {}: {}", d.path, d.message))
                .collect();
            anyhow::bail!(
                "--demo {}: {}\n{}",
                path.display(),
                e.message,
                details.join("\n")
            )
        }
    }
}
