//! The remote API over mutual TLS, as Docker's: `-H tcp://127.0.0.1:<port>` with `--tlsverify`
//! and the CA, certificate and key, driven by the real docker CLI (flags and a context) and by
//! docker-py; clients without a certificate the CA signed are refused at the handshake while
//! the daemon goes on serving; what is not mutual TLS is refused at start, by name.
//!
//! Every TCP socket here is on 127.0.0.1, on a port the kernel just handed out.

use berth_tests::{run_with_timeout, DaemonOpts, TestDaemon};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA with a server certificate (127.0.0.1, localhost) and a client certificate, made with
/// the openssl CLI as the README tells users to.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("berth-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let ca = |prefix: &str| {
            let (key, cert) = (format!("{prefix}ca-key.pem"), format!("{prefix}ca.pem"));
            let mut a = vec!["req", "-x509", "-days", "2", "-subj", "/CN=berth test CA"];
            a.extend(ec);
            a.extend(["-keyout", &key, "-out", &cert]);
            openssl(&dir, &a);
        };
        let signed = |prefix: &str, name: &str, ext: &str, ca: &str| {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            let (key, csr, cert) =
                (format!("{prefix}{name}-key.pem"), format!("{name}.csr"), format!("{prefix}{name}.pem"));
            let mut a = vec!["req", "-subj", "/CN=berth-test"];
            a.extend(ec);
            a.extend(["-keyout", &key, "-out", &csr]);
            openssl(&dir, &a);
            let (ca_cert, ca_key, extfile) = (format!("{ca}ca.pem"), format!("{ca}ca-key.pem"), format!("{name}.ext"));
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_cert,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &cert,
                    "-extfile",
                    &extfile,
                ],
            );
        };
        ca("");
        signed("", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", "");
        signed("", "client", "extendedKeyUsage=clientAuth\n", "");
        // A client certificate of another CA: as valid as the first, but not ours.
        ca("other-");
        signed("other-", "client", "extendedKeyUsage=clientAuth\n", "other-");
        Pki { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }

    /// berthd's flags for mutual TLS on `port`.
    fn daemon(&self, name: &str, port: u16) -> DaemonOpts {
        let mut o = DaemonOpts::new(name).arg("-H").arg(&format!("tcp://127.0.0.1:{port}")).arg("--tlsverify");
        for (flag, file) in [("--tlscacert", "ca.pem"), ("--tlscert", "server.pem"), ("--tlskey", "server-key.pem")] {
            o = o.arg(flag).arg(&self.path(file));
        }
        o
    }

    /// The docker CLI over TLS, its own flags (no DOCKER_HOST: the unix socket is not used).
    fn docker(&self, d: &TestDaemon, port: u16, args: &[&str]) -> Output {
        let host = format!("tcp://127.0.0.1:{port}");
        let (ca, cert, key) = (self.path("ca.pem"), self.path("client.pem"), self.path("client-key.pem"));
        let mut all = vec!["--tlsverify", "--tlscacert", &ca, "--tlscert", &cert, "--tlskey", &key, "-H", &host];
        all.extend(args);
        let mut c = d.docker_cmd(&all);
        c.env_remove("DOCKER_HOST");
        run_with_timeout(&mut c, Duration::from_secs(60))
    }

    /// docker-py 7.1 over TLS with the client certificate; `body` has `c`, the client.
    fn docker_py(&self, d: &TestDaemon, port: u16, body: &str) -> String {
        let script = format!(
            "import docker, docker.tls\n\
             tls = docker.tls.TLSConfig(client_cert=({cert:?}, {key:?}), ca_cert={ca:?}, verify=True)\n\
             c = docker.DockerClient(base_url='https://127.0.0.1:{port}', tls=tls, timeout=30)\n\
             {body}\nprint('PY-OK')\n",
            cert = self.path("client.pem"),
            key = self.path("client-key.pem"),
            ca = self.path("ca.pem"),
        );
        let out = ok(&python(&script), "docker-py", d);
        assert!(out.lines().any(|l| l == "PY-OK"), "script did not finish: {out}");
        out
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// python3 without the CA bundle of the environment: requests lets REQUESTS_CA_BUNDLE (or
/// CURL_CA_BUNDLE) win over the client's own `verify`, here the test CA.
fn python(script: &str) -> Output {
    let mut c = Command::new(std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into()));
    c.arg("-c").arg(script).env_remove("REQUESTS_CA_BUNDLE").env_remove("CURL_CA_BUNDLE");
    run_with_timeout(&mut c, Duration::from_secs(120))
}

fn ok(o: &Output, what: &str, d: &TestDaemon) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}\n--- daemon log ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        d.log_tail(40)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn docker_cli_and_docker_py_over_mutual_tls() {
    let pki = Pki::new("cli");
    let port = free_port();
    let ro_port = free_port();
    let ro_host = format!("berth+tcp://127.0.0.1:{ro_port}?role=read-only");
    let mut d = TestDaemon::start(pki.daemon("tls-cli", port).arg("-H").arg(&ro_host));
    d.busybox_image();
    let v = ok(&pki.docker(&d, port, &["version", "--format", "{{.Server.Os}}"]), "docker version", &d);
    assert_eq!(v, "linux");
    let hi = ok(&pki.docker(&d, port, &["run", "--rm", "busybox", "echo", "hi"]), "docker run", &d);
    assert_eq!(hi, "hi");
    ok(&pki.docker(&d, port, &["run", "-d", "--name", "tls-ps", "busybox", "sleep", "60"]), "docker run -d", &d);
    let ps = ok(&pki.docker(&d, port, &["ps", "--format", "{{.Names}}"]), "docker ps", &d);
    assert!(ps.lines().any(|l| l == "tls-ps"), "ps over TLS: {ps}");

    // A docker context, as users keep a remote engine.
    let host = format!(
        "host=tcp://127.0.0.1:{port},ca={},cert={},key={}",
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem")
    );
    ok(
        &run_with_timeout(
            &mut d.docker_cmd(&["context", "create", "berth-tls", "--docker", &host]),
            Duration::from_secs(30),
        ),
        "context create",
        &d,
    );
    let mut c = d.docker_cmd(&["--context", "berth-tls", "ps", "--format", "{{.Names}}"]);
    c.env_remove("DOCKER_HOST");
    let ps = ok(&run_with_timeout(&mut c, Duration::from_secs(60)), "docker --context ps", &d);
    assert!(ps.lines().any(|l| l == "tls-ps"), "ps through the context: {ps}");

    // A read-only TCP host: ps works, run is refused by the role.
    let ro = pki.docker(&d, ro_port, &["ps", "--format", "{{.Names}}"]);
    assert!(ok(&ro, "ps on the read-only TCP host", &d).lines().any(|l| l == "tls-ps"));
    let ro = pki.docker(&d, ro_port, &["run", "--rm", "busybox", "true"]);
    assert!(
        !ro.status.success() && String::from_utf8_lossy(&ro.stderr).contains("read-only"),
        "run on a read-only TCP host: {ro:?}"
    );

    let out = pki.docker_py(
        &d,
        port,
        r#"
names = [x.name for x in c.containers.list()]
assert "tls-ps" in names, names
print("listed", len(names))
"#,
    );
    assert!(out.contains("listed 1"), "{out}");
    d.docker_ok(&["rm", "-f", "tls-ps"]);
}

