//! The organisation: county → schools → classes, link groups, and people with memberships.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SchoolKind {
    /// 主校: teaches live.
    Main,
    /// 分校: follows the main school.
    Branch,
    /// 教学点: village teaching point.
    TeachingPoint,
}

impl SchoolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SchoolKind::Main => "main",
            SchoolKind::Branch => "branch",
            SchoolKind::TeachingPoint => "teaching_point",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "main" => Some(SchoolKind::Main),
            "branch" => Some(SchoolKind::Branch),
            "teaching_point" => Some(SchoolKind::TeachingPoint),
            _ => None,
        }
    }
}

/// A person's role in one membership. One person may hold several memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 主讲教师: lead teacher of a class and subject.
    Teacher,
    /// 助课教师: assistant teacher in a (receiving) class.
    Assistant,
    Student,
    Parent,
    SchoolAdmin,
    CountyAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Assistant => "assistant",
            Role::Student => "student",
            Role::Parent => "parent",
            Role::SchoolAdmin => "school_admin",
            Role::CountyAdmin => "county_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "teacher" => Some(Role::Teacher),
            "assistant" => Some(Role::Assistant),
            "student" => Some(Role::Student),
            "parent" => Some(Role::Parent),
            "school_admin" => Some(Role::SchoolAdmin),
            "county_admin" => Some(Role::CountyAdmin),
            _ => None,
        }
    }
}

/// One role a person holds somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<String>,
    /// For teachers and assistants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// For parents: the child this membership links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<String>,
}

/// The signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub login: String,
    pub name: String,
    pub memberships: Vec<Membership>,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.memberships.iter().any(|m| m.role == role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct School {
    pub id: String,
    pub name: String,
    pub kind: SchoolKind,
}

/// A class the caller belongs to, teaches, administers, or one of their children is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassInfo {
    pub id: String,
    pub name: String,
    pub grade: String,
    pub school: School,
}

/// 网络联校: a main school and the schools that follow it ("1+N").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkGroup {
    pub id: String,
    pub name: String,
    pub schools: Vec<School>,
}

/// A parent's child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Child {
    pub id: String,
    pub name: String,
    pub class_id: String,
}

/// Just enough of a person to show who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRef {
    pub id: String,
    pub name: String,
}
