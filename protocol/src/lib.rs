//! Wire types shared by the Lianxiao core and the reference server.
//!
//! Everything here is plain serde data: JSON field names are the API's names, times are Unix
//! milliseconds of the server's clock, ids are opaque strings. The server derives its OpenAPI
//! document from these types (feature `openapi`), so the document and the code cannot drift.

pub mod auth;
pub mod classroom;
pub mod devices;
pub mod error;
pub mod events;
pub mod homework;
pub mod lessons;
pub mod notices;
pub mod notifications;
pub mod org;
pub mod replays;
pub mod roster;
pub mod sync;
pub mod uploads;

pub use auth::*;
pub use classroom::*;
pub use devices::*;
pub use error::*;
pub use events::*;
pub use homework::*;
pub use lessons::*;
pub use notices::*;
pub use notifications::*;
pub use org::*;
pub use replays::*;
pub use roster::*;
pub use sync::*;
pub use uploads::*;

/// Unix time in milliseconds, always taken from the server's clock.
pub type Millis = i64;

/// Header every mutating request may carry; a repeat with the same key returns the first
/// result and changes nothing.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Header on every response: the server's clock in Unix milliseconds, so clients can show
/// correct countdowns even when the phone's clock is wrong.
pub const SERVER_TIME_HEADER: &str = "X-Server-Time";

/// Largest JSON body the API accepts (roster CSV uploads have their own, larger limit).
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Largest roster CSV accepted by `POST /v1/admin/roster`.
pub const MAX_ROSTER_BODY_BYTES: usize = 8 * 1024 * 1024;
