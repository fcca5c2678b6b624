//! School notices and their receipts (read / 回执 acknowledgment).

use serde::{Deserialize, Serialize};

use crate::{
    Millis,
    org::{PersonRef, Role},
};

/// Who a notice goes to. Recipients are resolved when it is posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum NoticeAudience {
    /// Classes the author teaches (teachers and assistants).
    Classes { class_ids: Vec<String> },
    /// A whole school (its school admin).
    School { school_id: String },
    /// Every school of a link group (county admin).
    LinkGroup { link_group_id: String },
    /// Every school of the county (county admin).
    County,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostNotice {
    /// 1..=200 characters.
    pub title: String,
    /// 1..=20000 characters.
    pub body: String,
    pub audience: NoticeAudience,
    /// Parents always receive notices; students only when this is set.
    #[serde(default)]
    pub include_students: bool,
    /// Ask recipients to acknowledge (回执).
    #[serde(default)]
    pub requires_ack: bool,
    /// Optional deadline for the acknowledgment; must be in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_deadline: Option<Millis>,
    /// A closure or a safety matter: pushed at once through quiet hours, the class's daily
    /// cap and parents' settings. School and county admins only (else 403
    /// `urgent_not_allowed`).
    #[serde(default)]
    pub urgent: bool,
}

/// A notice as one person sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub body: String,
    pub author: PersonRef,
    /// A short description of who it was sent to, e.g. "城关中心小学 · 三年级(1)班, 城关中心小学 · 三年级(2)班",
    /// a school's or a link group's name, or "全县 (county)".
    pub audience_label: String,
    pub include_students: bool,
    pub requires_ack: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_deadline: Option<Millis>,
    pub posted_at: Millis,
    /// Marked urgent by a school or county admin.
    #[serde(default)]
    pub urgent: bool,
    /// True when the caller wrote it.
    pub authored: bool,
    /// Present when the caller is a recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<MyReceipt>,
}

/// The caller's own receipt of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyReceipt {
    /// The role the caller received it in.
    pub role: Role,
    /// For parents: the children it concerns.
    pub children: Vec<PersonRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<Millis>,
    /// Last time the author reminded this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeList {
    pub notices: Vec<Notice>,
    pub server_time: Millis,
}

/// Result of marking read or acknowledging: the caller's receipt after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptAck {
    pub notice_id: String,
    pub receipt: MyReceipt,
}

/// Counts for the author, overall and per class. Synced to the author's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptSummary {
    pub notice_id: String,
    pub recipients: u32,
    pub read: u32,
    pub acknowledged: u32,
    pub requires_ack: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reminded_at: Option<Millis>,
    pub classes: Vec<ClassReceipts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassReceipts {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
    pub recipients: u32,
    pub read: u32,
    pub acknowledged: u32,
}

/// Full receipt detail for the author: who has not read / not acknowledged, per class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptReport {
    pub summary: ReceiptSummary,
    pub classes: Vec<ClassPending>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassPending {
    pub class_id: String,
    pub class_name: String,
    pub not_read: Vec<PendingPerson>,
    pub not_acknowledged: Vec<PendingPerson>,
}

/// Someone who has not acted yet. A parent with two children in one class appears once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingPerson {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// For parents: the children (in this class) the notice concerns.
    pub children: Vec<PersonRef>,
    /// How far the notice's push got to their phones: `no_device` / `not_delivered` (only
    /// the app's own sync will bring it: phone them) versus `delivered` / `on_phone`
    /// (delivered, not read yet).
    #[serde(default = "crate::devices::no_device")]
    pub push: crate::PushReach,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemindResult {
    /// How many people were reminded (only those who have not acted).
    pub reminded: u32,
    pub reminded_at: Millis,
    /// The earliest time the next reminder for this notice is allowed.
    pub next_allowed_at: Millis,
}

/// Reminders for one notice are allowed at most this often.
pub const REMIND_INTERVAL_MS: Millis = 60 * 60 * 1000;
