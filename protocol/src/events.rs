//! Messages on the realtime WebSocket (`GET /v1/events`).

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Sent by the server. Small on purpose: they say *that* something changed; the data comes
/// through sync, so a missed event loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// First message after the upgrade.
    Hello {
        user_id: String,
        server_time: Millis,
    },
    /// Something visible to this user changed; sync up to at least `cursor`.
    Changed { cursor: String },
    /// Something happened in a live lesson's room the user is in. Unlike `Changed` this
    /// carries the change itself (rooms move too fast for sync); a phone that missed some
    /// reads the whole room again (`GET /v1/lessons/{id}/room`).
    Room {
        lesson_id: String,
        event: crate::RoomEvent,
    },
}
