//! Connection accounting: the `--max-connections` cap (WebSocket and SSE clients, and polls
//! while they are answered) and the per-transport gauges.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{IntCounter, IntCounterVec, IntGauge};

/// Which transport a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Sse,
    /// A poll holds a slot while it is answered (a long poll while it waits).
    Polling,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Sse => "sse",
            Transport::Polling => "polling",
        }
    }

    /// The name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "WebSocket",
            Transport::Sse => "SSE",
            Transport::Polling => "polling",
        }
    }
}

/// Counts open connections against the cap.
pub struct Connections {
    open: AtomicUsize,
    max: usize,
    websocket: IntGauge,
    sse: IntGauge,
    polling: IntGauge,
    opened_websocket: IntCounter,
    opened_sse: IntCounter,
    opened_polling: IntCounter,
    /// `--max-connections-per-ip` (0: no limit) and the open connections of each address.
    per_ip: usize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The edge is at `--max-connections`.
    Edge,
    /// The client's address is at `--max-connections-per-ip`.
    Address,
}

/// One open connection; released on drop.
pub struct ConnectionGuard {
    connections: Arc<Connections>,
    transport: Transport,
    ip: Option<IpAddr>,
}

impl Connections {
    /// `websocket`, `sse` and `polling` count open connections (polls being answered);
    /// `opened` counts accepted ones by transport label.
    pub fn new(
        max: usize,
        [websocket, sse, polling]: [IntGauge; 3],
        opened: IntCounterVec,
    ) -> Connections {
        Connections {
            open: AtomicUsize::new(0),
            max,
            websocket,
            sse,
            polling,
            opened_websocket: opened.with_label_values(&[Transport::WebSocket.label()]),
            opened_sse: opened.with_label_values(&[Transport::Sse.label()]),
            opened_polling: opened.with_label_values(&[Transport::Polling.label()]),
            per_ip: 0,
            by_ip: Mutex::new(HashMap::new()),
        }
    }

    /// The same, with at most `per_ip` connections from one address (0: no limit).
    #[must_use]
    pub fn with_per_ip(mut self, per_ip: usize) -> Connections {
        self.per_ip = per_ip;
        self
    }

    /// Takes a slot, or `None` when the edge is at its cap.
    pub fn try_acquire(self: &Arc<Self>, transport: Transport) -> Option<ConnectionGuard> {
        self.acquire(transport, None).ok()
    }

    /// Takes a slot for a client at `ip`, or says which limit it is at.
    pub fn acquire(
        self: &Arc<Self>,
        transport: Transport,
        ip: Option<IpAddr>,
    ) -> Result<ConnectionGuard, Full> {
        let ip = ip.filter(|_| self.per_ip > 0);
        if let Some(ip) = ip {
            let mut by_ip = self.by_ip.lock().expect("no panic holds the lock");
            let open = by_ip.entry(ip).or_insert(0);
            if *open >= self.per_ip {
                return Err(Full::Address);
            }
            *open += 1;
        }
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            self.release_ip(ip);
            return Err(Full::Edge);
        }
        self.gauge(transport).inc();
        match transport {
            Transport::WebSocket => self.opened_websocket.inc(),
            Transport::Sse => self.opened_sse.inc(),
            Transport::Polling => self.opened_polling.inc(),
        }
        Ok(ConnectionGuard {
            connections: Arc::clone(self),
            transport,
            ip,
        })
    }

    fn release_ip(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut by_ip = self.by_ip.lock().expect("no panic holds the lock");
        if let Some(open) = by_ip.get_mut(&ip) {
            *open -= 1;
            if *open == 0 {
                by_ip.remove(&ip);
            }
        }
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn gauge(&self, transport: Transport) -> &IntGauge {
        match transport {
            Transport::WebSocket => &self.websocket,
            Transport::Sse => &self.sse,
            Transport::Polling => &self.polling,
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.connections.open.fetch_sub(1, Ordering::AcqRel);
        self.connections.gauge(self.transport).dec();
        self.connections.release_ip(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_enforced_and_released() {
        let ws = IntGauge::new("ws", "ws").unwrap();
        let sse = IntGauge::new("sse", "sse").unwrap();
        let opened =
            IntCounterVec::new(prometheus::Opts::new("opened", "opened"), &["transport"]).unwrap();
        let polls = IntGauge::new("polls", "polls").unwrap();
        let c = Arc::new(Connections::new(
            2,
            [ws.clone(), sse.clone(), polls],
            opened.clone(),
        ));
        let a = c.try_acquire(Transport::WebSocket).unwrap();
        let _b = c.try_acquire(Transport::Sse).unwrap();
        assert!(c.try_acquire(Transport::Sse).is_none());
        assert_eq!((ws.get(), sse.get(), c.open()), (1, 1, 2));
        drop(a);
        assert!(c.try_acquire(Transport::WebSocket).is_some());
        assert_eq!(opened.with_label_values(&["websocket"]).get(), 2);
        assert_eq!(opened.with_label_values(&["sse"]).get(), 1);

        // Per address: one address at its limit does not stop another.
        let gauges = || IntGauge::new("g", "g").unwrap();
        let c =
            Arc::new(Connections::new(10, [gauges(), gauges(), gauges()], opened).with_per_ip(1));
        let (x, y): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let held = c.acquire(Transport::Sse, Some(x)).unwrap();
        assert_eq!(
            c.acquire(Transport::Sse, Some(x)).err(),
            Some(Full::Address)
        );
        let _other = c.acquire(Transport::Sse, Some(y)).unwrap();
        drop(held);
        assert!(c.acquire(Transport::Sse, Some(x)).is_ok());
        assert_eq!(c.open(), 1, "released slots are given back");
    }
}
