//! What the server allows a client connection ([`HttpLimits`], the `HTTP_*` settings): how
//! many may be open at once, how long one may take to send a request head, how long it may
//! wait idle between requests or leave a response unread.
//!
//! poem's server offers an idle timeout only, which closes nothing that is in the middle of a
//! request, and hyper's own header timeout is not reachable through poem. So the limits are
//! kept here, around the accepted sockets, without parsing HTTP ourselves:
//! - [`LimitedAcceptor`] takes a permit of a semaphore before it accepts: at the cap, further
//!   connections wait in the kernel's listen backlog (clients see a slow connect, not an
//!   error) until one closes. It also waits a little after a failed accept (out of file
//!   descriptors), where poem would retry at once in a busy loop.
//! - [`GuardedIo`] is the socket with deadlines. The [`track_requests`] middleware tells it
//!   when the application is handling a request; then no deadline runs (reading the body has
//!   its own limit, in `middleware::body_guard`, and a handler may wait for a read model).
//!   Otherwise: a connection that starts a request (or was just opened) must complete its
//!   head within `HTTP_HEADER_READ_TIMEOUT_MS` (then `408 request-timeout`, and it is
//!   closed); a kept-alive connection may wait `HTTP_IDLE_TIMEOUT_MS` for its next request
//!   (then it is closed silently, as reverse proxies do); a response the client does not read
//!   for `HTTP_IDLE_TIMEOUT_MS` ends the connection.
//! - [`GuardedIo`] also replaces the answers that hyper writes by itself when it cannot parse
//!   a request (`400`, `414` for a request target over 65534 bytes, `431` for a head too
//!   large): a bare status line without body, request id or security headers. They become
//!   problem+json with the headers every other answer has. hyper writes such an answer only
//!   after a parse failure, as the last bytes of the connection, and every answer of the
//!   application carries `x-request-id`; so a response head at the very end of a write,
//!   with one of those statuses and no request id, is hyper's own.
//!
//! HTTP/2 without TLS (prior knowledge) works too, with one difference: its pings count as
//! the start of a request, so an idle HTTP/2 connection that pings is closed after the header
//! timeout rather than the idle one. Browsers speak HTTP/2 only over TLS, which a reverse
//! proxy in front terminates.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use infrastructure::config::HttpLimits;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Request, Response, Result};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::middleware::{REQUEST_ID_HEADER, SECURITY_HEADERS};
use crate::problem::{problem_body, ProblemKind, PROBLEM_JSON};

/// The open connections by peer address, so that a request finds its connection's
/// [`Activity`] (poem gives a handler the peer address, not the connection).
#[derive(Default)]
pub struct Connections {
    by_peer: Mutex<HashMap<SocketAddr, Arc<Activity>>>,
}

impl Connections {
    fn insert(&self, peer: SocketAddr, activity: Arc<Activity>) {
        self.by_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, activity);
    }

    fn remove(&self, peer: SocketAddr, activity: &Arc<Activity>) {
        let mut by_peer = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        if by_peer.get(&peer).is_some_and(|a| Arc::ptr_eq(a, activity)) {
            by_peer.remove(&peer);
        }
    }

    fn get(&self, peer: &SocketAddr) -> Option<Arc<Activity>> {
        self.by_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
            .cloned()
    }
}

/// The requests of one connection that reached the application, and those it answered.
#[derive(Default)]
pub struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
    /// The connection's task, as of its last read. hyper does not read again after an
    /// answer when its last read found nothing (it waits to be woken), so it is woken when
    /// a request is answered: the idle deadline then starts.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    /// Whether the application is handling a request of this connection.
    fn busy(&self) -> bool {
        self.started.load(Ordering::SeqCst) != self.finished.load(Ordering::SeqCst)
    }
}

/// A request being handled: counted finished when dropped (answered or cancelled).
struct Handling(Arc<Activity>);

impl Handling {
    fn start(activity: Arc<Activity>) -> Self {
        activity.started.fetch_add(1, Ordering::SeqCst);
        Self(activity)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        let reader = self
            .0
            .reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// Tells the request's connection that the application handles it, until it has answered.
pub async fn track_requests<E: Endpoint>(
    next: E,
    req: Request,
    connections: Arc<Connections>,
) -> Result<Response> {
    let activity = req
        .remote_addr()
        .as_socket_addr()
        .and_then(|peer| connections.get(peer));
    let _handling = activity.map(Handling::start);
    Ok(next.get_response(req).await)
}

/// An acceptor with a cap on open connections, whose sockets are [`GuardedIo`].
pub struct LimitedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    limits: HttpLimits,
    connections: Arc<Connections>,
}

impl<A> LimitedAcceptor<A> {
    pub fn new(inner: A, limits: HttpLimits, connections: Arc<Connections>) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            connections,
        }
    }
}

