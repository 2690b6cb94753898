//! Dependency review: loading an OSV database into the index, and matching
//! a change of 5,000 lockfile entries against it.
//!
//! The real exports cannot be fetched here, so the database is generated:
//! `RECORDS` records per ecosystem (crates.io, npm, PyPI) zipped as OSV
//! publishes them, each with one affected package, two ranges and a CVSS
//! vector, about the size of a real record's matching part. The change is a
//! `requirements.txt` whose 5,000 pins all move to another version, half of
//! them into an affected range. Prints the best and median of several runs
//! and the process's peak memory (VmHWM, Linux).
//!
//! A third row judges the licences of a change adding 5,000 packages.
//!
//! Run: `cargo bench --bench deps_matching`

use hunkscan::advisories::Index;
use hunkscan::engine::deps::DepsAnalyzer;
use hunkscan::engine::{Analyzer, Content, FileOutcome};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator the `hunkscan` binary runs with, so the memory and times
/// printed are the binary's. With glibc's malloc, loading 90,000 records
/// peaked at 2.8 GB: each zip entry's inflater (tens of KB) and the record's
/// small lasting allocations interleave, and the freed inflaters' holes are
/// split by later small allocations instead of reused (`malloc_trim` gave
/// 1.4 GB back). mimalloc's size classes do not fragment that way: 96 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 30_000;
const ENTRIES: usize = 5_000;
const RUNS: usize = 5;

fn record(ecosystem: &str, n: usize) -> String {
    format!(
        r#"{{"schema_version":"1.6.0","id":"GHSA-bench-{ecosystem}-{n}","modified":"2026-01-01T00:00:00Z","aliases":["CVE-2026-{n}"],"summary":"Synthetic advisory {n}","details":"{details}","severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],"affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"package-{p}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"1.0.0"}},{{"fixed":"1.{n}.1"}}]}},{{"type":"ECOSYSTEM","events":[{{"introduced":"2.0.0"}},{{"last_affected":"2.{n}.0"}}]}}]}}],"references":[{{"type":"ADVISORY","url":"https://example.com/{n}"}}],"database_specific":{{"severity":"HIGH","cwe_ids":["CWE-79"]}}}}"#,
        details = "x".repeat(600),
        p = n % 20_000,
    )
}

fn database(dir: &std::path::Path) {
    for ecosystem in ["crates.io", "npm", "PyPI"] {
        std::fs::create_dir_all(dir.join(ecosystem)).expect("mkdir");
        let file = std::fs::File::create(dir.join(ecosystem).join("all.zip")).expect("zip");
        let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(file));
        for n in 0..RECORDS {
            writer
                .start_file(
                    format!("GHSA-bench-{n}.json"),
                    zip::write::SimpleFileOptions::default(),
                )
                .expect("entry");
            writer
                .write_all(record(ecosystem, n).as_bytes())
                .expect("write");
        }
        writer.finish().expect("finish");
    }
}

fn requirements(version: impl Fn(usize) -> String) -> String {
    (0..ENTRIES)
        .map(|n| format!("package-{n}=={}\n", version(n)))
        .collect()
}

fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Prints the process's peak memory so far, so a phase that raises it shows.
fn peak(when: &str) {
    if let Some(kb) = peak_memory_kb() {
        println!("peak memory {when}: {} MB", kb / 1024);
    }
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: best {:.1} ms, median {:.1} ms",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3
    );
}

/// The licence review of a change adding 5,000 packages: every licence an
/// SPDX expression evaluated against an allow- and a deny-list.
fn licences() {
    use hunkscan::engine::deps::license::{LicenseAnalyzer, Licenses, Lookup, PackageId, Policy};
    use hunkscan::engine::deps::model::Ecosystem;
    let names = |prefix: &str| -> String {
        (0..ENTRIES)
            .map(|n| format!("{prefix}-{n}==1.0.{n}\n"))
            .collect()
    };
    let head = names("added");
    let file = hunkscan::local::changed_file(
        "requirements.txt",
        Content::Text(names("kept")),
        Content::Text(head.clone()),
    )
    .expect("diff");
    let mut licenses = Licenses::none("not looked up");
    for n in 0..ENTRIES {
        let license = match n % 3 {
            0 => "MIT OR Apache-2.0",
            1 => "Apache-2.0 AND (BSD-3-Clause OR GPL-3.0-only)",
            _ => "GPL-2.0-only WITH Classpath-exception-2.0",
        };
        let id = PackageId {
            ecosystem: Ecosystem::PyPI,
            name: format!("added-{n}"),
            version: format!("1.0.{n}"),
        };
        licenses.insert(&id, Lookup::Found(license.into()));
    }
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let policy = Policy::new(
        &owned(&["MIT", "Apache-2.0", "BSD-3-Clause"]),
        &owned(&["GPL-3.0-only"]),
        false,
        &[],
    )
    .expect("policy");
    let analyzer = LicenseAnalyzer::new(Arc::new(policy), Arc::new(licenses));
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..RUNS {
        let mut out = FileOutcome::default();
        let started = Instant::now();
        analyzer.analyze(&file, &head, &mut out);
        times.push(started.elapsed());
        found = out.compared.len();
    }
    println!("licences: {ENTRIES} packages added, {found} outside the policy");
    report("licences", times);
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    database(dir.path());
    peak("after generating the database");
    // Base: every pin safe (0.9); head: half move into 1.0.x (affected), half to 3.0.
    let base = requirements(|_| "0.9".into());
    let head = requirements(|n| {
        if n % 2 == 0 {
            "1.0.5".into()
        } else {
            "3.0".into()
        }
    });
    let file = hunkscan::local::changed_file(
        "requirements.txt",
        Content::Text(base),
        Content::Text(head.clone()),
    )
    .expect("diff");
    // Each run loads a new index, so the first review after it ("cold")
    // pays for parsing the ranges it touches, as the first review after
    // the bot loads or refreshes its database does; a second review of the
    // same change ("warm") finds them parsed.
    let mut load = Vec::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut found = 0;
    let mut advisories = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let index = Arc::new(Index::load(dir.path()).expect("index"));
        load.push(started.elapsed());
        advisories = index.len();
        let analyzer = DepsAnalyzer::new(Some(index));
        for times in [&mut cold, &mut warm] {
            let mut out = FileOutcome::default();
            let started = Instant::now();
            analyzer.analyze(&file, &head, &mut out);
            times.push(started.elapsed());
            found = out.compared.len();
        }
    }
    println!("index: {advisories} advisories in 3 ecosystems");
    report("load", load);
    peak("after loading the index");
    println!("change: {ENTRIES} entries moved, {found} findings");
    report("match (cold: first review on a new index)", cold);
    report("match (warm: the same change again)", warm);
    peak("after matching");
    licences();
    peak("at the end");
}
