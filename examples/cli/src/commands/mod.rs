//! One module per group of commands.

pub mod accounts;
pub mod notices;
pub mod sync;
