//! Lessons and the timetable (排课): a lead teacher's class teaches, receiving classes of the
//! link group follow with their assistants. Scheduling refuses double-booked classes and
//! teachers; moving or cancelling reaches everyone in the lesson through sync.
//!
//! Who stands where in a lesson is decided in [`access`]; every route goes through it.

pub mod access;
mod schedule;
mod view;

pub use schedule::{cancel, move_lesson, schedule};
pub use view::{list, load_lesson};

/// Everyone who has a lesson in their timetable: its staff, whoever scheduled it, the
/// students of its classes and their parents. A feed `users_sql` (`$3` = lesson id).
pub(crate) const AUDIENCE_SQL: &str = "SELECT user_id FROM lesson_staff WHERE lesson_id = $3 \
     UNION SELECT scheduled_by AS user_id FROM lessons WHERE id = $3 \
     UNION SELECT m.user_id FROM lesson_classes lc JOIN memberships m \
       ON m.class_id = lc.class_id AND m.role = 'student' WHERE lc.lesson_id = $3 \
     UNION SELECT p.user_id FROM lesson_classes lc JOIN memberships m \
       ON m.class_id = lc.class_id AND m.role = 'student' JOIN memberships p \
       ON p.child_id = m.user_id AND p.role = 'parent' WHERE lc.lesson_id = $3";
