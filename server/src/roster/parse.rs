//! Reading a roster CSV (one row per membership) into checked rows.
//!
//! Schools keep their people in spreadsheets, so the file is checked whole before anything is
//! written: each row on its own, then the rows against each other. Every problem comes back at
//! once with its physical line number, so a school fixes its spreadsheet in one go. Reasons
//! name logins, schools and classes, never a person's name or password.
//!
//! Whether a parent's child already exists in the database is not decided here: applying the
//! rows checks that, on the rows that passed here, and reports what it finds together with
//! what was found here ([`read_roster`] keeps both).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use lianxiao_protocol::{ROSTER_HEADER, ROSTER_PHONE_COLUMN, Role, RosterRowError, SchoolKind};

const LOGIN_LEN: std::ops::RangeInclusive<usize> = 2..=64;
const NAME_MAX: usize = 64;
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
/// School, class, grade, link group and subject names: generous, but not unbounded.
const LABEL_MAX: usize = 128;

/// One membership row of a roster file, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// 1-based physical line where the row starts (the header is line 1).
    pub line: u64,
    pub school: Option<String>,
    pub school_kind: Option<SchoolKind>,
    pub link_group: Option<String>,
    pub class: Option<String>,
    pub grade: Option<String>,
    pub role: Role,
    pub login: String,
    pub name: String,
    pub password: Option<String>,
    pub subject: Option<String>,
    pub child_login: Option<String>,
    /// From the optional `phone` column; kept as typed.
    pub phone: Option<String>,
}

// Hand-written so a password never reaches a log through `{:?}`.
impl fmt::Debug for RosterRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterRow")
            .field("line", &self.line)
            .field("school", &self.school)
            .field("school_kind", &self.school_kind)
            .field("link_group", &self.link_group)
            .field("class", &self.class)
            .field("grade", &self.grade)
            .field("role", &self.role)
            .field("login", &self.login)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("subject", &self.subject)
            .field("child_login", &self.child_login)
            .field("phone", &self.phone.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A roster file as read: the rows that passed their own checks and every problem found, so
/// the database checks can run on the good rows and all problems go back in one answer.
#[derive(Debug, Default)]
pub struct ReadRoster {
    pub rows: Vec<RosterRow>,
    /// Sorted by line; a line's errors keep their column order.
    pub errors: Vec<RosterRowError>,
    /// Logins of rows refused on their own. What other rows say about them (a parent's
    /// child, a password given only there) is not checked further: the refused row's own
    /// error is reported, and fixing it may settle the rest.
    pub refused_logins: BTreeSet<String>,
}

/// Parses and checks a whole roster file. Returns every row, or every error sorted by line.
pub fn parse_roster(input: &[u8]) -> Result<Vec<RosterRow>, Vec<RosterRowError>> {
    let read = read_roster(input);
    if read.errors.is_empty() {
        Ok(read.rows)
    } else {
        Err(read.errors)
    }
}

/// Parses and checks a whole roster file, keeping the good rows beside the errors.
pub fn read_roster(input: &[u8]) -> ReadRoster {
    let mut read = ReadRoster::default();
    match read_into(input, &mut read) {
        Ok(()) => check_across_rows(&read.rows, &mut read.errors),
        // The header is wrong or the text unreadable: no row means anything.
        Err(errors) => {
            read.rows.clear();
            read.errors = errors;
        }
    }
    // Stable: errors of one line keep their column order.
    read.errors.sort_by_key(|e| e.line);
    read
}

/// Reads the rows one by one into `read`; `Err` when the file as a whole is not a roster.
fn read_into(input: &[u8], read: &mut ReadRoster) -> Result<(), Vec<RosterRowError>> {
    // Excel's "CSV UTF-8" starts with a byte-order mark.
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);

    let ReadRoster {
        rows,
        errors,
        refused_logins,
    } = read;
    let mut header_seen = false;
    let mut with_phone = false;
    let mut lines = LineCounter::new(input);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = lines.line_at(e.position().map_or(0, |p| p.byte()));
                errors.push(error(line, None, "the file is not readable as CSV"));
                break;
            }
        }
        let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
        let cells: Result<Vec<&str>, _> = record
            .iter()
            .map(|cell| std::str::from_utf8(cell).map(str::trim))
            .collect();
        let Ok(cells) = cells else {
            errors.push(error(
                line,
                None,
                "the line is not valid UTF-8; save the file as CSV UTF-8",
            ));
            if !header_seen {
                return Err(std::mem::take(errors));
            }
            continue;
        };
        if cells.iter().all(|cell| cell.is_empty()) {
            continue;
        }
        if !header_seen {
            with_phone = cells.len() == ROSTER_HEADER.len() + 1
                && cells[ROSTER_HEADER.len()] == ROSTER_PHONE_COLUMN;
            if cells[..cells.len().min(ROSTER_HEADER.len())] != ROSTER_HEADER
                || (cells.len() != ROSTER_HEADER.len() && !with_phone)
            {
                return Err(vec![header_error(line)]);
            }
            header_seen = true;
            continue;
        }
        match check_row(line, &cells, with_phone) {
            Ok(row) => rows.push(row),
            Err(mut row_errors) => {
                errors.append(&mut row_errors);
                let login = ROSTER_HEADER.iter().position(|&c| c == "login");
                if let Some(login) = login.and_then(|i| cells.get(i)).filter(|l| !l.is_empty()) {
                    refused_logins.insert((*login).to_owned());
                }
            }
        }
    }
    if !header_seen && errors.is_empty() {
        return Err(vec![header_error(1)]);
    }
    Ok(())
}

