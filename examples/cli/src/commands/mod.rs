//! One module per group of commands.

pub mod accounts;
pub mod devices;
pub mod homework;
pub mod lessons;
pub mod live;
pub mod notices;
pub mod replays;
pub mod settings;
pub mod sync;
