//! What every benchmark prints about the machine it ran on.

use std::fs;

/// CPUs, CPU model, memory and load, from `/proc` (Linux).
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "?".to_owned())
    };
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = field(&meminfo, "MemTotal")
        .trim_end_matches(" kB")
        .parse::<f64>()
        .map_or("?".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    format!(
        "{cpus} CPUs, {} at {} MHz, {memory} RAM, load average {} before the run",
        field(&cpuinfo, "model name"),
        field(&cpuinfo, "cpu MHz"),
        load_average()
    )
}

/// The 1, 5 and 15-minute load averages: anything else running skews the numbers.
pub fn load_average() -> String {
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
