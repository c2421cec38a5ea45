//! CPU time of a process and of its threads by name, from /proc (clock ticks → seconds).

use std::collections::BTreeMap;

fn ticks_per_sec() -> f64 {
    // getconf CLK_TCK is 100 on every Linux this runs on.
    100.0
}

fn stat_times(path: &str) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // Fields after the name start at field 3 (state); utime is field 14, stime 15.
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / ticks_per_sec()))
}

/// CPU seconds used so far by each thread name of `pid` (summed over threads of that name),
/// and the process total under "total".
pub(crate) fn snapshot(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some((_, t)) = stat_times(&format!("/proc/{pid}/stat")) {
        out.insert("total".to_string(), t);
    }
    // I/O counters of the process: bytes sent to the block layer and write-type syscalls.
    for line in std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
    {
        if let Some((k, v)) = line.split_once(':') {
            if let Ok(v) = v.trim().parse::<f64>() {
                out.insert(format!("io:{k}"), v);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in dir.flatten() {
            let p = format!("{}/stat", e.path().display());
            if let Some((comm, t)) = stat_times(&p) {
                *out.entry(comm).or_insert(0.0) += t;
            }
        }
    }
    out
}

/// `after - before` per name (threads that ended in between are lost from the per-name figures
/// but still counted in "total").
pub(crate) fn delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(k, v)| *v > 0.0 && !k.starts_with("io:"))
        .collect()
}
