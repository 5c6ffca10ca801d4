//! Readings from /proc: a process's memory and CPU time (alone or with its descendants, for a
//! server made of several processes such as Pushpin), each core's busy time, sockets.

use serde::Serialize;

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time a process used (user + system), in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The parent of a process.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A process and all its descendants (`root` first); empty when `root` is gone.
pub fn process_tree(root: u32) -> Vec<u32> {
    if !std::path::Path::new(&format!("/proc/{root}")).exists() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![root];
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent(pid)?)))
        .collect();
    let mut tree = vec![root];
    let mut at = 0;
    while at < tree.len() {
        let pid = tree[at];
        tree.extend(
            parents
                .iter()
                .filter(|(_, parent)| *parent == pid)
                .map(|(child, _)| *child),
        );
        at += 1;
    }
    tree
}

/// Resident memory of a process and its descendants, in KiB.
pub fn tree_rss_kib(root: u32) -> Option<u64> {
    let tree = process_tree(root);
    (!tree.is_empty()).then(|| tree.into_iter().filter_map(rss_kib).sum())
}

/// CPU time of a process and its descendants, in clock ticks.
pub fn tree_cpu_ticks(root: u32) -> Option<u64> {
    let tree = process_tree(root);
    (!tree.is_empty()).then(|| tree.into_iter().filter_map(cpu_ticks).sum())
}

/// (busy, total) ticks of every core, in core order.
pub fn core_ticks() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            let total: u64 = v.iter().take(8).sum();
            (total - idle, total)
        })
        .collect()
}

/// Busy share of each core between two readings of [`core_ticks`].
pub fn core_busy(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|((b0, t0), (b1, t1))| {
            if t1 > t0 {
                (b1 - b0) as f64 / (t1 - t0) as f64
            } else {
                0.0
            }
        })
        .collect()
}

/// The kernel's socket summary (`/proc/net/sockstat`): TCP sockets in use and pages of memory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sockstat {
    pub tcp_inuse: u64,
    pub tcp_mem_pages: u64,
}

pub fn sockstat() -> Sockstat {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let tcp = text.lines().find(|l| l.starts_with("TCP:")).unwrap_or("");
    let field = |name: &str| {
        let mut words = tcp.split_whitespace();
        while let Some(w) = words.next() {
            if w == name {
                return words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        0
    };
    Sockstat {
        tcp_inuse: field("inuse"),
        tcp_mem_pages: field("mem"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_ticks(pid).is_some());
        assert!(!core_ticks().is_empty());
    }

    #[test]
    fn finds_child_processes() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?}");
        assert!(process_tree(u32::MAX).is_empty());
    }
}
