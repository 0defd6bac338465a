//! Connections: a cap on how many are open, and a watchdog per connection
//! that closes it when the client holds it without using it.
//!
//! [`Acceptor`] wraps axum-server's acceptor (TLS or plain). It takes a
//! slot of the cap before the TLS handshake (a connection over the cap is
//! closed at once; the others keep working), then wraps the stream in
//! [`Guarded`], which watches the plain bytes going in and out, and the
//! connection's service in [`InFlight`], which counts requests until their
//! response body is finished or dropped. A task per connection checks:
//!
//! - the request head: complete within `header_timeout` of its first byte
//!   (of the connection's start, for the first request). On HTTP/2 the
//!   frames between requests are no head, so there only the idle time
//!   applies;
//! - the idle time: no request in flight for `idle_timeout`, on HTTP/1.1
//!   and HTTP/2 alike;
//! - writes: for `write_timeout`, no byte could be written to the
//!   connection, or a response did not take its next piece (the client
//!   does not read: on HTTP/2 it may keep the connection busy and starve
//!   only the stream, with a window of zero). This also bounds a client
//!   that reads a little now and then: the kernel lets a blocked writer go
//!   on only once a good part of the socket's send buffer has drained, so
//!   such a client must take that much within every `write_timeout`.
//!
//! hyper's own HTTP/1 `header_read_timeout` is not used: its timer also
//! runs while a kept-alive connection waits for its next request, so it
//! would close idle connections at the header timeout, and it does not
//! cover the first bytes (read before hyper picks HTTP/1 or HTTP/2).
//!
//! A connection over a limit is cut: its reads and writes fail from then
//! on, and hyper drops it. Only a connection with no request in flight,
//! or one whose client stopped reading, is ever cut, so no answer is lost
//! that the client was waiting for.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::http::Response;
use axum_server::accept::Accept;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

use super::Limit;
use crate::config::EdgeLimits;
use crate::metrics::WebMetrics;

/// The limits a connection's watchdog enforces.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
    write: Duration,
}

/// Accepts connections under the cap and puts each under a watchdog.
#[derive(Clone)]
pub struct Acceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    timeouts: Timeouts,
    metrics: Arc<WebMetrics>,
}

impl<A> Acceptor<A> {
    /// `inner` does the rest of the accepting (the TLS handshake).
    pub fn new(inner: A, limits: &EdgeLimits, metrics: Arc<WebMetrics>) -> Self {
        let timeouts =
            Timeouts { header: limits.header_timeout, idle: limits.idle_timeout, write: limits.write_timeout };
        Acceptor { inner, slots: Arc::new(Semaphore::new(limits.max_connections)), timeouts, metrics }
    }
}

type Accepted<S, V> = Pin<Box<dyn Future<Output = io::Result<(Guarded<S>, InFlight<V>)>> + Send>>;

impl<A, I, S> Accept<I, S> for Acceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = InFlight<A::Service>;
    type Future = Accepted<A::Stream, A::Service>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let slot = Slot::take(&self.slots, &self.metrics);
        // Dropping the inner future unpolled closes the stream untouched.
        let accepting = self.inner.accept(stream, service);
        let (timeouts, metrics) = (self.timeouts, self.metrics.clone());
        Box::pin(async move {
            let Some(slot) = slot else {
                metrics.limit_hit(Limit::Connections);
                tracing::debug!("connection refused: too many open connections");
                return Err(io::Error::other("too many open connections"));
            };
            let (stream, service) = accepting.await?;
            let conn = Arc::new(Conn::new(timeouts, metrics));
            let (closed, on_close) = oneshot::channel();
            tokio::spawn(watch(conn.clone(), on_close));
            let stream = Guarded { inner: stream, conn: conn.clone(), _slot: slot, _closed: closed };
            Ok((stream, InFlight { inner: service, conn }))
        })
    }
}

/// A place under the connection cap, freed with the connection.
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<WebMetrics>,
}

