//! Roster import from the CSV schools keep.

use serde::{Deserialize, Serialize};

/// The exact header a roster CSV must start with.
pub const ROSTER_HEADER: [&str; 11] = [
    "school",
    "school_kind",
    "link_group",
    "class",
    "grade",
    "role",
    "login",
    "name",
    "password",
    "subject",
    "child_login",
];

/// An optional last column after [`ROSTER_HEADER`]: the person's phone number, which a
/// teacher calls when the app cannot reach a parent (`GET /v1/classes/{id}/unreachable-parents`).
pub const ROSTER_PHONE_COLUMN: &str = "phone";

/// One bad row. `line` is the 1-based line number in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RosterRowError {
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub reason: String,
}

/// What an import changed. Re-importing the same file reports all zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RosterReport {
    pub rows: u64,
    pub schools_created: u64,
    pub link_groups_created: u64,
    /// Schools added to a link group.
    pub school_links_created: u64,
    pub classes_created: u64,
    /// Classes whose grade changed.
    pub classes_updated: u64,
    pub people_created: u64,
    pub people_updated: u64,
    pub memberships_created: u64,
}

impl RosterReport {
    pub fn changed_nothing(&self) -> bool {
        self.schools_created == 0
            && self.link_groups_created == 0
            && self.school_links_created == 0
            && self.classes_created == 0
            && self.classes_updated == 0
            && self.people_created == 0
            && self.people_updated == 0
            && self.memberships_created == 0
    }
}
