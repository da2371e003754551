//! Running client commands with a deadline, so a wedged daemon fails a test with a message (and the
//! drop guard still runs) instead of hanging it until the runner kills the whole process.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Deadline for one client command unless a test asks for another.
pub const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` with stdin closed, collecting stdout and stderr; panics naming the command when it
/// does not finish within `timeout` (after killing it).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    run_fed(cmd.stdin(Stdio::null()), None, timeout)
}

/// [`run_with_timeout`] (60 s) with `input` written to its stdin, then closed.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    run_fed(cmd.stdin(Stdio::piped()), Some(input.to_vec()), DEFAULT_CMD_TIMEOUT)
}

fn run_fed(cmd: &mut Command, input: Option<Vec<u8>>, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
        });
    }
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = t_err.join().unwrap_or_default();
                panic!("command timed out after {timeout:?}: {desc}\nstderr: {}", String::from_utf8_lossy(&stderr));
            }
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    };
    Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
}

/// stdout and stderr of an output, for failure messages.
pub fn output_text(o: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Kills a spawned client process (verified by pid + start time) if it is still running when
/// `timeout` passes, so a test reading a stream (`logs -f`, `wait`) fails instead of hanging.
/// Disarmed when dropped.
pub struct Watchdog {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    pub fn new(child: &std::process::Child, timeout: Duration) -> Watchdog {
        use std::sync::atomic::Ordering;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let who = berth_sys::ProcessIdentity::of(child.id() as i32);
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while t0.elapsed() < timeout {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(id) = who {
                if !flag.load(Ordering::SeqCst) {
                    eprintln!("watchdog: killing client pid {} after {timeout:?}", id.pid);
                    let _ = berth_sys::kill_verified(&id, nix::sys::signal::Signal::SIGKILL as i32);
                }
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
