//! Homework (同步作业): one assignment for classes of several linked schools, students'
//! submissions with every attempt kept, teachers' grades and returns, parents' sign-off.
//!
//! Who may do what is decided in [`access`]; every query that reads or changes a submission
//! goes through it, so a parent only ever reaches their own children's work and a teacher only
//! their own classes'.

pub mod access;
mod assign;
mod review;
mod submit;
mod view;

pub use access::attachment_readable;
pub use assign::{assign, delete, edit, remind};
pub use review::{grade, return_work, sign_off};
pub use submit::submit;
pub use view::{list, load_homework, load_submission, report, submissions_for, summary};

fn flag(v: i64) -> bool {
    v != 0
}

/// The people who see an assignment: its students, their parents, its author and the
/// teachers of its classes. A feed `users_sql` (`$3` = homework id).
const AUDIENCE_SQL: &str = "SELECT student_id AS user_id FROM homework_students WHERE homework_id = $3 \
     UNION SELECT p.user_id FROM homework_students hs JOIN memberships p \
       ON p.child_id = hs.student_id AND p.role = 'parent' WHERE hs.homework_id = $3 \
     UNION SELECT author_id AS user_id FROM homework WHERE id = $3 \
     UNION SELECT m.user_id FROM homework_classes hc JOIN memberships m \
       ON m.class_id = hc.class_id AND m.role IN ('teacher', 'assistant') WHERE hc.homework_id = $3";

/// The author and the teachers of an assignment's classes (`$3` = homework id).
const STAFF_SQL: &str = "SELECT author_id AS user_id FROM homework WHERE id = $3 \
     UNION SELECT m.user_id FROM homework_classes hc JOIN memberships m \
       ON m.class_id = hc.class_id AND m.role IN ('teacher', 'assistant') WHERE hc.homework_id = $3";

/// Who sees one submission (`$3` = submission id): the student, their parents, the
/// assignment's author and the teachers of the student's class.
const SUBMISSION_AUDIENCE_SQL: &str = "SELECT student_id AS user_id FROM submissions WHERE id = $3 \
     UNION SELECT p.user_id FROM submissions s JOIN memberships p \
       ON p.child_id = s.student_id AND p.role = 'parent' WHERE s.id = $3 \
     UNION SELECT h.author_id AS user_id FROM submissions s JOIN homework h ON h.id = s.homework_id WHERE s.id = $3 \
     UNION SELECT m.user_id FROM submissions s JOIN memberships m \
       ON m.class_id = s.class_id AND m.role IN ('teacher', 'assistant') WHERE s.id = $3";
