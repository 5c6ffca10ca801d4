//! Connection accounting: the `--max-connections` cap (WebSocket and SSE clients, and polls
//! while they are answered) and the per-transport gauges.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
}

/// One open connection; released on drop.
pub struct ConnectionGuard {
    connections: Arc<Connections>,
    transport: Transport,
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
        }
    }

    /// Takes a slot, or `None` when the edge is at its cap.
    pub fn try_acquire(self: &Arc<Self>, transport: Transport) -> Option<ConnectionGuard> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        self.gauge(transport).inc();
        match transport {
            Transport::WebSocket => self.opened_websocket.inc(),
            Transport::Sse => self.opened_sse.inc(),
            Transport::Polling => self.opened_polling.inc(),
        }
        Some(ConnectionGuard {
            connections: Arc::clone(self),
            transport,
        })
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
    }
}
