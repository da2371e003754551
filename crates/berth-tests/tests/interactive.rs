//! Interactive containers (issue 3): `docker run -i` with piped input, `docker run -it` in a real
//! pseudo-terminal (typing, resize, ctrl-p ctrl-q detach, attach again, exit code),
//! `docker start -ai`, and — beyond Docker — attaching again to an interactive container after
//! the daemon was killed and restarted: the monitor held its terminal all along.

use berth_tests::{DaemonOpts, TestDaemon};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// Drives a command in a pseudo-terminal: steps are ["send", text] (with \n, \x10 …),
/// ["expect", regex, seconds], ["resize", rows, cols], and it ends with the command's exit status.
const PTY_DRIVER: &str = r#"
import os, pty, sys, json, time, re, fcntl, termios, struct, select
cmd, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
out = b""
def read_for(secs, pattern=None):
    global out
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
        if pattern and re.search(pattern.encode(), out):
            return True
    return pattern is None
for s in steps:
    if s[0] == "send":
        os.write(fd, s[1].encode())
    elif s[0] == "expect":
        if not read_for(s[2], s[1]):
            print(json.dumps({"error": "timeout waiting for " + s[1], "out": out.decode(errors="replace")}))
            os.kill(pid, 9)
            sys.exit(0)
    elif s[0] == "resize":
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", s[1], s[2], 0, 0))
        os.kill(pid, 28)
    elif s[0] == "sleep":
        time.sleep(s[1])
deadline = time.time() + 20
status = None
while time.time() < deadline:
    read_for(0.1)
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = os.waitstatus_to_exitcode(st)
        break
read_for(0.2)
print(json.dumps({"status": status, "out": out.decode(errors="replace")}))
"#;

