//! Build chores.
//!
//! - `cargo xtask bindings [--release] [--out DIR]`: builds `lianxiao-ffi` and the workspace's
//!   `uniffi-bindgen` (separately, so the generator is not linked into the library) and
//!   generates Kotlin, Swift and Python into `target/bindings/{kotlin,swift,python}`.
//! - `cargo xtask test-bindings`: generates the bindings, then runs the Python smoke test and
//!   the Kotlin JUnit tests (on the JVM) against a real server, and syntax-checks the Swift
//!   header. Ends with one line `N passed, N failed`.
//! - `cargo xtask demo-roster`: prints the demo county's roster CSV.
//!
//! With `LIANXIAO_PREBUILT=1` the chores build nothing and take the debug artifacts already in
//! `target/debug`: `scripts/test.sh` builds every target in one cargo invocation first, because
//! a `cargo build -p` of one package resolves its dependencies' features differently and
//! would compile much of the tree again.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("bindings") => {
            let release = args.iter().any(|a| a == "--release");
            let out = flag(&args, "--out")
                .map(PathBuf::from)
                .unwrap_or(root.join("target/bindings"));
            bindings(&root, release, &out).map(|_| ())
        }
        Some("test-bindings") => test_bindings(&root),
        Some("demo-roster") => {
            print!("{}", lianxiao_tests::demo_roster());
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask bindings [--release] [--out DIR] | test-bindings | demo-roster"
            );
            std::process::exit(2)
        }
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_owned()
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Builds the library and generates the bindings; returns the library's path.
fn bindings(root: &Path, release: bool, out: &Path) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    if !prebuilt() {
        let mut build = cargo(root);
        build.args(["build", "-p", "lianxiao-ffi"]);
        if release {
            build.arg("--release");
        }
        run(&mut build)?;
        // On its own: in the same invocation cargo would unify uniffi's `cli` feature into the
        // library.
        run(cargo(root).args(["build", "-p", "uniffi-bindgen"]))?;
    }
    let lib = root.join("target").join(profile).join(library_file());
    let bindgen = root.join("target/debug/uniffi-bindgen");
    for language in ["kotlin", "swift", "python"] {
        let dir = out.join(language);
        std::fs::create_dir_all(&dir)?;
        run(Command::new(&bindgen)
            .current_dir(root)
            .args([
                "generate",
                "--no-format",
                "--language",
                language,
                "--out-dir",
            ])
            .arg(&dir)
            .arg(&lib))?;
    }
    // Generated Python loads the library from its own folder.
    std::fs::copy(&lib, out.join("python").join(library_file()))?;
    println!(
        "bindings for {} written to {}",
        lib.display(),
        out.display()
    );
    Ok(lib)
}

/// Everything is built already (see the module's comment).
fn prebuilt() -> bool {
    env::var_os("LIANXIAO_PREBUILT").is_some_and(|v| !v.is_empty() && v != "0")
}

fn library_file() -> &'static str {
    if cfg!(target_os = "macos") {
        "liblianxiao_ffi.dylib"
    } else {
        "liblianxiao_ffi.so"
    }
}

#[derive(Default)]
struct Tally {
    passed: u32,
    failed: u32,
    failures: Vec<String>,
}

fn test_bindings(root: &Path) -> Result<()> {
    let out = root.join("target/bindings");
    let lib = bindings(root, false, &out)?;
    if !prebuilt() {
        run(cargo(root).args(["build", "-p", "lianxiao-server"]))?;
    }
    let server = root.join("target/debug/lianxiao-server");
    let roster = out.join("demo-roster.csv");
    std::fs::write(&roster, lianxiao_tests::demo_roster())?;
    let mut tally = Tally::default();

    swift_header(&out, &mut tally);
    python(root, &out, &server, &roster, &mut tally);
    kotlin(root, &out, &lib, &server, &roster, &mut tally)?;

    for f in &tally.failures {
        eprintln!("FAILED: {f}");
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// No Swift toolchain here: check that the generated C header at least parses.
fn swift_header(out: &Path, tally: &mut Tally) {
    let header = out.join("swift/LianxiaoFFI.h");
    let ok = Command::new("gcc")
        .args([
            "-fsyntax-only",
            "-x",
            "c",
            "-D_Nonnull=",
            "-D_Nullable=",
            "-D_Null_unspecified=",
        ])
        .arg(&header)
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "swift header syntax check: {}",
        if ok { "ok" } else { "FAILED" }
    );
    count(tally, ok, "Swift header syntax check");
}

fn count(tally: &mut Tally, ok: bool, what: &str) {
    if ok {
        tally.passed += 1;
    } else {
        tally.failed += 1;
        tally.failures.push(what.to_owned());
    }
}

/// Each `tests/python/test_*.py` script, one server each.
fn python(root: &Path, out: &Path, server: &Path, roster: &Path, tally: &mut Tally) {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join("tests/python"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    scripts.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("test_") && n.ends_with(".py"))
    });
    scripts.sort();
    for script in scripts {
        python_script(&script, root, out, server, roster, tally);
    }
}

