//! How fast each layer of weft's connection stack moves bulk bytes on this machine, memory to
//! memory: no hashing, no disk. Two processes on 127.0.0.1, as for a real transfer: this one
//! sends, a child started from the same binary receives.
//!
//! Layers (one per run, named on the command line):
//! - `tcp`: a plain TCP stream (tokio), the counterpart of `iperf3 -c 127.0.0.1`;
//! - `tls`: weft's TLS upgrade (`weft_net::tls`, rustls with AES-GCM) over that TCP stream;
//! - `libp2p`: a whole weft swarm (`weft_net::Network`: TCP, TLS, weft's yamux) and one
//!   libp2p stream on it, the path a download's bytes take.
//!
//! The bytes are written in `WRITE` pieces from one buffer; the receiver reads into a buffer of
//! the same size and answers one byte once everything has arrived. The time runs from the first
//! write to that answer (connection set-up excluded). Prints one line:
//! `RESULT stream layer=L bytes=N seconds=S MBps=R sender_cpu_s=C receiver_cpu_s=D`, CPU from
//! `/proc/self/stat` (Linux).
//!
//! Both processes run with the allocator settings `weft` gives itself (glibc's
//! `MALLOC_ARENA_MAX=2`, `MALLOC_MMAP_THRESHOLD_=4194304`, `MALLOC_TRIM_THRESHOLD_=33554432`):
//! with glibc's defaults every 128 KiB frame buffer is a fresh `mmap`, and page faults took a
//! third of the libp2p run's time.
//!
//! Usage: `cargo run --release -p weft-net --example stream_bench -- LAYER [MIB]`

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::core::upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade};
use libp2p::{Multiaddr, StreamProtocol};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;
use weft_net::Limits;
use weft_net::{Keypair, NetEvent, NetSettings, Network, tls};

/// Bytes per write and per read.
const WRITE: usize = 1 << 20;
/// The protocol of the libp2p run.
const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/stream-bench/1");
/// How long any one run may take.
const LIMIT: Duration = Duration::from_secs(300);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// glibc's allocator settings, as `weft` sets them for itself with `mallopt`.
const MALLOC_ENV: [(&str, &str); 3] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "4194304"),
    ("MALLOC_TRIM_THRESHOLD_", "33554432"),
];

fn main() -> Result<(), Error> {
    if std::env::var_os(MALLOC_ENV[0].0).is_none() {
        // The settings are read when the process starts: run again with them.
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .envs(MALLOC_ENV)
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [role, layer] if role == "receive" => tokio::time::timeout(LIMIT, receive(layer)).await,
        [layer] => tokio::time::timeout(LIMIT, send(layer, 1024)).await,
        [layer, mib] => {
            let mib = mib
                .parse()
                .map_err(|_| format!("'{mib}' is not a number of MiB"))?;
            tokio::time::timeout(LIMIT, send(layer, mib)).await
        }
        _ => return Err("usage: stream_bench tcp|tls|libp2p [MIB]".into()),
    };
    result.map_err(|_| format!("gave up after {LIMIT:?}"))?
}