/// Physical line numbers of records. The csv crate's own line count skips blank lines and
/// its byte offset points before them, so count newlines up to the record's first byte.
struct LineCounter<'a> {
    input: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> Self {
        LineCounter {
            input,
            pos: 0,
            line: 1,
        }
    }

    /// Line of the record whose position is `byte`; positions must not decrease.
    fn line_at(&mut self, byte: u64) -> u64 {
        let len = self.input.len();
        let mut start = usize::try_from(byte)
            .map_or(len, |b| b.min(len))
            .max(self.pos);
        while start < len && matches!(self.input[start], b'\r' | b'\n') {
            start += 1;
        }
        let newlines = self.input[self.pos..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.pos = start;
        self.line
    }
}

fn error(line: u64, column: Option<&str>, reason: impl Into<String>) -> RosterRowError {
    RosterRowError {
        line,
        column: column.map(str::to_owned),
        reason: reason.into(),
    }
}

fn header_error(line: u64) -> RosterRowError {
    error(
        line,
        None,
        format!(
            "the first line must be exactly the header {} (optionally followed by ,{})",
            ROSTER_HEADER.join(","),
            ROSTER_PHONE_COLUMN
        ),
    )
}

/// Errors found on one row.
struct RowErrors {
    line: u64,
    errors: Vec<RosterRowError>,
}

impl RowErrors {
    fn add(&mut self, column: &str, reason: impl Into<String>) {
        self.errors.push(error(self.line, Some(column), reason));
    }

    fn has(&self, column: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.column.as_deref() == Some(column))
    }

    fn require(&mut self, column: &str, value: Option<&str>, role: Role) {
        if value.is_none() {
            self.add(
                column,
                format!("{column} is required on a {} row", role.as_str()),
            );
        }
    }

    fn forbid(&mut self, column: &str, value: Option<&str>, role: Role) {
        if value.is_some() {
            self.add(
                column,
                format!("{column} must be empty on a {} row", role.as_str()),
            );
        }
    }

    fn check_label(&mut self, column: &str, value: Option<&str>) {
        if value.is_some_and(|v| v.chars().count() > LABEL_MAX) {
            self.add(
                column,
                format!("{column} must be at most {LABEL_MAX} characters"),
            );
        }
    }

    fn check_login(&mut self, column: &str, value: Option<&str>) {
        let Some(login) = value else { return };
        // Logins are often phone or student numbers; keep them to what any keyboard types.
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
        if !login.chars().all(allowed) {
            self.add(
                column,
                format!("{column} may contain only ASCII letters, digits, '.', '_', '-' and '@'"),
            );
        } else if !LOGIN_LEN.contains(&login.len()) {
            self.add(
                column,
                format!(
                    "{column} must be {} to {} characters",
                    LOGIN_LEN.start(),
                    LOGIN_LEN.end()
                ),
            );
        }
    }
}

