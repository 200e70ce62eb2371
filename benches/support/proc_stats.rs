//! Readings from /proc: a process's resident memory (now and peak) and its CPU time, and the CPU
//! time of this process's threads with a given name.

use anyhow::Context;
use std::path::Path;
use std::sync::OnceLock;

/// Kernel clock ticks a second, the unit of CPU times in /proc (`getconf CLK_TCK`; 100 if unknown).
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resident set size now and its peak (VmRSS, VmHWM), and what the resident memory is now
/// (RssAnon: heap and stacks; RssFile: the binary and libraries; RssShmem: SQLite's WAL index),
/// in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    pub shmem_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        shmem_kib: field("RssShmem:"),
    })
}

/// User plus system CPU seconds used by a whole process (all its threads, living or ended).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    cpu_seconds(Path::new(&format!("/proc/{pid}/stat")))
}

/// CPU seconds used by this process's live threads named `name`.
pub fn threads_cpu_seconds(name: &str) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?.path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            total += cpu_seconds(&task.join("stat"))?;
        }
    }
    Ok(total)
}

/// utime + stime from a `stat` file. The command name (field 2) may hold spaces, so fields are
/// counted from the closing parenthesis.
fn cpu_seconds(stat: &Path) -> anyhow::Result<f64> {
    let text =
        std::fs::read_to_string(stat).with_context(|| format!("cannot read {}", stat.display()))?;
    let after_name = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("stat has no command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("stat is too short")?.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / ticks_per_second())
}