impl Slot {
    fn take(slots: &Arc<Semaphore>, metrics: &Arc<WebMetrics>) -> Option<Slot> {
        let permit = slots.clone().try_acquire_owned().ok()?;
        metrics.connection_opened();
        Some(Slot { _permit: permit, metrics: metrics.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

// === impl Conn ===

/// The first bytes of every HTTP/2 connection (its preface starts so).
const H2_PREFACE: &[u8] = b"PRI ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// This many bytes of the HTTP/2 preface seen so far.
    Sniffing(usize),
    Http1,
    Http2,
}

/// What the watchdog looks at.
#[derive(Debug, Clone)]
struct State {
    protocol: Protocol,
    in_flight: usize,
    /// When the last request ended (or the connection started).
    idle_since: Instant,
    /// When the first byte of the next request head came (the connection's
    /// start, for the first one).
    head_since: Option<Instant>,
    /// Since when no byte could be written.
    write_blocked_since: Option<Instant>,
    /// Responses (by number) that handed hyper a piece and were not asked
    /// for the next one since; when they handed it.
    handed: Vec<(u64, Instant)>,
    next_response: u64,
}

/// What the watchdog decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Cut(Limit),
    /// Nothing is due before this instant.
    CheckAt(Instant),
    /// Nothing is due until the state changes.
    Wait,
}

impl State {
    fn new(now: Instant) -> Self {
        State {
            protocol: Protocol::Sniffing(0),
            in_flight: 0,
            idle_since: now,
            head_since: Some(now),
            write_blocked_since: None,
            handed: Vec::new(),
            next_response: 0,
        }
    }

    fn sniff(&mut self, bytes: &[u8]) {
        for b in bytes {
            let Protocol::Sniffing(seen) = self.protocol else { return };
            self.protocol = if *b != H2_PREFACE[seen] {
                Protocol::Http1
            } else if seen + 1 == H2_PREFACE.len() {
                Protocol::Http2
            } else {
                Protocol::Sniffing(seen + 1)
            };
        }
    }

    fn verdict(&self, t: &Timeouts, now: Instant) -> Verdict {
        let oldest_handed = self.handed.iter().map(|(_, at)| *at).min();
        let write = self
            .write_blocked_since
            .into_iter()
            .chain(oldest_handed)
            .min()
            .map(|since| (since + t.write, Limit::Write));
        let idle = (self.in_flight == 0).then(|| (self.idle_since + t.idle, Limit::Idle));
        let head = (self.in_flight == 0 && self.protocol != Protocol::Http2)
            .then_some(self.head_since)
            .flatten()
            .map(|since| (since + t.header, Limit::Header));
        match [write, idle, head].into_iter().flatten().min_by_key(|(at, _)| *at) {
            None => Verdict::Wait,
            Some((at, limit)) if at <= now => Verdict::Cut(limit),
            Some((at, _)) => Verdict::CheckAt(at),
        }
    }
}

/// One connection, shared by its stream, its service, its responses in
/// flight and its watchdog.
struct Conn {
    timeouts: Timeouts,
    state: Mutex<State>,
    /// A deadline may have come closer.
    changed: Notify,
    cut: AtomicBool,
    /// Set while a write waits, so progress need not take the lock.
    write_blocked: AtomicBool,
    /// The connection task, where it waits to read and to write.
    wakers: Mutex<[Option<Waker>; 2]>,
    metrics: Arc<WebMetrics>,
}

const READ: usize = 0;
const WRITE: usize = 1;

impl Conn {
    fn new(timeouts: Timeouts, metrics: Arc<WebMetrics>) -> Self {
        Conn {
            timeouts,
            state: Mutex::new(State::new(Instant::now())),
            changed: Notify::new(),
            cut: AtomicBool::new(false),
            write_blocked: AtomicBool::new(false),
            wakers: Mutex::default(),
            metrics,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("connection state lock")
    }

    fn verdict(&self, now: Instant) -> Verdict {
        self.state().verdict(&self.timeouts, now)
    }

    fn read(&self, bytes: &[u8]) {
        let mut state = self.state();
        state.sniff(bytes);
        if state.in_flight == 0 && state.head_since.is_none() && state.protocol != Protocol::Http2 {
            state.head_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A new request; its number.
    fn request_started(&self) -> u64 {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_since = None;
        state.next_response += 1;
        state.next_response
    }

    fn request_finished(&self, response: u64) {
        let mut state = self.state();
        state.handed.retain(|(n, _)| *n != response);
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            self.changed.notify_one();
        }
    }

    fn write_blocked(&self) {
        if !self.write_blocked.swap(true, Ordering::AcqRel) {
            self.state().write_blocked_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A response handed hyper a piece; the client has `write_timeout` to
    /// take it.
    fn handed(&self, response: u64) {
        self.state().handed.push((response, Instant::now()));
        self.changed.notify_one();
    }

    /// A response is asked for its next piece.
    fn taken(&self, response: u64) {
        self.state().handed.retain(|(n, _)| *n != response);
    }

    fn wrote(&self) {
        if self.write_blocked.swap(false, Ordering::AcqRel) {
            self.state().write_blocked_since = None;
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// From now on the stream fails; the connection task is woken to see it.
    fn cut(&self, limit: Limit) {
        if self.cut.swap(true, Ordering::AcqRel) {
            return;
        }
        self.metrics.limit_hit(limit);
        tracing::debug!(limit = limit.as_str(), "connection closed");
        let wakers = std::mem::take(&mut *self.wakers.lock().expect("wakers lock"));
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    /// Remembers where the connection task waits, then says whether it was
    /// cut meanwhile (so a cut between the two is never missed).
    fn park(&self, which: usize, cx: &Context<'_>) -> bool {
        let mut wakers = self.wakers.lock().expect("wakers lock");
        match &mut wakers[which] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        drop(wakers);
        self.is_cut()
    }
}

/// The watchdog of one connection, until the connection is dropped.
async fn watch(conn: Arc<Conn>, mut closed: oneshot::Receiver<()>) {
    loop {
        let wake_at = match conn.verdict(Instant::now()) {
            Verdict::Cut(limit) => return conn.cut(limit),
            Verdict::CheckAt(at) => Some(at),
            Verdict::Wait => None,
        };
        tokio::select! {
            _ = &mut closed => return,
            _ = conn.changed.notified() => {}
            _ = tokio::time::sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => {}
        }
    }
}

fn cut_off() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection closed by the edge limits")
}

// === impl Guarded ===

/// A connection's stream (plain bytes: above TLS), watched and cut by its
/// watchdog. Holds the connection's slot under the cap.
pub struct Guarded<S> {
    inner: S,
    conn: Arc<Conn>,
    _slot: Slot,
    /// Dropped with the stream, which ends the watchdog.
    _closed: oneshot::Sender<()>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_cut() {
            return Poll::Ready(Err(cut_off()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.conn.read(read);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.conn.park(READ, cx) => Poll::Ready(Err(cut_off())),
            other => other,
        }
    }
}

impl<S> Guarded<S> {
    /// Notes that a write has to wait for the client.
    fn blocked<T>(&self, cx: &Context<'_>) -> Poll<io::Result<T>> {
        self.conn.write_blocked();
        if self.conn.park(WRITE, cx) { Poll::Ready(Err(cut_off())) } else { Poll::Pending }
    }

    /// Notes whether a write (or flush) went through or has to wait.
    fn wrote<T>(&self, cx: &Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => self.blocked(cx),
            done => {
                self.conn.wrote();
                done
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.is_cut() {
            return Poll::Ready(Err(cut_off()));
        }
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.is_cut() {
            return Poll::Ready(Err(cut_off()));
        }
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_cut() {
            return Poll::Ready(Err(cut_off()));
        }
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.wrote(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.conn.is_cut() {
            return Poll::Ready(Err(cut_off()));
        }
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.wrote(cx, polled)
    }
}

// === impl InFlight ===

/// A connection's service: counts each request from its call until its
/// response body is finished or dropped.
#[derive(Clone)]
pub struct InFlight<S> {
    inner: S,
    conn: Arc<Conn>,
}

/// One request in flight; ends when dropped.
struct Ongoing {
    conn: Arc<Conn>,
    number: u64,
}

impl Ongoing {
    fn start(conn: &Arc<Conn>) -> Self {
        Ongoing { number: conn.request_started(), conn: conn.clone() }
    }
}

impl Drop for Ongoing {
    fn drop(&mut self) {
        self.conn.request_finished(self.number);
    }
}

type Responding<E> = Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>;

impl<S, R> tower::Service<R> for InFlight<S>
where
    S: tower::Service<R, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Responding<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_flight = Ongoing::start(&self.conn);
        let responding = self.inner.call(request);
        Box::pin(async move {
            let response = responding.await?;
            Ok(response.map(|inner| Body::new(Tracked { inner, in_flight: Some(in_flight), handed: false })))
        })
    }
}

/// A response body that keeps its request in flight until it is done, and
/// tells the watchdog while a piece it handed out waits for the client.
struct Tracked {
    inner: Body,
    in_flight: Option<Ongoing>,
    handed: bool,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(ongoing) = this.in_flight.as_ref().filter(|_| this.handed) {
            ongoing.conn.taken(ongoing.number);
            this.handed = false;
        }
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match (&frame, &this.in_flight) {
            (Some(Ok(_)), Some(ongoing)) => {
                ongoing.conn.handed(ongoing.number);
                this.handed = true;
            }
            (Some(Ok(_)), None) => {}
            _ => this.in_flight = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts =
        Timeouts { header: Duration::from_secs(10), idle: Duration::from_secs(60), write: Duration::from_secs(30) };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_new_connection_must_send_its_first_head_in_time() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        assert_eq!(s.verdict(&T, t0), Verdict::CheckAt(t0 + secs(10)));
        assert_eq!(s.verdict(&T, t0 + secs(10)), Verdict::Cut(Limit::Header));
        // A few bytes of an HTTP/1 head change nothing.
        s.sniff(b"GE");
        assert_eq!(s.protocol, Protocol::Http1);
        assert_eq!(s.verdict(&T, t0 + secs(10)), Verdict::Cut(Limit::Header));
    }

    #[test]
    fn between_http2_requests_only_the_idle_time_counts() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        s.sniff(b"PR");
        assert_eq!(s.protocol, Protocol::Sniffing(2));
        s.sniff(b"I * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(s.protocol, Protocol::Http2);
        assert_eq!(s.verdict(&T, t0 + secs(59)), Verdict::CheckAt(t0 + secs(60)));
        assert_eq!(s.verdict(&T, t0 + secs(60)), Verdict::Cut(Limit::Idle));
    }

    #[test]
    fn requests_in_flight_are_never_idle() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        s.sniff(b"POST /v1/media HTTP/1.1\r\n");
        s.in_flight = 1;
        s.head_since = None;
        assert_eq!(s.verdict(&T, t0 + secs(3600)), Verdict::Wait);
        // ...unless the client does not take what it asked for: a response
        // waits with a piece since 90 s (the connection itself writes).
        s.handed = vec![(1, t0 + secs(90))];
        assert_eq!(s.verdict(&T, t0 + secs(119)), Verdict::CheckAt(t0 + secs(120)));
        assert_eq!(s.verdict(&T, t0 + secs(120)), Verdict::Cut(Limit::Write));
        // Or the connection's writes block.
        s.handed.clear();
        s.write_blocked_since = Some(t0 + secs(100));
        assert_eq!(s.verdict(&T, t0 + secs(129)), Verdict::CheckAt(t0 + secs(130)));
        assert_eq!(s.verdict(&T, t0 + secs(130)), Verdict::Cut(Limit::Write));
    }

    #[test]
    fn after_a_request_the_next_head_or_the_idle_time() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        s.sniff(b"GET / HTTP/1.1\r\n\r\n");
        s.head_since = None;
        s.idle_since = t0 + secs(5);
        assert_eq!(s.verdict(&T, t0 + secs(6)), Verdict::CheckAt(t0 + secs(65)));
        // The next head starts at 30 s and must be complete by 40 s.
        s.head_since = Some(t0 + secs(30));
        assert_eq!(s.verdict(&T, t0 + secs(31)), Verdict::CheckAt(t0 + secs(40)));
        assert_eq!(s.verdict(&T, t0 + secs(40)), Verdict::Cut(Limit::Header));
    }
}
