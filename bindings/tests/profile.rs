//! The mobile library must unwind on a panic: with `panic = "abort"` any panic in any task
//! kills the app instead of reaching Kotlin/Swift as an exception (UniFFI catches unwinding
//! panics at the boundary) or the core's task supervisor (which reports it and restarts the
//! task).

#[test]
fn the_mobile_profile_unwinds_on_panic() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .expect("the workspace manifest");
    let section: Vec<&str> = manifest
        .lines()
        .skip_while(|l| l.trim() != "[profile.release-mobile]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!section.is_empty(), "no [profile.release-mobile] section");
    let panic: Vec<&str> = section
        .iter()
        .filter(|l| l.split('=').next().map(str::trim) == Some("panic"))
        .copied()
        .collect();
    assert_eq!(
        panic,
        vec![r#"panic = "unwind""#],
        "release-mobile must unwind (an inherited default would do too, but say it)"
    );
}
