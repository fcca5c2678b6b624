//! One module per group of commands.

pub mod accounts;
pub mod homework;
pub mod lessons;
pub mod notices;
pub mod sync;
