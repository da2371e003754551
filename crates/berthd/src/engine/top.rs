//! `docker top`: the host's `ps` (with the caller's arguments), narrowed to the container's
//! processes.

use crate::cgroupctl;
use crate::engine::daemon::Daemon;
use crate::engine::EngineError;

/// `ps`'s titles, and the rows of the container's processes.
pub async fn top(d: &Daemon, id: &str, ps_args: Option<&str>) -> Result<(Vec<String>, Vec<Vec<String>>), EngineError> {
    let c = d.store.get(id)?.snapshot();
    if !c.state.status.is_live() {
        return Err(EngineError::conflict(format!("Container {} is not running", c.id)));
    }
    let args = ps_args.filter(|a| !a.is_empty()).unwrap_or("-ef");
    let pids = cgroupctl::pids(&c.options.cgroups_path);
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|e| EngineError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(EngineError::internal(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next().unwrap_or("").split_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| EngineError::internal(format!("Couldn't find PID field in ps output (ps {args})")))?;
    let processes = lines
        // The last column (the command) may hold spaces: split into titles.len() fields at most.
        .map(|l| split_n(l, titles.len()))
        .filter(|f| f.get(pid_col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)))
        .collect();
    Ok((titles, processes))
}

fn split_n(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() + 1 < n {
        match rest.find(char::is_whitespace) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start();
            }
            None => break,
        }
    }
    out.push(rest.to_string());
    out
}