/// A client's attempt, in python's ssl: "REFUSED <reason>" when the handshake or the first read
/// fails, else the status line it got.
const PROBE: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=CA)
if CERT:
    ctx.load_cert_chain(CERT, KEY)
try:
    with socket.create_connection(("127.0.0.1", PORT), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            got = s.recv(100)
            print("GOT", got.split(b"\r\n")[0].decode() if got else "EOF")
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("REFUSED", type(e).__name__, e)
"#;

fn probe(d: &TestDaemon, pki: &Pki, port: u16, cert: Option<&str>) -> String {
    let (c, k) = match cert {
        Some(p) => (
            format!("{:?}", pki.path(&format!("{p}client.pem"))),
            format!("{:?}", pki.path(&format!("{p}client-key.pem"))),
        ),
        None => ("None".into(), "None".into()),
    };
    let script = format!("CA = {:?}\nCERT = {c}\nKEY = {k}\nPORT = {port}\n{PROBE}", pki.path("ca.pem"));
    ok(&python(&script), "probe", d)
}

#[test]
fn clients_without_our_certificate_are_refused_and_others_served() {
    let pki = Pki::new("refuse");
    let port = free_port();
    let d = TestDaemon::start(pki.daemon("tls-refuse", port));
    assert_eq!(probe(&d, &pki, port, Some("")), "GOT HTTP/1.1 200 OK", "our client certificate is served");
    // A client that connects and says nothing must hold up no one (the probe gives up after 3 s,
    // the daemon waits 10 s for a handshake).
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(probe(&d, &pki, port, Some("")), "GOT HTTP/1.1 200 OK", "served beside a silent client");
    let none = probe(&d, &pki, port, None);
    assert!(none.starts_with("REFUSED"), "no client certificate: {none}");
    let other = probe(&d, &pki, port, Some("other-"));
    assert!(other.starts_with("REFUSED"), "another CA's certificate: {other}");
    // Plain HTTP on the TLS port gets no answer either.
    let plain =
        Command::new("curl").args(["-sS", "-m", "10", &format!("http://127.0.0.1:{port}/_ping")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("OK"), "plain HTTP answered over the TLS port");
    assert_eq!(probe(&d, &pki, port, Some("")), "GOT HTTP/1.1 200 OK", "served after the refusals");
    assert!(d.ping(), "the unix socket still answers");
    let log = d.log_text();
    assert!(log.contains("TLS handshake failed"), "a refused handshake is logged; log:\n{log}");
}

/// Starts a daemon that must refuse to run; returns its log.
fn refused(opts: DaemonOpts, port: u16) -> String {
    let mut d = TestDaemon::spawn(opts);
    let st = d.wait_exit(Duration::from_secs(10));
    let log = d.log_text();
    let st = st.unwrap_or_else(|| panic!("daemon kept running; log:\n{log}"));
    assert!(!st.success(), "daemon exited successfully but should have refused; log:\n{log}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing may listen on {port}");
    log
}

#[test]
fn what_is_not_mutual_tls_stops_the_start_by_name() {
    let pki = Pki::new("bad");
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let log = refused(DaemonOpts::new("tls-plain").arg("-H").arg(&host), port);
    assert!(
        log.contains(&host) && log.contains("--tlsverify"),
        "a plain tcp host names itself and --tlsverify; log:\n{log}"
    );

    let log = refused(DaemonOpts::new("tls-alone").arg("-H").arg(&host).arg("--tls"), port);
    assert!(
        log.contains("--tls ") && log.contains("without --tlsverify"),
        "--tls alone is refused by name; log:\n{log}"
    );

    let missing = pki.path("no-such-key.pem");
    let mut o = pki.daemon("tls-nokey", port);
    let at = o.extra_args.iter().position(|a| a == "--tlskey").unwrap();
    o.extra_args[at + 1] = missing.clone();
    let log = refused(o, port);
    assert!(log.contains(&missing) && log.contains("tlskey"), "a missing key names the file and the flag; log:\n{log}");

    // A certificate file that holds none (the key given in its place).
    let mut o = pki.daemon("tls-badcert", port);
    let at = o.extra_args.iter().position(|a| a == "--tlscert").unwrap();
    o.extra_args[at + 1] = pki.path("server-key.pem");
    let log = refused(o, port);
    assert!(
        log.contains(&pki.path("server-key.pem")) && log.contains("tlscert"),
        "a bad certificate file is named; log:\n{log}"
    );

    let log = refused(DaemonOpts::new("tls-nocacert").arg("-H").arg(&host).arg("--tlsverify"), port);
    assert!(log.contains("--tlscacert"), "--tlsverify without its files names them; log:\n{log}");
}

#[test]
fn daemon_json_keys_work_the_same() {
    let pki = Pki::new("json");
    let port = free_port();
    let json = format!(
        r#"{{"hosts": ["unix://{{socket}}", "tcp://127.0.0.1:{port}"], "tls": true, "tlsverify": true, "tlscacert": {:?}, "tlscert": {:?}, "tlskey": {:?}}}"#,
        pki.path("ca.pem"),
        pki.path("server.pem"),
        pki.path("server-key.pem")
    );
    let d = TestDaemon::start(DaemonOpts::new("tls-json").hosts_in_config().config(json));
    let v = ok(&pki.docker(&d, port, &["version", "--format", "{{.Server.Os}}"]), "docker version", &d);
    assert_eq!(v, "linux");
    pki.docker_py(&d, port, "assert c.ping() is True\nassert c.containers.list(all=True) == []");
    assert!(probe(&d, &pki, port, None).starts_with("REFUSED"), "daemon.json's tlsverify verifies clients");

    // The same without tlsverify: refused, naming the keys.
    let port2 = free_port();
    let json = format!(r#"{{"hosts": ["unix://{{socket}}", "tcp://127.0.0.1:{port2}"], "tls": true}}"#);
    let log = refused(DaemonOpts::new("tls-json-alone").hosts_in_config().config(json), port2);
    assert!(log.contains("\"tls\" in daemon.json") && log.contains("--tlsverify"), "log:\n{log}");
}

/// Shutting down serves the TLS requests in flight to their end, as the unix socket's: a request
/// whose headers are still arriving when SIGTERM comes is answered, not cut.
#[test]
fn shutdown_drains_tls_connections() {
    let pki = Pki::new("drain");
    let port = free_port();
    let mut d = TestDaemon::start(pki.daemon("tls-drain", port).live_restore(true));
    let script = format!(
        r#"
import os, signal, socket, ssl, time
ctx = ssl.create_default_context(cafile={ca:?})
ctx.load_cert_chain({cert:?}, {key:?})
with socket.create_connection(("127.0.0.1", {port}), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n")
        time.sleep(0.3)
        os.kill({pid}, signal.SIGTERM)
        # The daemon has no container to settle: it closes its gate at once, and waits.
        time.sleep(0.8)
        s.sendall(b"Connection: close\r\n\r\n")
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ssl.SSLError, ConnectionError, OSError) as e:
            print("CUT", type(e).__name__, e)
        print("GOT", got.split(b"\r\n")[0].decode() if got else "nothing")
"#,
        ca = pki.path("ca.pem"),
        cert = pki.path("client.pem"),
        key = pki.path("client-key.pem"),
        pid = d.pid(),
    );
    let out = ok(&python(&script), "in-flight request", &d);
    assert!(out.contains("GOT HTTP/1.1 200 OK"), "the request in flight was cut: {out}\n{}", d.log_tail(20));
    assert!(d.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", d.log_tail(20));
}
