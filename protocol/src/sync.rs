//! Incremental, cursor-based sync: everything visible to the caller that changed after a cursor.

use serde::{Deserialize, Serialize};

use crate::{
    Millis,
    homework::{Homework, HomeworkSummary, Submission},
    lessons::Lesson,
    notices::{Notice, ReceiptSummary},
    notifications::NotificationSettings,
    org::{Child, ClassInfo, LinkGroup, User},
    replays::{Replay, WatchPosition},
};

/// What kind of thing a sync item or tombstone is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Profile,
    Class,
    LinkGroup,
    Child,
    Notice,
    ReceiptSummary,
    Homework,
    Submission,
    HomeworkSummary,
    Lesson,
    Replay,
    /// One person's own place in a replay.
    WatchPosition,
    /// The account's own notification settings (one per account).
    NotificationSettings,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Profile => "profile",
            EntityKind::Class => "class",
            EntityKind::LinkGroup => "link_group",
            EntityKind::Child => "child",
            EntityKind::Notice => "notice",
            EntityKind::ReceiptSummary => "receipt_summary",
            EntityKind::Homework => "homework",
            EntityKind::Submission => "submission",
            EntityKind::HomeworkSummary => "homework_summary",
            EntityKind::Lesson => "lesson",
            EntityKind::Replay => "replay",
            EntityKind::WatchPosition => "watch_position",
            EntityKind::NotificationSettings => "notification_settings",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "profile" => Some(EntityKind::Profile),
            "class" => Some(EntityKind::Class),
            "link_group" => Some(EntityKind::LinkGroup),
            "child" => Some(EntityKind::Child),
            "notice" => Some(EntityKind::Notice),
            "receipt_summary" => Some(EntityKind::ReceiptSummary),
            "homework" => Some(EntityKind::Homework),
            "submission" => Some(EntityKind::Submission),
            "homework_summary" => Some(EntityKind::HomeworkSummary),
            "lesson" => Some(EntityKind::Lesson),
            "replay" => Some(EntityKind::Replay),
            "watch_position" => Some(EntityKind::WatchPosition),
            "notification_settings" => Some(EntityKind::NotificationSettings),
            _ => None,
        }
    }
}

/// One change: the current state of something, or a tombstone for what stopped being visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncItem {
    Profile {
        user: User,
    },
    Class {
        class: ClassInfo,
    },
    LinkGroup {
        link_group: LinkGroup,
    },
    Child {
        child: Child,
    },
    Notice {
        notice: Notice,
    },
    ReceiptSummary {
        summary: ReceiptSummary,
    },
    Homework {
        homework: Homework,
    },
    Submission {
        submission: Submission,
    },
    HomeworkSummary {
        summary: HomeworkSummary,
    },
    Lesson {
        lesson: Lesson,
    },
    Replay {
        replay: Replay,
    },
    WatchPosition {
        position: WatchPosition,
    },
    NotificationSettings {
        settings: NotificationSettings,
    },
    /// No longer visible to the caller (retracted, unlinked, moved): remove it locally.
    Removed {
        kind: EntityKind,
        id: String,
    },
}

/// `GET /v1/sync?since=CURSOR`. Without `since`, everything visible from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncPage {
    pub items: Vec<SyncItem>,
    /// Pass as `since` next time. Opaque.
    pub cursor: String,
    /// More pages are waiting: ask again at once with `cursor`.
    pub has_more: bool,
    pub server_time: Millis,
}

/// Default and largest page size of `GET /v1/sync`.
pub const SYNC_PAGE_DEFAULT: u32 = 500;
pub const SYNC_PAGE_MAX: u32 = 2000;