fn python_script(
    script: &Path,
    root: &Path,
    out: &Path,
    server: &Path,
    roster: &Path,
    tally: &mut Tally,
) {
    let output = Command::new("python3")
        .current_dir(root)
        .arg(script)
        .env("PYTHONPATH", out.join("python"))
        .env("LIANXIAO_SERVER_BIN", server)
        .env("LIANXIAO_ROSTER_CSV", roster)
        .output();
    match output {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            print!("{text}");
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            let (p, f) = summary_line(&text).unwrap_or((0, 1));
            tally.passed += p;
            tally.failed += f;
            if f > 0 || !o.status.success() {
                tally
                    .failures
                    .push(format!("Python binding tests ({})", script.display()));
                if f == 0 {
                    tally.failed += 1;
                }
            }
        }
        Err(e) => {
            eprintln!("cannot run python3: {e}");
            count(tally, false, "Python binding tests (python3 missing)");
        }
    }
}

/// `N passed, M failed` as printed by our test runners.
fn summary_line(text: &str) -> Option<(u32, u32)> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.contains(" failed"))?;
    let mut nums = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some((nums.next()?.parse().ok()?, nums.next()?.parse().ok()?))
}

fn kotlinc(root: &Path) -> Option<PathBuf> {
    if let Ok(k) = env::var("KOTLINC") {
        return Some(PathBuf::from(k));
    }
    let k = root.join(".tools/npm/node_modules/kotlin-compiler/bin/kotlinc-jvm");
    k.exists().then_some(k)
}

fn kotlin_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            kotlin_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "kt") {
            out.push(p);
        }
    }
}

/// Fully qualified names of the JUnit classes (`class FooTest`) in the test sources.
fn test_classes(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim().to_owned());
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("class ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.ends_with("Test") {
                    out.push(match &package {
                        Some(p) => format!("{p}.{name}"),
                        None => name,
                    });
                }
            }
        }
    }
    out
}

fn kotlin(
    root: &Path,
    out: &Path,
    lib: &Path,
    server: &Path,
    roster: &Path,
    tally: &mut Tally,
) -> Result<()> {
    let Some(kotlinc) = kotlinc(root) else {
        eprintln!("kotlinc not found (scripts/test.sh installs it under .tools/npm)");
        count(tally, false, "Kotlin binding tests (kotlinc missing)");
        return Ok(());
    };
    let k_lib = kotlinc
        .parent()
        .and_then(Path::parent)
        .context("kotlinc layout")?
        .join("lib");
    let java = Path::new("/usr/share/java");
    let cp = [
        java.join("jna.jar"),
        k_lib.join("kotlinx-coroutines-core-jvm.jar"),
        java.join("junit4.jar"),
        java.join("hamcrest.jar"),
        k_lib.join("kotlin-test.jar"),
        k_lib.join("kotlin-test-junit.jar"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(":");
    let mut sources = Vec::new();
    kotlin_files(&out.join("kotlin"), &mut sources);
    kotlin_files(
        &root.join("android/lianxiao/src/main/kotlin/org/lianxiao/core/ktx"),
        &mut sources,
    );
    let mut tests = Vec::new();
    kotlin_files(&root.join("tests/kotlin"), &mut tests);
    let classes = out.join("kotlin-classes");
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes)?;
    println!("compiling {} Kotlin files", sources.len() + tests.len());
    let compiled = Command::new(&kotlinc)
        .args(["-nowarn", "-jvm-target", "17", "-d"])
        .arg(&classes)
        .args(["-cp", &cp])
        .args(&sources)
        .args(&tests)
        .status()
        .is_ok_and(|s| s.success());
    if !compiled {
        count(tally, false, "Kotlin compilation");
        return Ok(());
    }
    let lib_dir = lib.parent().context("library dir")?;
    let output = Command::new("java")
        .arg(format!("-Djna.library.path={}", lib_dir.display()))
        .args([
            "-cp",
            &format!(
                "{}:{}:{cp}",
                classes.display(),
                k_lib.join("kotlin-stdlib.jar").display()
            ),
        ])
        .arg("org.junit.runner.JUnitCore")
        .args(test_classes(&tests))
        .env("LIANXIAO_SERVER_BIN", server)
        .env("LIANXIAO_ROSTER_CSV", roster)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    // JUnit 4: "OK (N tests)" or "Tests run: N,  Failures: M".
    let (passed, failed) = if let Some(l) = text.lines().find(|l| l.starts_with("OK (")) {
        (
            l.split(|c: char| !c.is_ascii_digit())
                .find_map(|s| s.parse().ok())
                .unwrap_or(0),
            0,
        )
    } else if let Some(l) = text.lines().find(|l| l.starts_with("Tests run:")) {
        let mut nums = l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse::<u32>().ok());
        let run = nums.next().unwrap_or(0);
        let failed = nums.next().unwrap_or(1);
        (run.saturating_sub(failed), failed.max(1))
    } else {
        (0, 1)
    };
    tally.passed += passed;
    tally.failed += failed;
    if failed > 0 {
        tally.failures.push("Kotlin JUnit tests".into());
    }
    Ok(())
}
