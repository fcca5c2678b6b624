//! School notices: posting to an audience resolved at once into per-recipient receipts,
//! reading and acknowledging (回执), and the author's view of who has not acted yet.

mod post;
mod receipts;
mod view;

pub use post::post;
pub use receipts::{mark, receipt_report, remind, retract, summary};
pub use view::{NoticeQuery, get, list, load_for_user};

/// The flag columns are BIGINT 0/1 on both engines.
fn flag(v: i64) -> bool {
    v != 0
}
