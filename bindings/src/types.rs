//! The records and enums the apps see: the core's and the protocol's own types, declared to
//! UniFFI with `#[uniffi::remote]`. Each definition repeats the original's fields; the
//! compiler checks they match, so a field added in core or protocol fails the build here
//! until it is added to the bindings too. Times are Unix milliseconds of the server's clock
//! (`i64`) unless a field says otherwise.

use lianxiao_core::{
    AccountInfo, ClientState, DeliveryState, NoticeFilter, NoticeView, OutboxFailure, OutboxKind,
    TaskFailure,
    protocol::{
        Child, ClassInfo, ClassPending, ClassReceipts, LinkGroup, Membership, MyReceipt, Notice,
        NoticeAudience, PendingPerson, PersonRef, PostNotice, PushReach, ReceiptReport,
        ReceiptSummary, RemindResult, Role, School, SchoolKind, User,
    },
};

// --- core ----------------------------------------------------------------------------------

#[uniffi::remote(Record)]
pub struct AccountInfo {
    pub user_id: String,
    pub login: String,
    pub display_name: String,
    pub last_used_at: i64,
    pub active: bool,
}

#[uniffi::remote(Enum)]
pub enum ClientState {
    Offline,
    Connecting,
    Online,
    AuthExpired,
}

/// A background task that panicked (a bug): reported, and started again when `restarted`.
/// `at` is the phone's clock.
#[uniffi::remote(Record)]
pub struct TaskFailure {
    pub task: String,
    pub message: String,
    pub restarted: bool,
    pub at: i64,
}

#[uniffi::remote(Enum)]
pub enum DeliveryState {
    None,
    Pending,
    Delivered,
    Failed,
}

#[uniffi::remote(Record)]
pub struct NoticeFilter {
    #[uniffi(default = None)]
    pub child_id: Option<String>,
    #[uniffi(default = false)]
    pub unread_first: bool,
}

#[uniffi::remote(Record)]
pub struct NoticeView {
    pub notice: Notice,
    pub unread: bool,
    pub read: DeliveryState,
    pub read_at: Option<i64>,
    pub acknowledged: DeliveryState,
    pub acked_at: Option<i64>,
    pub post: DeliveryState,
    pub reminded: bool,
    pub summary: Option<ReceiptSummary>,
}

#[uniffi::remote(Enum)]
pub enum OutboxKind {
    Read,
    Ack,
    PostNotice,
    HandIn,
    Review,
    Watch,
    NotificationSettings,
}

#[uniffi::remote(Record)]
pub struct OutboxFailure {
    pub id: i64,
    pub kind: OutboxKind,
    pub notice_id: String,
    pub notice_title: Option<String>,
    pub error_code: String,
    pub message: String,
    pub failed_at: i64,
}

// --- protocol: the organisation --------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum SchoolKind {
    Main,
    Branch,
    TeachingPoint,
}

#[uniffi::remote(Enum)]
pub enum Role {
    Teacher,
    Assistant,
    Student,
    Parent,
    SchoolAdmin,
    CountyAdmin,
}

#[uniffi::remote(Record)]
pub struct Membership {
    pub role: Role,
    pub school_id: Option<String>,
    pub class_id: Option<String>,
    pub subject: Option<String>,
    pub child_id: Option<String>,
}

#[uniffi::remote(Record)]
pub struct User {
    pub id: String,
    pub login: String,
    pub name: String,
    pub memberships: Vec<Membership>,
}

#[uniffi::remote(Record)]
pub struct School {
    pub id: String,
    pub name: String,
    pub kind: SchoolKind,
}

#[uniffi::remote(Record)]
pub struct ClassInfo {
    pub id: String,
    pub name: String,
    pub grade: String,
    pub school: School,
}

#[uniffi::remote(Record)]
pub struct LinkGroup {
    pub id: String,
    pub name: String,
    pub schools: Vec<School>,
}

#[uniffi::remote(Record)]
pub struct Child {
    pub id: String,
    pub name: String,
    pub class_id: String,
}

#[uniffi::remote(Record)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
}

// --- protocol: notices ---------------------------------------------------------------------

#[uniffi::remote(Enum)]
pub enum NoticeAudience {
    Classes { class_ids: Vec<String> },
    School { school_id: String },
    LinkGroup { link_group_id: String },
    County,
}

#[uniffi::remote(Record)]
pub struct PostNotice {
    pub title: String,
    pub body: String,
    pub audience: NoticeAudience,
    #[uniffi(default = false)]
    pub include_students: bool,
    #[uniffi(default = false)]
    pub requires_ack: bool,
    #[uniffi(default = None)]
    pub ack_deadline: Option<i64>,
    #[uniffi(default = false)]
    pub urgent: bool,
}

#[uniffi::remote(Record)]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub body: String,
    pub author: PersonRef,
    pub audience_label: String,
    pub include_students: bool,
    pub requires_ack: bool,
    pub ack_deadline: Option<i64>,
    pub posted_at: i64,
    pub urgent: bool,
    pub authored: bool,
    pub receipt: Option<MyReceipt>,
}

#[uniffi::remote(Record)]
pub struct MyReceipt {
    pub role: Role,
    pub children: Vec<PersonRef>,
    pub read_at: Option<i64>,
    pub acked_at: Option<i64>,
    pub reminded_at: Option<i64>,
}

#[uniffi::remote(Record)]
pub struct ReceiptSummary {
    pub notice_id: String,
    pub recipients: u32,
    pub read: u32,
    pub acknowledged: u32,
    pub requires_ack: bool,
    pub last_reminded_at: Option<i64>,
    pub classes: Vec<ClassReceipts>,
}

#[uniffi::remote(Record)]
pub struct ClassReceipts {
    pub class_id: String,
    pub class_name: String,
    pub school_name: String,
    pub recipients: u32,
    pub read: u32,
    pub acknowledged: u32,
}

#[uniffi::remote(Record)]
pub struct ReceiptReport {
    pub summary: ReceiptSummary,
    pub classes: Vec<ClassPending>,
}

#[uniffi::remote(Record)]
pub struct ClassPending {
    pub class_id: String,
    pub class_name: String,
    pub not_read: Vec<PendingPerson>,
    pub not_acknowledged: Vec<PendingPerson>,
}

#[uniffi::remote(Record)]
pub struct PendingPerson {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub children: Vec<PersonRef>,
    pub push: PushReach,
}

#[uniffi::remote(Record)]
pub struct RemindResult {
    pub reminded: u32,
    pub reminded_at: i64,
    pub next_allowed_at: i64,
}
