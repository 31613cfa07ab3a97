//! A provider endpoint that misbehaves on purpose: a plain TCP server on 127.0.0.1 (threads, no
//! HTTP library, so that it can do what no well-behaved server does: reset the connection, stall,
//! or stream a body far past any limit without holding it in memory).

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

/// What the endpoint does with the next requests.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Answer `status` with `content_type` and `body`.
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Wait this long, then answer as `Answer` would with the last good body.
    Slow(Duration, String),
    /// Read a few bytes of the request and close with the rest unread: the kernel answers with
    /// a TCP reset.
    Reset,
    /// `200` with a body of `bytes` bytes, sent in 64 KiB chunks; with `declared`, a
    /// `Content-Length` says so up front, without it the body is chunked.
    Huge { bytes: usize, declared: bool },
    /// A redirect to `location` with status `status`.
    Redirect { status: u16, location: String },
}

impl Mode {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Mode::Answer {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

pub struct Faulty {
    base: String,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
    /// Bytes of huge bodies actually written, to show the reader stopped early.
    written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Faulty {
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, w, s) = (
            mode.clone(),
            requests.clone(),
            written.clone(),
            stop.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let mode = m.lock().unwrap().clone();
                r.fetch_add(1, Ordering::SeqCst);
                let w = w.clone();
                thread::spawn(move || serve(stream, mode, &w));
            }
        });
        Self {
            base,
            mode,
            requests,
            written,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

/// Reads the request head and, when it says so, its body.
fn read_request(stream: &mut TcpStream) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

fn head(status: u16, extra: &str) -> String {
    format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n{extra}\r\n")
}

fn serve(mut stream: TcpStream, mode: Mode, written: &AtomicUsize) {
    if let Mode::Reset = mode {
        let mut first = [0u8; 1];
        let _ = stream.read(&mut first);
        return; // dropped with the rest of the request unread: RST
    }
    if read_request(&mut stream).is_none() {
        return;
    }
    let _ = match mode {
        Mode::Answer {
            status,
            content_type,
            body,
        } => answer(&mut stream, status, content_type, &body),
        Mode::Slow(delay, body) => {
            thread::sleep(delay);
            answer(&mut stream, 200, "application/json", &body)
        }
        Mode::Huge { bytes, declared } => huge(&mut stream, bytes, declared, written),
        Mode::Redirect { status, location } => stream.write_all(
            head(
                status,
                &format!("Location: {location}\r\nContent-Length: 0\r\n"),
            )
            .as_bytes(),
        ),
        Mode::Reset => Ok(()),
    };
}

fn answer(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let extra = format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    stream.write_all(head(status, &extra).as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn huge(
    stream: &mut TcpStream,
    bytes: usize,
    declared: bool,
    written: &AtomicUsize,
) -> std::io::Result<()> {
    let extra = if declared {
        format!("Content-Type: application/json\r\nContent-Length: {bytes}\r\n")
    } else {
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n".to_owned()
    };
    stream.write_all(head(200, &extra).as_bytes())?;
    let chunk = [b' '; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        if declared {
            stream.write_all(&chunk[..n])?;
        } else {
            stream.write_all(format!("{n:x}\r\n").as_bytes())?;
            stream.write_all(&chunk[..n])?;
            stream.write_all(b"\r\n")?;
        }
        written.fetch_add(n, Ordering::SeqCst);
        left -= n;
    }
    if !declared {
        stream.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}
