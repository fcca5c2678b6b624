//! What the demo prints: bilingual lines (中文 · English), echoed to stdout and kept, so a
//! test can read what a person would have seen.

use std::sync::{Arc, Mutex};

/// Collects the story's lines; prints them as they come when `echo` is set.
#[derive(Clone, Default)]
pub struct Narrator {
    lines: Arc<Mutex<Vec<String>>>,
    echo: bool,
}

impl Narrator {
    /// Prints every line to stdout (the demo binary).
    pub fn stdout() -> Self {
        Narrator {
            lines: Arc::default(),
            echo: true,
        }
    }

    /// Keeps the lines without printing them (tests).
    pub fn quiet() -> Self {
        Narrator::default()
    }

    /// Everything said so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn emit(&self, line: String) {
        if self.echo {
            println!("{line}");
        }
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// A chapter heading.
    pub fn chapter(&self, number: u32, zh: &str, en: &str) {
        self.emit(String::new());
        self.emit(format!("【{number}】{zh} · {en}"));
    }

    /// Something the narrator (not a phone) reports.
    pub fn note(&self, zh: &str, en: &str) {
        self.emit(format!("    {zh} · {en}"));
    }

    /// What one person sees on their phone; `who` is e.g. "王丽 t_wang".
    pub fn phone(&self, who: &str, zh: &str, en: &str) {
        self.emit(format!("  📱 {who}: {zh} · {en}"));
    }

    /// One item of a list (the closing summary).
    pub fn item(&self, text: &str) {
        self.emit(format!("    ✔ {text}"));
    }

    /// A detail under the previous line.
    pub fn detail(&self, text: &str) {
        self.emit(format!("       {text}"));
    }
}
