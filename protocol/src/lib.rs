//! The ADIC event wire contract, with no async runtime.
//!
//! Everything that crosses a wire between the node, NATS, the edge and clients is pinned here:
//!
//! - [`Kind`], [`Priority`], [`Class`]: the 54 event kinds of the catalog, their dotted and
//!   variant names (both accepted in filters), priority and snapshot-or-log class;
//! - [`Event`]: the typed JSON of every kind, adjacently tagged exactly as existing clients read it;
//! - [`subject`]: the NATS subject of each kind (`<prefix>.<priority>.<dotted name>`);
//! - [`Cursor`]: `<epoch>-<seq>`, the one global resume position;
//! - [`Subscription`] and [`KindSet`]: filters and the bitmask an edge checks per event;
//! - [`envelope`]: validation and compact re-encoding of an event received from NATS;
//! - [`ws`], [`sse`], [`poll`]: every frame, notice, close code and page of the three transports;
//! - [`frame`]: the bytes of a WebSocket frame a server writes;
//! - [`received`]: the same wire read back, on every transport, for clients.
//!
//! ```
//! use adic_protocol::{Cursor, Kind, Subscription};
//!
//! let kind = Kind::parse("TipsUpdated").unwrap();
//! assert_eq!(kind.name(), "tips.update");
//! assert_eq!(kind.subject("adic.events"), "adic.events.high.tips.update");
//!
//! let sub = Subscription::from_query(Some("tips.update,message.new"), Some("high")).unwrap();
//! assert!(sub.mask().contains(kind.into()));
//!
//! let cursor: Cursor = "0a1b2c3d-42".parse().unwrap();
//! assert_eq!(cursor.seq, 42);
//! ```

pub mod cursor;
pub mod envelope;
pub mod event;
pub mod filter;
pub mod frame;
pub mod kind;
mod kind_table;
pub mod poll;
pub mod received;
pub mod sse;
pub mod subject;
pub mod ws;

pub use cursor::{Cursor, CursorError, Epoch};
pub use envelope::{EnvelopeError, EventKey, ValidEvent};
pub use event::Event;
pub use filter::{parse_grant, FilterError, KindSet, Subscription};
pub use kind::{Class, Kind, Priority};
pub use subject::{DEFAULT_PREFIX, DEFAULT_STREAM};