fn non_empty(cell: &str) -> Option<&str> {
    (!cell.is_empty()).then_some(cell)
}

/// Checks one row on its own.
fn check_row(
    line: u64,
    cells: &[&str],
    with_phone: bool,
) -> Result<RosterRow, Vec<RosterRowError>> {
    let columns = ROSTER_HEADER.len() + usize::from(with_phone);
    if cells.len() != columns {
        return Err(vec![error(
            line,
            None,
            format!("expected {columns} columns, found {}", cells.len()),
        )]);
    }
    let (cells, phone) = match with_phone {
        true => (
            &cells[..ROSTER_HEADER.len()],
            non_empty(cells[ROSTER_HEADER.len()]),
        ),
        false => (cells, None),
    };
    let &[
        school,
        school_kind,
        link_group,
        class,
        grade,
        role,
        login,
        name,
        password,
        subject,
        child_login,
    ] = cells
    else {
        return Err(vec![error(
            line,
            None,
            format!(
                "expected {} columns, found {}",
                ROSTER_HEADER.len(),
                cells.len()
            ),
        )]);
    };
    let [
        school,
        link_group,
        class,
        grade,
        password,
        subject,
        child_login,
    ] = [
        school,
        link_group,
        class,
        grade,
        password,
        subject,
        child_login,
    ]
    .map(non_empty);
    let mut errs = RowErrors {
        line,
        errors: Vec::new(),
    };

    let kind = match non_empty(school_kind) {
        None => None,
        Some(k) => {
            let kind = SchoolKind::parse(&k.to_ascii_lowercase());
            if kind.is_none() {
                errs.add(
                    "school_kind",
                    "school_kind must be one of main, branch, teaching_point",
                );
            }
            kind
        }
    };
    let role = match non_empty(role) {
        None => {
            errs.add("role", "role is required");
            None
        }
        Some(r) => {
            let role = Role::parse(&r.to_ascii_lowercase());
            if role.is_none() {
                errs.add(
                    "role",
                    "role must be one of teacher, assistant, student, parent, school_admin, \
                     county_admin",
                );
            }
            role
        }
    };
    if login.is_empty() {
        errs.add("login", "login is required");
    }
    errs.check_login("login", non_empty(login));
    if name.is_empty() {
        errs.add("name", "name is required");
    } else if name.chars().count() > NAME_MAX {
        errs.add(
            "name",
            format!("name must be at most {NAME_MAX} characters"),
        );
    }
    if password.is_some_and(|p| !PASSWORD_LEN.contains(&p.chars().count())) {
        errs.add(
            "password",
            format!(
                "password must be empty or {} to {} characters",
                PASSWORD_LEN.start(),
                PASSWORD_LEN.end()
            ),
        );
    }
    errs.check_login("child_login", child_login);
    for (column, value) in [
        ("school", school),
        ("link_group", link_group),
        ("class", class),
        ("grade", grade),
        ("subject", subject),
    ] {
        errs.check_label(column, value);
    }
    // `school_kind` is checked above; for the presence rules any given value counts.
    let kind_given = non_empty(school_kind);

    if let Some(role) = role {
        match role {
            Role::Teacher | Role::Assistant | Role::Student => {
                errs.require("school", school, role);
                errs.require("school_kind", kind_given, role);
                errs.require("class", class, role);
                errs.require("grade", grade, role);
                if role == Role::Teacher {
                    errs.require("subject", subject, role);
                }
            }
            Role::SchoolAdmin => {
                errs.require("school", school, role);
                errs.require("school_kind", kind_given, role);
                errs.forbid("class", class, role);
            }
            Role::CountyAdmin => {
                errs.forbid("school", school, role);
                errs.forbid("school_kind", kind_given, role);
                errs.forbid("class", class, role);
            }
            Role::Parent => {
                // A parent row may place the child; then it needs the school it names.
                if school.is_none() {
                    if kind_given.is_some() {
                        errs.add("school_kind", "school_kind needs a school");
                    }
                    if class.is_some() {
                        errs.add("class", "class needs a school");
                    }
                }
            }
        }
        if role == Role::Parent {
            errs.require("child_login", child_login, role);
            if child_login.is_some() && child_login == non_empty(login) {
                errs.add(
                    "child_login",
                    "child_login must not be the parent's own login",
                );
            }
        } else {
            errs.forbid("child_login", child_login, role);
        }
    }
    if phone.is_some_and(|p| !is_phone_number(p)) {
        errs.add(
            "phone",
            "phone must be 5 to 20 digits, optionally with a leading +, spaces, - or ()",
        );
    }
    if link_group.is_some() && school.is_none() && !errs.has("school") {
        errs.add("link_group", "link_group needs a school");
    }

    match role {
        Some(role) if errs.errors.is_empty() => Ok(RosterRow {
            line,
            school: school.map(str::to_owned),
            school_kind: kind,
            link_group: link_group.map(str::to_owned),
            class: class.map(str::to_owned),
            grade: grade.map(str::to_owned),
            role,
            login: login.to_owned(),
            name: name.to_owned(),
            password: password.map(str::to_owned),
            subject: subject.map(str::to_owned),
            child_login: child_login.map(str::to_owned),
            phone: phone.map(str::to_owned),
        }),
        _ => Err(errs.errors),
    }
}

