//! The Lianxiao (联校) story end to end: the real server embedded on its default backend
//! (SQLite and local files in a temporary directory), the demo county's roster, and several
//! simulated phones, each a real `lianxiao_core` client with its own data directory.
//!
//! `cargo run -p lianxiao-demo` prints it; [`run_story`] is the same story for tests.

pub mod narrator;
pub mod phone;
pub mod server;
pub mod story;

pub use narrator::Narrator;
pub use story::{StoryReport, run_story};
