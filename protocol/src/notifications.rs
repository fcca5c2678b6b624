//! What each account wants pushed and when, what a school allows, and who cannot be reached.
//!
//! Parents choose per child which kinds of notification reach their phones and may keep
//! their own quiet hours on top of their school's. Settings belong to the account, not the
//! phone: every phone signed in to the account gets them through sync
//! ([`crate::SyncItem::NotificationSettings`]). Times of day are minutes after midnight in the
//! school's local time (China Standard Time, UTC+8, unless the school says otherwise).

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Minutes in a day: a time of day is `0..MINUTES_PER_DAY`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// Quiet hours from `start_minute` to `end_minute`, local time. `start_minute > end_minute`
/// spans midnight (the usual case: 21:30–07:00 is `1290..420`); equal bounds mean none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

impl QuietHours {
    /// A school's quiet hours unless it sets its own: 21:30–07:00.
    pub const SCHOOL_DEFAULT: QuietHours = QuietHours {
        start_minute: 21 * 60 + 30,
        end_minute: 7 * 60,
    };

    /// Both bounds are times of day.
    pub fn is_valid(self) -> bool {
        self.start_minute < MINUTES_PER_DAY && self.end_minute < MINUTES_PER_DAY
    }

    /// Whether `minute` (a local time of day) falls inside.
    pub fn contains(self, minute: u16) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

/// The kinds of notification a parent can turn on or off for one child. All on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationKinds {
    /// School and class notices (urgent notices always come).
    pub notices: bool,
    /// Homework graded, with feedback.
    pub homework_graded: bool,
    /// Homework not handed in by its deadline.
    pub homework_missing: bool,
    /// A live lesson about to start.
    pub lesson_starting: bool,
}

impl Default for NotificationKinds {
    fn default() -> Self {
        NotificationKinds {
            notices: true,
            homework_graded: true,
            homework_missing: true,
            lesson_starting: true,
        }
    }
}

/// One child's settings. For students and teachers the "child" is the account itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildNotifications {
    pub child_id: String,
    pub kinds: NotificationKinds,
}

/// An account's notification settings as `GET /v1/notification-settings` and sync return
/// them: one entry per child the account may see (defaults filled in), so a screen can list
/// them as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// The account's own quiet hours, kept on top of the school's; none when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    pub children: Vec<ChildNotifications>,
    /// When they last changed (server clock); 0 while still the defaults.
    pub updated_at: Millis,
}

/// `PUT /v1/notification-settings`: replaces the account's settings. Children left out keep
/// the defaults; a child the account may not see is refused (validation, field `children`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateNotificationSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    pub children: Vec<ChildNotifications>,
}

/// A school's push policy: `GET`/`PUT /v1/schools/{id}/push-policy` (its school admin, or a
/// county admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushPolicy {
    /// Non-urgent pushes wait until these end, then come as one digest.
    pub quiet_hours: QuietHours,
    /// Most non-urgent notices a class's parents get per local day; none = no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_notice_cap: Option<u32>,
    /// The school's offset from UTC in minutes (480 in China).
    pub utc_offset_minutes: i32,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            quiet_hours: QuietHours::SCHOOL_DEFAULT,
            daily_notice_cap: None,
            utc_offset_minutes: 8 * 60,
        }
    }
}

/// How many more non-urgent notices a class may send to parents today:
/// `GET /v1/classes/{id}/notice-allowance`, asked before a teacher posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoticeAllowance {
    pub class_id: String,
    /// None when the school sets no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    pub sent_today: u32,
    /// None when there is no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
}

/// A parent the school should phone: no push reached any of their phones and the app has not
/// been in touch for the configured time. `GET /v1/classes/{id}/unreachable-parents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnreachableParent {
    pub parent: crate::PersonRef,
    /// Their children in this class.
    pub children: Vec<crate::PersonRef>,
    /// The phone number on record, to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The app's last sync or realtime connection for this account; none if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Millis>,
    /// The last push a provider accepted for one of their phones; none if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_at: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_across_midnight() {
        let q = QuietHours::SCHOOL_DEFAULT;
        assert!(q.contains(22 * 60));
        assert!(q.contains(0));
        assert!(q.contains(6 * 60 + 59));
        assert!(!q.contains(7 * 60));
        assert!(!q.contains(12 * 60));
        assert!(!q.contains(21 * 60 + 29));
    }

    #[test]
    fn quiet_hours_within_a_day_and_none() {
        let nap = QuietHours {
            start_minute: 12 * 60,
            end_minute: 14 * 60,
        };
        assert!(nap.contains(13 * 60));
        assert!(!nap.contains(14 * 60));
        let none = QuietHours {
            start_minute: 600,
            end_minute: 600,
        };
        assert!((0..MINUTES_PER_DAY).all(|m| !none.contains(m)));
        assert!(
            !QuietHours {
                start_minute: MINUTES_PER_DAY,
                end_minute: 0
            }
            .is_valid()
        );
    }
}
