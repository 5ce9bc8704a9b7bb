//! A TCP proxy the test controls, between one kronjob replica and the API
//! server: pass bytes through, blackhole them, slow them down, or reset
//! every connection. TLS stays end to end (the proxy sees only bytes); the
//! API server's certificate names 127.0.0.1, so a kubeconfig whose server
//! is `https://127.0.0.1:<proxy port>` verifies as usual.
//!
//! The proxy runs on a thread of its own with its own runtime, so that a
//! test blocking its runtime (a blocking HTTP GET, a child process) never
//! delays the bytes by accident.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes of every connection, old and new.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Forward at once.
    Pass,
    /// Accept connections but forward nothing either way, and read nothing
    /// more (the peers' TCP buffers fill up, as in a partition); connections
    /// stay open. Bytes already read are held and forwarded once the mode
    /// changes, as TCP would retransmit them after a partition heals.
    Blackhole,
    /// Forward each chunk read after this delay (in order, one at a time).
    Slow(Duration),
}

/// Counters of what went through, for the test's report.
#[derive(Default, Debug)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub open: AtomicUsize,
    pub bytes: AtomicU64,
    pub resets: AtomicUsize,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped to reset every open connection.
    reset: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    pub stats: Arc<Stats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listen on 127.0.0.1 (a free port) and forward to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (reset, reset_rx) = watch::channel(0u64);
        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(serve(
                    listener,
                    upstream,
                    mode_rx,
                    reset_rx,
                    stop_rx,
                    thread_stats,
                ));
            })
            .unwrap();
        Proxy {
            addr,
            mode,
            reset,
            stop,
            stats,
            thread: Some(thread),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        eprintln!("[proxy {}] {mode:?}", self.addr.port());
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Reset (RST) every open connection; new ones are accepted as usual.
    pub fn reset_connections(&self) {
        eprintln!("[proxy {}] reset all connections", self.addr.port());
        self.reset.send_modify(|g| *g += 1);
    }

    pub fn open_connections(&self) -> usize {
        self.stats.open.load(Ordering::SeqCst)
    }

    /// A copy of `kubeconfig` whose server is this proxy, written to `path`.
    pub fn kubeconfig(&self, kubeconfig: &std::path::Path, path: &std::path::Path) {
        let text = std::fs::read_to_string(kubeconfig).expect("read kubeconfig");
        let mut kc: serde_json::Value = serde_norway::from_str(&text).expect("parse kubeconfig");
        for cluster in kc["clusters"].as_array_mut().expect("clusters") {
            cluster["cluster"]["server"] = format!("https://{}", self.addr).into();
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("kubeconfig directory");
        }
        std::fs::write(path, serde_norway::to_string(&kc).unwrap()).expect("write kubeconfig");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    reset: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<Stats>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            a = listener.accept() => a,
        };
        let Ok((client, _)) = accepted else { continue };
        let (mode, reset, stop, stats) = (mode.clone(), reset.clone(), stop.clone(), stats.clone());
        conns.spawn(async move {
            stats.connections.fetch_add(1, Ordering::SeqCst);
            stats.open.fetch_add(1, Ordering::SeqCst);
            connection(client, upstream, mode, reset, stop, &stats).await;
            stats.open.fetch_sub(1, Ordering::SeqCst);
        });
        // Reap finished connections as we go.
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    mut reset: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
    stats: &Stats,
) {
    reset.mark_unchanged();
    let _ = client.set_nodelay(true);
    let mut server = tokio::select! {
        s = TcpStream::connect(upstream) => match s {
            Ok(s) => s,
            Err(_) => return, // the API server is down: the client sees the close
        },
        _ = reset.changed() => return,
        _ = stop.wait_for(|s| *s) => return,
    };
    let _ = server.set_nodelay(true);
    let aborted = {
        let (client_r, client_w) = client.split();
        let (server_r, server_w) = server.split();
        let up = pump(client_r, server_w, mode.clone(), stats);
        let down = pump(server_r, client_w, mode, stats);
        tokio::select! {
            _ = async { tokio::join!(up, down) } => false,
            _ = reset.changed() => {
                stats.resets.fetch_add(1, Ordering::SeqCst);
                true
            }
            _ = stop.wait_for(|s| *s) => true,
        }
    };
    if aborted {
        // Closing with linger 0 sends RST instead of FIN, both ways. (tokio
        // deprecates set_linger because a *positive* linger blocks the
        // thread on drop; zero never does.)
        #[allow(deprecated)]
        let _ = client.set_linger(Some(Duration::ZERO));
        #[allow(deprecated)]
        let _ = server.set_linger(Some(Duration::ZERO));
    }
}

/// Copy one direction according to the mode until the reader ends (the
/// end is passed on) or a write fails.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
    stats: &Stats,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // In a blackhole nothing is read: the sender's buffers fill up.
        let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // The mode may have changed while we waited for the bytes.
        let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
        let current = *mode.borrow();
        if let Mode::Slow(delay) = current {
            tokio::time::sleep(delay).await;
            // A blackhole that began during the delay holds these bytes too.
            let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        stats.bytes.fetch_add(n as u64, Ordering::SeqCst);
    }
}