/// The sending side: starts the receiver, connects, sends `mib` MiB, prints the result.
async fn send(layer: &str, mib: u64) -> Result<(), Error> {
    if !matches!(layer, "tcp" | "tls" | "libp2p") {
        return Err(format!("unknown layer '{layer}': tcp, tls or libp2p").into());
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args(["receive", layer])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufReader::new(child.stdout.take().ok_or("no child stdout")?).lines();
    let addr = lines.next().ok_or("the receiver did not start")??;
    let bytes = mib << 20;
    let cpu0 = cpu_seconds();
    let seconds = match layer {
        "tcp" => {
            let tcp = TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            timed_send(tcp.compat(), bytes).await?
        }
        "tls" => {
            let tcp = TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            let config = tls::Config::new(&Keypair::generate_ed25519())?;
            let (_, stream) = config.upgrade_outbound(tcp.compat(), "/tls/1.0.0").await?;
            timed_send(stream, bytes).await?
        }
        _ => {
            let addr: Multiaddr = addr.parse()?;
            let (peer, _) = weft_net::parse_peer_multiaddr(&addr.to_string())?;
            let (net, mut events) = spawn_network(vec![(peer, addr)])?;
            while let Some(event) = events.recv().await {
                if matches!(event, NetEvent::Connected { peer: p, .. } if p == peer) {
                    break;
                }
            }
            let stream = net.stream_control().open_stream(peer, PROTOCOL).await?;
            timed_send(stream, bytes).await?
        }
    };
    let sender_cpu = cpu_seconds() - cpu0;
    let receiver_cpu: f64 = lines
        .next()
        .ok_or("the receiver did not report")??
        .parse()?;
    child.wait()?;
    println!(
        "RESULT stream layer={layer} bytes={bytes} seconds={seconds:.3} MBps={:.1} \
         sender_cpu_s={sender_cpu:.2} receiver_cpu_s={receiver_cpu:.2}",
        bytes as f64 / 1e6 / seconds
    );
    Ok(())
}

/// Writes `bytes` bytes and waits for the receiver's one-byte answer; the seconds it took.
async fn timed_send(
    mut stream: impl futures::AsyncRead + futures::AsyncWrite + Unpin,
    bytes: u64,
) -> Result<f64, Error> {
    let buf = vec![0x5a_u8; WRITE];
    let start = Instant::now();
    stream.write_all(&bytes.to_le_bytes()).await?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(WRITE as u64) as usize;
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.flush().await?;
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack).await?;
    let seconds = start.elapsed().as_secs_f64();
    stream.close().await?;
    Ok(seconds)
}

/// The receiving side: prints where to connect, takes one connection, receives, then prints
/// the CPU time receiving took.
async fn receive(layer: &str) -> Result<(), Error> {
    let mut out = std::io::stdout();
    match layer {
        "tcp" | "tls" => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            writeln!(out, "{}", listener.local_addr()?)?;
            out.flush()?;
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            let cpu0 = cpu_seconds();
            if layer == "tcp" {
                drain(tcp.compat()).await?;
            } else {
                let config = tls::Config::new(&Keypair::generate_ed25519())?;
                let (_, stream) = config.upgrade_inbound(tcp.compat(), "/tls/1.0.0").await?;
                drain(stream).await?;
            }
            writeln!(out, "{}", cpu_seconds() - cpu0)?;
        }
        _ => {
            let (net, mut events) = spawn_network(Vec::new())?;
            let mut incoming = net.stream_control().accept(PROTOCOL)?;
            while let Some(event) = events.recv().await {
                if let NetEvent::Listening { addr } = event {
                    writeln!(out, "{addr}")?;
                    out.flush()?;
                    break;
                }
            }
            let (_, stream) = incoming.next().await.ok_or("no stream arrived")?;
            let cpu0 = cpu_seconds();
            drain(stream).await?;
            writeln!(out, "{}", cpu_seconds() - cpu0)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Reads the byte count the sender announces (8 bytes, little-endian), then that many bytes,
/// then answers one byte and waits for the sender to close.
async fn drain(
    mut stream: impl futures::AsyncRead + futures::AsyncWrite + Unpin,
) -> Result<(), Error> {
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await?;
    let mut left = u64::from_le_bytes(count);
    let mut buf = vec![0u8; WRITE];
    while left > 0 {
        let want = left.min(WRITE as u64) as usize;
        let n = stream.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(format!("the stream ended {left} bytes early").into());
        }
        left -= n as u64;
    }
    stream.write_all(&[1]).await?;
    stream.flush().await?;
    // Until the sender has the answer and closes: exiting earlier could drop the answer
    // before the connection's task has sent it.
    let _ = stream.read(&mut buf).await;
    Ok(())
}

/// A weft swarm on 127.0.0.1 that dials `bootstrap`.
fn spawn_network(
    bootstrap: Vec<(libp2p::PeerId, Multiaddr)>,
) -> Result<(weft_net::NetHandle, tokio::sync::mpsc::Receiver<NetEvent>), Error> {
    let settings = NetSettings {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
        bootstrap,
        mdns: false,
        relay_server: false,
        limits: Limits::default(),
    };
    let (net, events, _) = Network::spawn(
        Keypair::generate_ed25519(),
        settings,
        &mut Registry::default(),
    )?;
    Ok((net, events))
}

/// CPU time this process has used, user and system, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
