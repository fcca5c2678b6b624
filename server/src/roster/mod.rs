//! Roster import: the CSV schools keep, checked whole, then applied in one transaction.

mod apply;
pub mod parse;

pub use apply::{import, import_into};