impl<A> Acceptor for LimitedAcceptor<A>
where
    A: Acceptor,
    A::Io: Unpin,
{
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        // At the cap this waits, and the kernel keeps the new connections in the backlog.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        loop {
            match self.inner.accept().await {
                Ok((io, local, remote, scheme)) => {
                    let activity = Arc::new(Activity::default());
                    let peer = remote.as_socket_addr().copied();
                    if let Some(peer) = peer {
                        self.connections.insert(peer, activity.clone());
                    }
                    let io = GuardedIo::new(
                        io,
                        self.limits,
                        permit,
                        activity,
                        peer,
                        self.connections.clone(),
                    );
                    return Ok((io, local, remote, scheme));
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(error) => {
                    // Out of file descriptors or memory: retrying at once would spin.
                    tracing::warn!(%error, "accepting a connection failed; retrying shortly");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Warns when `HTTP_MAX_CONNECTIONS` plus the process's other file descriptors (`reserved`:
/// the database pool, the subscribers, NATS, files) exceed its open-file limit: the cap would
/// then never be reached, and accepting would fail with "too many open files" first.
pub fn check_open_file_limit(limits: &HttpLimits, reserved: usize) {
    let Some(soft) = open_file_limit() else {
        return;
    };
    let needed = limits.max_connections.saturating_add(reserved);
    if needed as u64 > soft {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_file_limit = soft,
            "HTTP_MAX_CONNECTIONS is above what the open-file limit leaves for connections: \
             raise the limit (ulimit -n, LimitNOFILE) or lower HTTP_MAX_CONNECTIONS"
        );
    }
}

/// The soft limit on open files of this process (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// Where a connection is, as its deadlines see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Receiving a request head (or just opened): the header deadline runs.
    Head,
    /// The application handles a request: no deadline.
    Busy,
    /// Waiting for the next request after an answer: the idle deadline runs.
    Idle,
}

/// An accepted socket with the deadlines of [`HttpLimits`] (see the module's
/// documentation). It holds its connection's permit until it is dropped.
pub struct GuardedIo<T> {
    inner: T,
    limits: HttpLimits,
    activity: Arc<Activity>,
    peer: Option<SocketAddr>,
    connections: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
    phase: Phase,
    /// How many requests of this connection the application had taken at the last look.
    seen_started: u64,
    /// Whether bytes of a request arrived in this `Head` phase.
    received_in_head: bool,
    /// Whether this `Head` phase followed a wait with nothing to answer (so hyper has written
    /// every answer before it): only then may a 408 be written.
    head_after_wait: bool,
    read_deadline: Pin<Box<Sleep>>,
    timed_out: bool,
    /// A write waits for the client to read: the write deadline runs.
    write_waiting: bool,
    write_deadline: Pin<Box<Sleep>>,
    /// hyper handed bytes that were not flushed yet.
    unflushed: bool,
    /// An answer of ours being written in place of hyper's own, and how much is written.
    own_answer: Vec<u8>,
    own_written: usize,
}

impl<T> GuardedIo<T> {
    fn new(
        inner: T,
        limits: HttpLimits,
        permit: OwnedSemaphorePermit,
        activity: Arc<Activity>,
        peer: Option<SocketAddr>,
        connections: Arc<Connections>,
    ) -> Self {
        let now = Instant::now();
        Self {
            inner,
            limits,
            activity,
            peer,
            connections,
            _permit: permit,
            phase: Phase::Head,
            seen_started: 0,
            received_in_head: false,
            head_after_wait: true,
            read_deadline: Box::pin(tokio::time::sleep_until(now + limits.header_read_timeout)),
            timed_out: false,
            write_waiting: false,
            write_deadline: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
            unflushed: false,
            own_answer: Vec::new(),
            own_written: 0,
        }
    }

    /// Whether the application took a request since the last look (hyper need not read
    /// while a request is handled, so `Busy` is not always seen here).
    fn took_a_request(&mut self) -> bool {
        let started = self.activity.started.load(Ordering::SeqCst);
        let took = started != self.seen_started;
        self.seen_started = started;
        took
    }

    /// Bytes arrived.
    fn on_received(&mut self) {
        let took = self.took_a_request();
        if self.activity.busy() {
            self.phase = Phase::Busy;
            return;
        }
        if took && self.phase == Phase::Head {
            // Answered without a wait in between: the next request's head begins.
            self.phase = Phase::Busy;
        }
        if self.phase != Phase::Head {
            self.head_after_wait = self.phase == Phase::Idle;
            self.phase = Phase::Head;
            self.read_deadline
                .as_mut()
                .reset(Instant::now() + self.limits.header_read_timeout);
        }
        self.received_in_head = true;
    }

    /// Nothing to read right now.
    fn on_waiting(&mut self) {
        let took = self.took_a_request();
        if self.activity.busy() {
            self.phase = Phase::Busy;
        } else if took || self.phase == Phase::Busy {
            // The application answered: wait for the next request.
            self.phase = Phase::Idle;
            self.received_in_head = false;
            self.read_deadline
                .as_mut()
                .reset(Instant::now() + self.limits.idle_timeout);
        }
    }

    /// The write deadline, while a write waits for the client: the error that ends the
    /// connection once it has passed.
    fn write_timed_out(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if !self.write_waiting {
            self.write_waiting = true;
            self.write_deadline
                .as_mut()
                .reset(Instant::now() + self.limits.idle_timeout);
        }
        if self.write_deadline.as_mut().poll(cx).is_ready() {
            tracing::info!(peer = ?self.peer, "closing a connection: the client does not read");
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response in time",
            ));
        }
        None
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> GuardedIo<T> {
    /// The read deadline passed: the connection ends (end of input for hyper). A request
    /// head that had begun gets a 408 first, if nothing of hyper's is still unwritten.
    fn time_out(&mut self, cx: &mut Context<'_>) {
        self.timed_out = true;
        let answer = self.phase == Phase::Head
            && self.received_in_head
            && self.head_after_wait
            && !self.unflushed
            && self.own_answer.is_empty();
        tracing::info!(
            peer = ?self.peer,
            phase = ?self.phase,
            "closing a connection: timeout"
        );
        if answer {
            let detail = format!(
                "the request head was not received within {} ms",
                self.limits.header_read_timeout.as_millis()
            );
            let bytes = own_answer(ProblemKind::RequestTimeout, detail, None, self.peer);
            // Best effort: a socket with nothing else to send takes it whole at once.
            let _ = Pin::new(&mut self.inner).poll_write(cx, &bytes);
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
    }

    /// Writes what is left of an answer of ours.
    fn poll_own_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.own_written < self.own_answer.len() {
            let rest = &self.own_answer[self.own_written..];
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.write_waiting = false;
                    self.own_written += n;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    return match self.write_timed_out(cx) {
                        Some(error) => Poll::Ready(Err(error)),
                        None => Poll::Pending,
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn write_inner(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                self.write_waiting = false;
                if matches!(result, Ok(n) if n > 0) {
                    self.unflushed = true;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.unflushed = true;
                match self.write_timed_out(cx) {
                    Some(error) => Poll::Ready(Err(error)),
                    None => Poll::Pending,
                }
            }
        }
    }
}

impl<T> Drop for GuardedIo<T> {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            self.connections.remove(peer, &self.activity);
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.on_received();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                {
                    let mut reader = this
                        .activity
                        .reader
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    match reader.as_mut() {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        _ => *reader = Some(cx.waker().clone()),
                    }
                }
                this.on_waiting();
                if this.phase != Phase::Busy && this.read_deadline.as_mut().poll(cx).is_ready() {
                    this.time_out(cx);
                    // The end of input: hyper closes the connection.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Poll::Ready(Err(error)) = this.poll_own_answer(cx) {
            return Poll::Ready(Err(error));
        }
        if this.own_written < this.own_answer.len() {
            return Poll::Pending;
        }
        if let Some(found) = hypers_own_answer(buf) {
            if found.start > 0 {
                // Whatever precedes it first (the tail of an earlier answer).
                return this.write_inner(cx, &buf[..found.start]);
            }
            let detail = match found.status {
                414 => "the request target (path and query) is too long",
                431 => "the request line and headers are too large",
                _ => "the request line or a header is malformed",
            };
            let kind = match found.status {
                414 => ProblemKind::UriTooLong,
                431 => ProblemKind::RequestHeadersTooLarge,
                _ => ProblemKind::MalformedRequest,
            };
            this.own_answer = own_answer(kind, detail.to_owned(), found.date, this.peer);
            this.own_written = 0;
            this.unflushed = true;
            if let Poll::Ready(Err(error)) = this.poll_own_answer(cx) {
                return Poll::Ready(Err(error));
            }
            // hyper's answer counts as written; ours is finished by the flush that follows.
            return Poll::Ready(Ok(buf.len()));
        }
        this.write_inner(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_own_answer(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => {
                this.write_waiting = false;
                if result.is_ok() {
                    this.unflushed = false;
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.write_timed_out(cx) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_own_answer(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    /// Not vectored: hyper then writes each answer from one buffer, so that its own answers
    /// are found whole at the end of a write.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// An answer hyper wrote by itself, found at the end of a write.
#[derive(Debug, PartialEq, Eq)]
struct HyperAnswer {
    /// Where its status line starts.
    start: usize,
    status: u16,
    /// Its `Date` header.
    date: Option<String>,
}

/// The answer that hyper wrote by itself on a request it could not parse, if `buf` ends
/// with one: a whole response head with status 400, 414 or 431 and no `x-request-id` (which
/// every answer of the application has), and nothing after it.
fn hypers_own_answer(buf: &[u8]) -> Option<HyperAnswer> {
    const STATUS_LINE: &[u8] = b"HTTP/1.1 ";
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let start = buf
        .windows(STATUS_LINE.len())
        .rposition(|w| w == STATUS_LINE)?;
    let head = &buf[start..];
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    let status = response.code?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    if response
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(REQUEST_ID_HEADER))
    {
        return None;
    }
    let date = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("date"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::to_owned);
    Some(HyperAnswer {
        start,
        status,
        date,
    })
}

/// A whole answer of the connection layer: problem+json, the security headers, a request
/// id (logged with the reason), and `Connection: close`.
fn own_answer(
    kind: ProblemKind,
    detail: String,
    date: Option<String>,
    peer: Option<SocketAddr>,
) -> Vec<u8> {
    let body = problem_body(kind, Some(detail));
    let request_id = uuid::Uuid::now_v7().to_string();
    let status = kind.status();
    tracing::info!(
        request_id,
        status = status.as_u16(),
        peer = ?peer,
        "request refused by the connection layer"
    );
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n\
         connection: close\r\n{REQUEST_ID_HEADER}: {request_id}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(date) = date {
        head.push_str(&format!("date: {date}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_414: &[u8] =
        b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 06:00:00 GMT\r\n\r\n";

    #[test]
    fn the_open_file_limit_is_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_open_file_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_file_limit(unlimited), None);
    }

    #[test]
    fn hypers_own_answers_are_found_at_the_end_of_a_write() {
        assert_eq!(
            hypers_own_answer(HYPER_414),
            Some(HyperAnswer {
                start: 0,
                status: 414,
                date: Some("Mon, 07 Dec 2026 06:00:00 GMT".into()),
            })
        );
        // After the tail of an earlier answer.
        let mut buf = b"{\"id\": 1}".to_vec();
        buf.extend_from_slice(HYPER_414);
        assert_eq!(hypers_own_answer(&buf).map(|a| a.start), Some(9));
    }

    #[test]
    fn the_applications_answers_are_left_alone() {
        // Every answer of the application has a request id.
        let ours = b"HTTP/1.1 400 Bad Request\r\nx-request-id: abc\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hypers_own_answer(ours), None);
        // Other statuses, or a head that is not at the very end.
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(hypers_own_answer(no_content), None);
        let mut with_body = HYPER_414.to_vec();
        with_body.extend_from_slice(b"x");
        assert_eq!(hypers_own_answer(&with_body), None);
        assert_eq!(hypers_own_answer(b"{\"a\":\"HTTP/1.1 400 \"}"), None);
    }

    #[test]
    fn our_answer_is_problem_json_with_the_security_headers() {
        let bytes = own_answer(
            ProblemKind::UriTooLong,
            "too long".into(),
            Some("Mon, 07 Dec 2026 06:00:00 GMT".into()),
            None,
        );
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(n) = response.parse(&bytes).unwrap() else {
            panic!("a whole head");
        };
        assert_eq!(response.code, Some(414));
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| std::str::from_utf8(h.value).unwrap().to_owned())
        };
        assert_eq!(header("content-type").as_deref(), Some(PROBLEM_JSON));
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        assert!(header(REQUEST_ID_HEADER).is_some());
        let body: serde_json::Value = serde_json::from_slice(&bytes[n..]).unwrap();
        assert_eq!(
            body["type"],
            "https://raptscallions.app/problems/uri-too-long"
        );
        assert_eq!(
            header("content-length").unwrap(),
            (bytes.len() - n).to_string()
        );
    }
}