fn in_pty(d: &TestDaemon, args: &[&str], steps: serde_json::Value) -> (Option<i64>, String) {
    let mut cmd = vec![berth_tests::docker_bin().display().to_string()];
    cmd.extend(args.iter().map(|s| s.to_string()));
    let out = std::process::Command::new("python3")
        .args(["-c", PTY_DRIVER, &serde_json::to_string(&cmd).unwrap(), &steps.to_string()])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env("DOCKER_CONFIG", d.base.join("docker-config"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("pty driver: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        v.get("error").is_none(),
        "{}\n--- terminal ---\n{}\n--- daemon ---\n{}",
        v["error"],
        v["out"].as_str().unwrap_or(""),
        d.log_tail(20)
    );
    (v["status"].as_i64(), v["out"].as_str().unwrap_or("").to_string())
}

#[test]
fn piped_stdin_reaches_the_container_and_ends() {
    let mut d = TestDaemon::start(DaemonOpts::new("int-pipe"));
    d.busybox_image();
    let mut child = d
        .docker_cmd(&["run", "-i", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\nthere\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nthere\n");
    assert_eq!(out.status.code(), Some(0));
    let mut child = d
        .docker_cmd(&["run", "-i", "--rm", "busybox", "sh", "-c", "read x; exit $x"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"3\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn run_it_types_resizes_detaches_and_attaches_again() {
    let mut d = TestDaemon::start(DaemonOpts::new("int-tty"));
    d.busybox_image();
    let (status, out) = in_pty(
        &d,
        &["run", "-it", "--name", "shell", "busybox", "sh"],
        serde_json::json!([
            ["expect", "# ", 10],
            ["send", "echo $((6*7))\n"],
            ["expect", "42", 5],
            ["resize", 33, 101],
            ["sleep", 0.5],
            ["send", "stty size\n"],
            ["expect", "33 101", 5],
            ["send", "\u{10}\u{11}"],
        ]),
    );
    assert_eq!(status, Some(0), "detached: {out}");
    assert!(d.state("shell").running, "the container runs on after the detach");
    let (status, out) = in_pty(
        &d,
        &["attach", "shell"],
        serde_json::json!([
            ["sleep", 0.5],
            ["send", "echo again-$((2+3))\n"],
            ["expect", "again-5", 5],
            ["send", "exit 5\n"]
        ]),
    );
    assert_eq!(status, Some(5), "{out}");
    assert_eq!(d.state("shell").exit_code, 5);
    d.docker_ok(&["rm", "shell"]);
}

#[test]
fn start_ai_and_attach_after_a_daemon_crash() {
    let mut d = TestDaemon::start(DaemonOpts::new("int-restore").live_restore(true));
    d.busybox_image();
    d.docker_ok(&["create", "-it", "--name", "later", "busybox", "sh"]);
    let (status, out) = in_pty(
        &d,
        &["start", "-ai", "later"],
        serde_json::json!([
            ["expect", "# ", 10],
            ["send", "echo started-$((1+1))\n"],
            ["expect", "started-2", 5],
            ["send", "exit 0\n"]
        ]),
    );
    assert_eq!(status, Some(0), "{out}");
    d.docker_ok(&["run", "-dit", "--name", "keep", "busybox", "sh"]);
    let pid = d.container_pid("keep");
    d.kill9();
    d.wait_exit(Duration::from_secs(5));
    d.restart();
    assert_eq!(d.container_pid("keep"), pid);
    let (status, out) = in_pty(
        &d,
        &["attach", "keep"],
        serde_json::json!([
            ["sleep", 0.5],
            ["send", "echo restored-$((1+1))\n"],
            ["expect", "restored-2", 5],
            ["send", "\u{10}\u{11}"]
        ]),
    );
    // The CLI itself reads the detach keys; `docker attach` then ends with status 1, as with dockerd.
    assert!(out.contains("read escape sequence") && status.is_some(), "{out}");
    assert!(d.state("keep").running);
    d.docker_ok(&["rm", "-f", "keep", "later"]);
}

#[test]
fn exec_with_stdin_and_with_a_terminal() {
    let mut d = TestDaemon::start(DaemonOpts::new("int-exec"));
    d.busybox_image();
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let mut child =
        d.docker_cmd(&["exec", "-i", "box", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"x\ny\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\ny\n");
    assert_eq!(out.status.code(), Some(0));
    let (status, out) = in_pty(
        &d,
        &["exec", "-it", "box", "sh"],
        serde_json::json!([
            ["expect", "# ", 10],
            ["send", "echo $((3*4))\n"],
            ["expect", "12", 5],
            ["resize", 21, 77],
            ["sleep", 0.5],
            ["send", "stty size; tty\n"],
            ["expect", "21 77", 5],
            ["expect", "/dev/pts/", 5],
            ["send", "exit 6\n"],
        ]),
    );
    assert_eq!(status, Some(6), "{out}");
    assert!(d.state("box").running, "the container is not touched by the exec's end");
    let py = d.docker_py(
        "r = c.containers.get('box').exec_run('sh -c \"tty; echo $((2*21))\"', tty=True)\nprint(r.exit_code, r.output.decode().split())",
    );
    assert!(py.contains("0 ['/dev/pts/") && py.contains("'42']"), "{py}");
    d.docker_ok(&["rm", "-f", "box"]);
}

/// `ConsoleSize` of a terminal container and of a terminal exec is the size the process sees
/// from its first instruction (the monitor sets it on the pty before the process runs).
#[test]
fn console_size_is_the_terminals_from_the_start() {
    let mut d = TestDaemon::start(DaemonOpts::new("console-size"));
    d.busybox_image();
    let body = r#"{"Image": "busybox", "Cmd": ["stty", "size"], "Tty": true, "HostConfig": {"ConsoleSize": [31, 97]}}"#;
    let r = d.api_post("/containers/create?name=cs", body);
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker_ok(&["start", "cs"]);
    d.docker_ok(&["wait", "cs"]);
    assert_eq!(d.docker_ok(&["logs", "cs"]).trim(), "31 97");

    d.docker_ok(&["run", "-d", "--name", "cs2", "busybox", "sleep", "1000"]);
    let r = d.api_post(
        "/containers/cs2/exec",
        r#"{"Cmd": ["stty", "size"], "Tty": true, "AttachStdout": true, "ConsoleSize": [23, 77]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = serde_json::from_str::<serde_json::Value>(&r.text()).unwrap()["Id"].as_str().unwrap().to_string();
    // The start hijacks the connection, as the CLI's does.
    let script = format!(
        r#"
import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["BERTH_SOCK"])
body = b'{{"Detach": false, "Tty": true}}'
s.sendall(b"POST /exec/{id}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
          b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
s.settimeout(10)
data = b""
while True:
    c = s.recv(4096)
    if not c: break
    data += c
print(data.decode(errors="replace"))
"#
    );
    let out = d.python_ok(&script);
    assert!(out.contains("23 77"), "{out:?}");
}
