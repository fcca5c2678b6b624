//! Text that people will read: which characters the server accepts in strings, and how text is
//! written into spreadsheets.
//!
//! Every string of a JSON body and every path and query parameter passes [`check_text`] (in the
//! extractors, `http::extract`), so no route has to remember it: NUL (which PostgreSQL cannot
//! store in `text`) and the other control characters are refused with a 422 naming the field.
//! Bodies (notice text, homework, chat) keep their tabs and line breaks; a one-line string — a
//! title or a name, see [`check_line`] — has none, and must show at least one visible
//! character, so a title of U+200B or U+202E alone cannot look like nothing in a list.
//!
//! [`spreadsheet_cell`] is the one function every CSV or XLSX export writes its cells through.

use std::borrow::Cow;

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::error::{ApiError, ApiResult};

/// Why a string was refused, in words for the error message (never quoting the string).
pub fn text_problem(s: &str) -> Option<String> {
    s.chars()
        .find(|&c| is_control(c) && !matches!(c, '\t' | '\n' | '\r'))
        .map(control_message)
}

/// Like [`text_problem`], for a one-line string that names something (a title, a person's or a
/// class's name): no control character at all, not even a line break, and something visible
/// when it is not empty. The roster import can call this for names (`None` when fine).
pub fn line_problem(s: &str) -> Option<String> {
    if let Some(c) = s.chars().find(|&c| is_control(c)) {
        return Some(control_message(c));
    }
    if !s.is_empty() && is_blank(s) {
        return Some(
            "has no visible character (only spaces or invisible characters such as U+200B)"
                .to_owned(),
        );
    }
    None
}

/// A body text (notice body, homework text, chat, feedback): 422 on NUL or a control character
/// other than tab, line feed and carriage return.
pub fn check_text(field: &str, s: &str) -> ApiResult<()> {
    match text_problem(s) {
        Some(problem) => Err(ApiError::validation(field, format!("{field} {problem}"))),
        None => Ok(()),
    }
}

/// A title or a name: see [`line_problem`].
pub fn check_line(field: &str, s: &str) -> ApiResult<()> {
    match line_problem(s) {
        Some(problem) => Err(ApiError::validation(field, format!("{field} {problem}"))),
        None => Ok(()),
    }
}

/// C0 controls (NUL to U+001F), DEL and the C1 controls (U+0080 to U+009F).
fn is_control(c: char) -> bool {
    c.is_control()
}

fn control_message(c: char) -> String {
    format!("contains the control character U+{:04X}", c as u32)
}

/// True when nothing in `s` would be seen: no letter, digit, punctuation mark or symbol, only
/// spaces, format characters (U+200B, U+202E, U+FEFF, ...), controls, lone combining marks, and
/// the letters and symbols that fonts draw as blanks (Hangul fillers, the blank Braille
/// pattern).
pub fn is_blank(s: &str) -> bool {
    !s.chars().any(is_visible)
}

fn is_visible(c: char) -> bool {
    if matches!(
        c,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}' | '\u{17B4}' | '\u{17B5}'
    ) {
        return false;
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    )
}

/// A cell for a CSV or XLSX export: text starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return is what spreadsheets run as a formula (`=HYPERLINK(...)` in a pupil's name would
/// become a link on the admin's screen), so it gets a leading `'` and is shown as typed. The
/// CSV writer's quoting does the rest.
pub fn spreadsheet_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_controls_are_refused_in_bodies_but_line_breaks_and_tabs_stay() {
        assert!(text_problem("第一行\n第二行\r\n\t缩进").is_none());
        assert!(text_problem("a\0b").unwrap().contains("U+0000"));
        assert!(text_problem("bell\u{7}").unwrap().contains("U+0007"));
        assert!(text_problem("del\u{7F}").is_some());
        assert!(text_problem("c1\u{85}").is_some());
        // Format characters are text (joiners in emoji, right-to-left marks in names).
        assert!(text_problem("👨\u{200D}👩").is_none());
        let e = check_text("body", "x\0").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.field.as_deref(), Some("body"));
    }

    #[test]
    fn a_title_is_one_line_with_something_visible() {
        assert!(line_problem("春游通知").is_none());
        assert!(
            line_problem("").is_none(),
            "emptiness is each route's own rule"
        );
        assert!(line_problem(" 3 ").is_none());
        assert!(line_problem("-").is_none());
        assert!(line_problem("two\nlines").is_some());
        for blank in [
            "\u{200B}",
            "\u{202E}",
            "\u{200B}\u{202E}\u{FEFF}",
            " \u{3000}\u{00A0}",
            "\u{2060}\u{034F}",
            "\u{3164}",
            "\u{2800}",
            "\u{E0041}",
        ] {
            assert!(
                line_problem(blank).is_some(),
                "{:?} should be refused",
                blank.escape_unicode().to_string()
            );
        }
        let e = check_line("title", "\u{200B}").unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("title"));
    }

    #[test]
    fn spreadsheet_cells_never_start_a_formula() {
        assert_eq!(
            spreadsheet_cell("=HYPERLINK(\"http://evil.example/\",\"成绩\")"),
            "'=HYPERLINK(\"http://evil.example/\",\"成绩\")"
        );
        for s in ["+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(spreadsheet_cell(s).starts_with('\''), "{s:?}");
        }
        assert_eq!(spreadsheet_cell("王小明"), "王小明");
        assert_eq!(spreadsheet_cell(""), "");
        assert_eq!(spreadsheet_cell("a=b"), "a=b");
    }
}