/// A phone number as schools write them: 5 to 20 digits, a leading `+`, spaces, `-`, `()`.
fn is_phone_number(p: &str) -> bool {
    let digits = p.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && p.char_indices().all(|(i, c)| {
            c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0)
        })
}

/// Checks the rows that passed on their own against each other. The first row to state a
/// fact wins; later rows that contradict it are reported, pointing back to it.
fn check_across_rows(rows: &[RosterRow], errors: &mut Vec<RosterRowError>) {
    let mut names: HashMap<&str, (u64, &str)> = HashMap::new();
    let mut passwords: HashMap<&str, (u64, &str)> = HashMap::new();
    let mut kinds: HashMap<&str, (u64, SchoolKind)> = HashMap::new();
    let mut grades: HashMap<(&str, &str), (u64, &str)> = HashMap::new();
    let mut mains: HashMap<&str, (u64, &str)> = HashMap::new();
    // Student login → (line, school, class).
    let mut students: HashMap<&str, (u64, &str, &str)> = HashMap::new();
    // Login → first line where it holds a role other than student.
    let mut non_students: HashMap<&str, u64> = HashMap::new();

    for row in rows {
        let line = row.line;
        let login = row.login.as_str();
        let mut fail = |column: &str, reason: String| {
            errors.push(error(line, Some(column), reason));
        };

        let (first, name) = *names.entry(login).or_insert((line, &row.name));
        if name != row.name {
            fail(
                "name",
                format!("login {login} has a different name on line {first}"),
            );
        }
        if let Some(password) = row.password.as_deref() {
            let (first, first_password) = *passwords.entry(login).or_insert((line, password));
            if first_password != password {
                fail(
                    "password",
                    format!("login {login} has a different password on line {first}"),
                );
            }
        }
        if let (Some(school), Some(kind)) = (row.school.as_deref(), row.school_kind) {
            let (first, first_kind) = *kinds.entry(school).or_insert((line, kind));
            if first_kind != kind {
                fail(
                    "school_kind",
                    format!(
                        "school {school} is {} here but {} on line {first}",
                        kind.as_str(),
                        first_kind.as_str()
                    ),
                );
            }
        }
        if let (Some(school), Some(class), Some(grade)) = (
            row.school.as_deref(),
            row.class.as_deref(),
            row.grade.as_deref(),
        ) {
            let (first, first_grade) = *grades.entry((school, class)).or_insert((line, grade));
            if first_grade != grade {
                fail(
                    "grade",
                    format!(
                        "class {class} of school {school} is in grade {first_grade} on line \
                         {first}"
                    ),
                );
            }
        }
        if let (Some(group), Some(school), Some(SchoolKind::Main)) = (
            row.link_group.as_deref(),
            row.school.as_deref(),
            row.school_kind,
        ) {
            let (first, main) = *mains.entry(group).or_insert((line, school));
            if main != school {
                fail(
                    "link_group",
                    format!(
                        "link group {group} already has the main school {main} on line {first}"
                    ),
                );
            }
        }
        if row.role == Role::Student {
            if let Some(&other) = non_students.get(login) {
                fail(
                    "role",
                    format!(
                        "login {login} holds another role on line {other}; a student login \
                         holds only student rows"
                    ),
                );
            }
            // Both are present on a valid student row.
            let school = row.school.as_deref().unwrap_or_default();
            let class = row.class.as_deref().unwrap_or_default();
            let (first, first_school, first_class) =
                *students.entry(login).or_insert((line, school, class));
            if (first_school, first_class) != (school, class) {
                fail(
                    "class",
                    format!(
                        "student {login} is already in class {first_class} of school \
                         {first_school} on line {first}"
                    ),
                );
            }
        } else {
            if let Some(&(first, _, _)) = students.get(login) {
                fail(
                    "role",
                    format!(
                        "login {login} is a student on line {first}; a student login holds \
                         only student rows"
                    ),
                );
            }
            non_students.entry(login).or_insert(line);
        }
    }

    // Parents last: their child's student row may come later in the file.
    for row in rows.iter().filter(|r| r.role == Role::Parent) {
        let Some(child) = row.child_login.as_deref() else {
            continue;
        };
        let line = row.line;
        if let Some(&(first, school, class)) = students.get(child) {
            if row.school.as_deref().is_some_and(|s| s != school) {
                errors.push(error(
                    line,
                    Some("school"),
                    format!("student {child} is in school {school} on line {first}"),
                ));
            }
            if row.class.as_deref().is_some_and(|c| c != class) {
                errors.push(error(
                    line,
                    Some("class"),
                    format!("student {child} is in class {class} on line {first}"),
                ));
            }
        } else if let Some(&other) = non_students.get(child) {
            errors.push(error(
                line,
                Some("child_login"),
                format!(
                    "child_login {child} is not a student: it holds another role on line {other}"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_phone_column_is_checked_and_kept() {
        let header = format!("{},phone", ROSTER_HEADER.join(","));
        let csv = format!(
            "{header}\n,,,,,county_admin,ca_x,张,lianxiao-demo,,,+86 138-0000-0000\n\
             ,,,,,county_admin,ca_y,李,lianxiao-demo,,,\n"
        );
        let rows = parse_roster(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].phone.as_deref(), Some("+86 138-0000-0000"));
        assert_eq!(rows[1].phone, None);
        assert!(
            !format!("{:?}", rows[0]).contains("138"),
            "phone numbers stay out of logs"
        );
        let bad = format!("{header}\n,,,,,county_admin,ca_x,张,lianxiao-demo,,,call me\n");
        let errors = parse_roster(bad.as_bytes()).unwrap_err();
        assert_eq!(errors[0].column.as_deref(), Some("phone"));
        let short = format!("{header}\n,,,,,county_admin,ca_x,张,lianxiao-demo,,\n");
        assert!(
            parse_roster(short.as_bytes()).unwrap_err()[0]
                .reason
                .contains("12 columns")
        );
        let other = format!("{},mobile\n", ROSTER_HEADER.join(","));
        assert!(parse_roster(other.as_bytes()).is_err());
    }

    const HEADER: &str =
        "school,school_kind,link_group,class,grade,role,login,name,password,subject,child_login";

    fn file(rows: &[&str]) -> String {
        let mut s = String::from(HEADER);
        for row in rows {
            s.push('\n');
            s.push_str(row);
        }
        s.push('\n');
        s
    }

    fn errors_of(input: &str) -> Vec<RosterRowError> {
        parse_roster(input.as_bytes()).expect_err("the file should be rejected")
    }

    /// (line, column) of each error, for compact assertions.
    fn places(errors: &[RosterRowError]) -> Vec<(u64, Option<&str>)> {
        errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect()
    }

    const GOOD: &[&str] = &[
        "城关中心小学,main,城关联校,三年级(1)班,3,teacher,t_wang,王老师,lianxiao-demo,语文,",
        "城关中心小学,main,城关联校,三年级(2)班,3,teacher,t_wang,王老师,,语文,",
        "石桥小学,branch,城关联校,三年级(1)班,3,assistant,a_zhou,周老师,lianxiao-demo,,",
        "城关中心小学,main,城关联校,三年级(1)班,3,student,s_li01,李小明,lianxiao-demo,,",
        "石桥小学,branch,城关联校,三年级(1)班,3,student,20240117,赵小红,,,",
        ",,,,,parent,p_li,李爸爸,lianxiao-demo,,s_li01",
        "城关中心小学,,,三年级(1)班,,parent,p_li,李爸爸,,,s_li01",
        "城关中心小学,main,,,,school_admin,admin.cg@school,张校长,lianxiao-demo,,",
        ",,,,,county_admin,13800138000,刘主任,lianxiao-demo,,",
        // An identical duplicate row is harmless.
        "城关中心小学,main,城关联校,三年级(2)班,3,teacher,t_wang,王老师,,语文,",
    ];

    #[test]
    fn a_good_file_gives_every_row() {
        let rows = parse_roster(file(GOOD).as_bytes()).unwrap();
        assert_eq!(rows.len(), GOOD.len());
        let wang = &rows[0];
        assert_eq!(wang.line, 2);
        assert_eq!(wang.school.as_deref(), Some("城关中心小学"));
        assert_eq!(wang.school_kind, Some(SchoolKind::Main));
        assert_eq!(wang.link_group.as_deref(), Some("城关联校"));
        assert_eq!(wang.class.as_deref(), Some("三年级(1)班"));
        assert_eq!(wang.grade.as_deref(), Some("3"));
        assert_eq!(wang.role, Role::Teacher);
        assert_eq!(wang.login, "t_wang");
        assert_eq!(wang.name, "王老师");
        assert_eq!(wang.password.as_deref(), Some("lianxiao-demo"));
        assert_eq!(wang.subject.as_deref(), Some("语文"));
        assert_eq!(wang.child_login, None);
        assert_eq!(rows[1].password, None);
        let parent = &rows[5];
        assert_eq!(parent.role, Role::Parent);
        assert_eq!(parent.school, None);
        assert_eq!(parent.child_login.as_deref(), Some("s_li01"));
        assert_eq!(rows[8].role, Role::CountyAdmin);
        assert_eq!(rows[8].line, 10);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let rows = parse_roster(file(GOOD).as_bytes()).unwrap();
        let shown = format!("{:?}", rows[0]);
        assert!(!shown.contains("lianxiao-demo"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn bom_crlf_blank_lines_and_spaces_are_tolerated() {
        let mut input = vec![0xEF, 0xBB, 0xBF];
        input.extend_from_slice(HEADER.as_bytes());
        input.extend_from_slice(b"\r\n\r\n , , , , ,  ,  , \r\n");
        input.extend_from_slice(
            " 城关中心小学 , MAIN ,, 三年级(1)班 ,3, Student , s_li01 , 李小明\u{3000},,,\r\n"
                .as_bytes(),
        );
        let rows = parse_roster(&input).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 4);
        assert_eq!(rows[0].school.as_deref(), Some("城关中心小学"));
        assert_eq!(rows[0].school_kind, Some(SchoolKind::Main));
        assert_eq!(rows[0].role, Role::Student);
        assert_eq!(rows[0].login, "s_li01");
        assert_eq!(rows[0].name, "李小明");
    }

    #[test]
    fn quoted_cells_keep_commas_quotes_and_line_breaks() {
        let input = file(&[
            "\"城关中心小学, 东校区\",main,,\"三年级\n(1)班\",3,teacher,t_wang,\"王 \"\"大\"\" 老师\",,语文,",
            "城关中心小学,main,,四年级(1)班,4,teacher,t_li,李老师,,数学,",
            "城关中心小学,main,,四年级(1)班,4,student,x,李小明,,,",
        ]);
        let errors = errors_of(&input);
        // The quoted cell spans lines 2-3, so the bad row starts on physical line 5.
        assert_eq!(places(&errors), vec![(5, Some("login"))]);

        let input = file(&[
            "\"城关中心小学, 东校区\",main,,\"三年级\n(1)班\",3,teacher,t_wang,\"王 \"\"大\"\" 老师\",,语文,",
        ]);
        let rows = parse_roster(input.as_bytes()).unwrap();
        assert_eq!(rows[0].school.as_deref(), Some("城关中心小学, 东校区"));
        assert_eq!(rows[0].class.as_deref(), Some("三年级\n(1)班"));
        assert_eq!(rows[0].name, "王 \"大\" 老师");
    }

    #[test]
    fn header_mismatch_is_reported_on_line_one() {
        let errors = errors_of("学校,类型\n城关中心小学,main\n");
        assert_eq!(places(&errors), vec![(1, None)]);
        assert!(errors[0].reason.contains(HEADER), "{}", errors[0].reason);

        let swapped = HEADER.replace("login,name", "name,login");
        assert_eq!(places(&errors_of(&swapped)), vec![(1, None)]);
        assert_eq!(places(&errors_of("")), vec![(1, None)]);
        assert_eq!(places(&errors_of("\u{feff}")), vec![(1, None)]);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let input = file(&[
            "城关中心小学,main,,三年级(1)班,3,teacher,t_wang,王老师,,语文,", // 2 ok
            "城关中心小学,main,,三年级(1)班,3,headmaster,t_x,某,,,",         // 3 role
            "城关中心小学,main,,三年级(1)班,3,student,王小明,王小明,,,",     // 4 login chars
            "城关中心小学,main,,三年级(1)班,3,student,s,某,,,",              // 5 login short
            "城关中心小学,main,,三年级(1)班,3,student,s_ok1,,,,",            // 6 name
            "城关中心小学,main,,三年级(1)班,3,student,s_ok2,某,short,,",     // 7 password
            "城关中心小学,main,,,3,student,s_ok3,某,,,",                     // 8 class
            "城关中心小学,main,,三年级(1)班,3,teacher,t_ok,某,,,",           // 9 subject
            "城关中心小学,village,,三年级(1)班,3,student,s_ok4,某,,,",       // 10 kind
            "城关中心小学,main,,三年级(1)班,,school_admin,sa,某,,,",         // 11 class
            "城关中心小学,,,,,county_admin,ca,某,,,",                        // 12 school
            ",,,,,parent,p_a,某,,,",                                         // 13 child
            "城关中心小学,main,,三年级(1)班,3,student,s_ok5,某,,,p_a",       // 14 child
            ",,城关联校,,,parent,p_b,某,,,s_ok1",                            // 15 group
            "城关中心小学,main,,三年级(1)班,3,student",                      // 16 columns
            ",,,,,parent,p_c,某,,,p_c",                                      // 17 self
            &format!(",,,,,county_admin,ca2,{},,,", "名".repeat(65)),        // 18 name long
            "城关中心小学,main,,三年级(1)班,3,student,s_ok6,某,lianxiao-demo,,", // 19 ok
        ]);
        let errors = errors_of(&input);
        assert_eq!(
            places(&errors),
            vec![
                (3, Some("role")),
                (4, Some("login")),
                (5, Some("login")),
                (6, Some("name")),
                (7, Some("password")),
                (8, Some("class")),
                (9, Some("subject")),
                (10, Some("school_kind")),
                (11, Some("class")),
                (12, Some("school")),
                (13, Some("child_login")),
                (14, Some("child_login")),
                (15, Some("link_group")),
                (16, None),
                (17, Some("child_login")),
                (18, Some("name")),
            ]
        );
    }

    #[test]
    fn reasons_never_contain_names_or_passwords() {
        let input = file(&[
            "城关中心小学,main,,三年级(1)班,3,student,s_li01,李小明,secret-one,,",
            "城关中心小学,main,,三年级(1)班,3,student,s_li01,李晓明,secret-two,,",
            "城关中心小学,main,,三年级(1)班,3,student,s_li01,李小明,short,,",
        ]);
        let errors = errors_of(&input);
        assert_eq!(
            places(&errors),
            vec![
                (3, Some("name")),
                (3, Some("password")),
                (4, Some("password"))
            ]
        );
        for e in &errors {
            for secret in ["李小明", "李晓明", "secret", "short"] {
                assert!(!e.reason.contains(secret), "{}", e.reason);
            }
        }
        assert!(errors[0].reason.contains("s_li01"));
        assert!(errors[0].reason.contains("line 2"));
    }

    #[test]
    fn rows_must_agree_with_each_other() {
        let input = file(&[
            "城关中心小学,main,城关联校,三年级(1)班,3,teacher,t_wang,王老师,,语文,", // 2
            "城关中心小学,branch,,三年级(2)班,3,teacher,t_wang,王老师,,语文,",       // 3 kind
            "城关中心小学,main,,三年级(1)班,4,student,s_1,某,,,",                    // 4 grade
            "城关中心小学,main,,三年级(2)班,3,student,s_1,某,,,", // 5 two classes
            "城关中心小学,main,,三年级(1)班,3,assistant,s_1,某,,,", // 6 student+
            "河口小学,main,城关联校,一年级(1)班,1,student,s_2,某,,,", // 7 second main
            "城关中心小学,main,,三年级(1)班,3,student,t_wang,王老师,,,", // 8 teacher→student
            ",,,,,parent,p_1,某,,,s_1",                           // 9 ok
            "河口小学,,,,,parent,p_1,某,,,s_1",                   // 10 school
            "城关中心小学,,,一年级(1)班,,parent,p_2,某,,,s_1",    // 11 class
            ",,,,,parent,p_3,某,,,p_1",                           // 12 not student
            ",,,,,parent,p_4,某,,,s_elsewhere",                   // 13 ok: in db
        ]);
        let errors = errors_of(&input);
        assert_eq!(
            places(&errors),
            vec![
                (3, Some("school_kind")),
                (4, Some("grade")),
                (5, Some("class")),
                (6, Some("role")),
                (7, Some("link_group")),
                (8, Some("role")),
                (10, Some("school")),
                (11, Some("class")),
                (12, Some("child_login")),
            ]
        );
        assert!(errors[6].reason.contains("s_1"), "{}", errors[6].reason);
    }

    #[test]
    fn the_good_rows_are_kept_beside_the_errors() {
        let input = file(&[
            "城关中心小学,main,,三年级(1)班,3,student,s_1,某,lianxiao-demo,,", // 2 ok
            "城关中心小学,village,,三年级(1)班,3,student,s_2,某,lianxiao-demo,,", // 3 kind
            ",,,,,parent,p_1,某,lianxiao-demo,,s_2",                           // 4 ok here
            ",,,,,parent,p_2,某,lianxiao-demo,,s_elsewhere",                   // 5 ok here
        ]);
        let read = read_roster(input.as_bytes());
        assert_eq!(places(&read.errors), vec![(3, Some("school_kind"))]);
        let lines: Vec<u64> = read.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert_eq!(read.refused_logins, BTreeSet::from(["s_2".to_owned()]));
        // A file that is no roster keeps no rows.
        let read = read_roster(b"a,b\n1,2\n");
        assert!(read.rows.is_empty());
        assert_eq!(places(&read.errors), vec![(1, None)]);
    }

    #[test]
    fn a_parent_may_come_before_the_child() {
        let input = file(&[
            "石桥小学,,,三年级(1)班,,parent,p_zhao,赵妈妈,,,s_zhao",
            "石桥小学,branch,,三年级(1)班,3,student,s_zhao,赵小红,,,",
        ]);
        let rows = parse_roster(input.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn blank_lines_still_count() {
        let input = format!(
            "{HEADER}\n\n\n城关中心小学,main,,三年级(1)班,3,student,x,某,,,\r\n\r\n\
             城关中心小学,main,,三年级(1)班,3,student,y,某,,,\n"
        );
        assert_eq!(
            places(&errors_of(&input)),
            vec![(4, Some("login")), (6, Some("login"))]
        );
    }

    #[test]
    fn invalid_utf8_is_reported_per_line() {
        let mut input = file(&["城关中心小学,main,,三年级(1)班,3,student,s_1,某,,,"]).into_bytes();
        input.extend_from_slice(b"\xd5\xc5,main,,c,3,student,s_2,x,,,\n");
        let errors = parse_roster(&input).unwrap_err();
        assert_eq!(places(&errors), vec![(3, None)]);
    }
}
