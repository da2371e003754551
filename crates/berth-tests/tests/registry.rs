//! Registries (issue 7), against Debian's docker-registry on 127.0.0.1 with its own storage:
//! - push a multi-layer image, remove it, pull it back and run it (same id), by tag and by
//!   digest (RepoDigests recorded as dockerd does); `docker run` of a missing image pulls it;
//!   docker-py;
//! - login/logout against htpasswd auth, and against bearer tokens from a token server;
//! - a corrupted blob is refused with the layer named and nothing stored; a connection dropped
//!   mid-layer fails the pull with nothing stored and the next pull completes; a stalling
//!   registry times out;
//! - an index of two platforms gives this host's, and `--platform` the other; an OCI manifest
//!   with a plain, a gzip and a zstd layer is pulled and its whiteouts applied.

use berth_tests::archive::{config, digest, docker_archive, docker_archive_with, layers};
use berth_tests::registry::{Auth, Registry};
use berth_tests::{DaemonOpts, TestDaemon};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn load(d: &TestDaemon, archive: Vec<u8>) {
    let f = d.base.join(format!("load-{}.tar", rand_suffix()));
    std::fs::write(&f, archive).unwrap();
    d.docker_ok(&["load", "-i", f.to_str().unwrap()]);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn layer_dirs(d: &TestDaemon) -> usize {
    std::fs::read_dir(d.data_root.join("storage/layers"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().len() == 64)
        .count()
}

/// After a failed pull: no image, no new layer, no download in progress.
fn assert_failed_pull_left_nothing(d: &TestDaemon, layers_before: usize) {
    assert_eq!(d.docker_ok(&["images", "-q"]), "", "no image");
    assert_eq!(layer_dirs(d), layers_before, "no layer stored");
    let tmp: Vec<_> = std::fs::read_dir(d.data_root.join("image"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "no download left behind");
}

#[test]
fn push_pull_run_and_docker_py() {
    let reg = Registry::start("push", None);
    let d = TestDaemon::start(
        DaemonOpts::new("reg-push").config(r#"{"max-concurrent-downloads": 2, "max-concurrent-uploads": 2}"#),
    );
    load(&d, docker_archive("multi:1", &layers()));
    let name = format!("{}/team/multi:1", reg.addr);
    d.docker_ok(&["tag", "multi:1", &name]);
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &name]);
    let out = d.docker_ok(&["push", &name]);
    assert!(out.contains("1: digest: sha256:") && out.contains("Pushed"), "{out}");
    let again = d.docker_ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    d.docker_ok(&["rmi", &name, "multi:1"]);
    assert_eq!(d.docker_ok(&["images", "-q"]), "");
    let out = d.docker_ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image for") && out.contains("Digest: sha256:"), "{out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &name]), id, "the same image id");
    assert_eq!(d.docker_ok(&["run", "--rm", &name, "head", "/data/a"]), "first");
    let out = d.docker_ok(&["pull", &name]);
    assert!(out.contains("Image is up to date"), "{out}");
    // `docker run` of an image that is not there: the CLI pulls it on the daemon's 404.
    d.docker_ok(&["rmi", &name]);
    let o = d.docker(&["run", "--rm", &name, "head", "/data/a"]);
    assert!(o.status.success(), "{}", berth_tests::output_text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Unable to find image"), "{}", berth_tests::output_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "first");
    // docker-py: pull by repository and tag, push under a new tag.
    d.docker_ok(&["rmi", &name]);
    let py = d.docker_py(&format!(
        r#"img = c.images.pull("{addr}/team/multi", tag="1")
print(img.id)
img.tag("{addr}/team/multi", tag="py")
for line in c.images.push("{addr}/team/multi", tag="py", stream=True, decode=True):
    if "error" in line: raise SystemExit(line["error"])
print("pushed")"#,
        addr = reg.addr
    ));
    assert!(py.starts_with(&format!("{id}\npushed")), "{py}");
    let (_, err) = d.docker_err(&["pull", &format!("{}/team/nosuch:1", reg.addr)]);
    assert!(err.contains("not found") || err.contains("manifest unknown"), "{err}");
    let (_, err) = d.docker_err(&["search", "busybox"]);
    assert!(err.contains("not supported"), "{err}");
    let (_, err) = d.docker_err(&["push", &format!("{}/team/absent:1", reg.addr)]);
    assert!(err.contains("An image does not exist locally"), "{err}");
}

#[test]
fn pull_by_digest_and_repo_digests() {
    let reg = Registry::start("digest", None);
    // A proxy in the daemon's environment that nothing answers: as with dockerd, loopback
    // registries are reached directly all the same.
    let dead = "http://127.0.0.1:9";
    let d = TestDaemon::start(DaemonOpts::new("reg-digest").env("HTTP_PROXY", dead).env("HTTPS_PROXY", dead));
    load(&d, docker_archive("multi:1", &layers()));
    let repo = format!("{}/team/multi", reg.addr);
    let name = format!("{repo}:1");
    d.docker_ok(&["tag", "multi:1", &name]);
    let out = d.docker_ok(&["push", &name]);
    let digest = out
        .split("digest: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("push prints the digest")
        .to_string();
    let by_digest = format!("{repo}@{digest}");
    let digests = |r: &str| d.docker_ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", r]);
    assert_eq!(digests(&name), format!("[\"{by_digest}\"]"), "a push records the digest");
    // Untagging the repository's last tag takes its digest along; the other tag keeps the image.
    let out = d.docker_ok(&["rmi", &name]);
    assert!(out.contains(&format!("Untagged: {by_digest}")), "{out}");
    assert_eq!(digests("multi:1"), "[]");
    d.docker_ok(&["rmi", "multi:1"]);
    assert_eq!(d.docker_ok(&["images", "-q"]), "");

    let out = d.docker_ok(&["pull", &by_digest]);
    assert!(out.contains(&format!("Downloaded newer image for {by_digest}")), "{out}");
    let row = d.docker_ok(&["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"]);
    assert_eq!(row, format!("{repo} <none> {digest}"));
    assert_eq!(digests(&by_digest), format!("[\"{by_digest}\"]"));
    assert_eq!(d.docker_ok(&["run", "--rm", &by_digest, "head", "/data/a"]), "first");
    let out = d.docker_ok(&["pull", &by_digest]);
    assert!(out.contains("Image is up to date"), "{out}");
    let out = d.docker_ok(&["rmi", &by_digest]);
    assert!(out.contains(&format!("Untagged: {by_digest}")) && out.contains("Deleted: sha256:"), "{out}");

    // A missing image named by digest is pulled by `docker run`; a tag pull records the digest too.
    let o = d.docker(&["run", "--rm", &by_digest, "head", "/data/a"]);
    assert!(o.status.success(), "{}", berth_tests::output_text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "first");
    d.docker_ok(&["pull", &name]);
    let both = digests(&name);
    assert_eq!(both, format!("[\"{by_digest}\"]"), "one digest for the repository, tag or not");
    let (code, err) = d.docker_err(&["pull", &format!("{repo}@sha256:{}", "0".repeat(64))]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not found") || err.contains("manifest unknown"), "{err}");
    let (_, err) = d.docker_err(&["tag", &name, &by_digest]);
    assert!(err.contains("digest"), "{err}");
    let (code, err) = d.docker_err(&["image", "inspect", &format!("{repo}@sha256:{}", "1".repeat(64))]);
    assert_eq!(code, Some(1));
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn login_logout_against_htpasswd() {
    let reg = Registry::start("auth", Some(("alice", "s3cret")));
    let mut d = TestDaemon::start(DaemonOpts::new("reg-auth"));
    d.busybox_image();
    let name = format!("{}/alice/bb:1", reg.addr);
    d.docker_ok(&["tag", "busybox", &name]);
    let (_, err) = d.docker_err(&["push", &name]);
    assert!(err.to_lowercase().contains("unauthorized") || err.contains("authentication required"), "{err}");
    let (_, err) = d.docker_err(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
    let out = d.docker_ok(&["login", "-u", "alice", "-p", "s3cret", &reg.addr]);
    assert!(out.contains("Login Succeeded"), "{out}");
    d.docker_ok(&["push", &name]);
    d.docker_ok(&["rmi", &name]);
    d.docker_ok(&["pull", &name]);
    d.docker_ok(&["logout", &reg.addr]);
    d.docker_ok(&["rmi", &name]);
    let (_, err) = d.docker_err(&["pull", &name]);
    assert!(err.to_lowercase().contains("unauthorized") || err.contains("authentication required"), "{err}");
}

#[test]
fn bearer_token_auth_through_a_token_server() {
    let reg = Registry::start_with("token", Auth::Token("bob", "t0ken-pw"));
    let mut d = TestDaemon::start(DaemonOpts::new("reg-token"));
    d.busybox_image();
    let name = format!("{}/bob/bb:1", reg.addr);
    d.docker_ok(&["tag", "busybox", &name]);
    // Anonymous tokens grant nothing: refused, without the CLI prompting.
    let (code, err) = d.docker_err(&["push", &name]);
    assert_eq!(code, Some(1));
    assert!(err.to_lowercase().contains("unauthorized") || err.contains("authentication required"), "{err}");
    let (_, err) = d.docker_err(&["login", "-u", "bob", "-p", "wrong", &reg.addr]);
    assert!(err.to_lowercase().contains("unauthorized") || err.contains("incorrect"), "{err}");
    let out = d.docker_ok(&["login", "-u", "bob", "-p", "t0ken-pw", &reg.addr]);
    assert!(out.contains("Login Succeeded"), "{out}");
    d.docker_ok(&["push", &name]);
    d.docker_ok(&["rmi", &name]);
    d.docker_ok(&["pull", &name]);
    assert_eq!(d.docker_ok(&["run", "--rm", &name, "echo", "via-token"]), "via-token");
    let asked = reg.token_requests();
    assert!(
        asked.iter().any(|r| r["auth"] == true && r["scope"].to_string().contains("repository:bob/bb:pull,push")),
        "the push asked for a push token with credentials: {asked:?}"
    );
    assert!(
        asked.iter().any(|r| r["auth"] == true && r["scope"].to_string().contains("repository:bob/bb:pull")),
        "{asked:?}"
    );
    d.docker_ok(&["logout", &reg.addr]);
    d.docker_ok(&["rmi", &name]);
    let (code, err) = d.docker_err(&["pull", &name]);
    assert_eq!(code, Some(1));
    assert!(err.contains("pull access denied"), "{err}");
}

#[test]
fn a_corrupted_blob_is_refused_and_nothing_is_stored() {
    let reg = Registry::start("corrupt", None);
    let d = TestDaemon::start(DaemonOpts::new("reg-corrupt"));
    load(&d, docker_archive("multi:1", &layers()));
    let name = format!("{}/team/multi:1", reg.addr);
    d.docker_ok(&["tag", "multi:1", &name]);
    d.docker_ok(&["push", &name]);
    d.docker_ok(&["rmi", &name, "multi:1"]);
    let before = layer_dirs(&d);
    // The largest blob is the busybox layer: flip bytes in the middle of it.
    let big = reg.blob_files().into_iter().max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).unwrap();
    let mut data = std::fs::read(&big).unwrap();
    let mid = data.len() / 2;
    data[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0xff);
    std::fs::write(&big, data).unwrap();
    let digest_hex = big.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
    let (code, err) = d.docker_err(&["pull", &name]);
    assert_eq!(code, Some(1));
    assert!(err.contains("verification failed") && err.contains(&digest_hex), "names the layer: {err}");
    assert_failed_pull_left_nothing(&d, before);
}

/// A loopback proxy to `upstream` that, while `cut` is set, drops each connection once it has
/// passed 200 kB towards the client (in the middle of the first big layer).
fn cutting_proxy(upstream: String, cut: std::sync::Arc<std::sync::atomic::AtomicBool>) -> String {
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut s_out);
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let cut = cut.clone();
            std::thread::spawn(move || {
                let (mut s_in, mut c_out) = (server, client);
                let (mut buf, mut passed) = ([0u8; 16384], 0usize);
                loop {
                    let n = match s_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    passed += n;
                    if cut.load(Ordering::SeqCst) && passed > 200_000 {
                        break;
                    }
                }
                let _ = c_out.shutdown(std::net::Shutdown::Both);
                let _ = s_in.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[test]
fn a_dropped_connection_fails_the_pull_cleanly_and_the_next_pull_completes() {
    let reg = Registry::start("drop", None);
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let proxy = cutting_proxy(reg.addr.clone(), cut.clone());
    let d = TestDaemon::start(DaemonOpts::new("reg-drop"));
    load(&d, docker_archive("multi:1", &layers()));
    let direct = format!("{}/team/multi:1", reg.addr);
    d.docker_ok(&["tag", "multi:1", &direct]);
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &direct]);
    d.docker_ok(&["push", &direct]);
    d.docker_ok(&["rmi", &direct, "multi:1"]);
    let before = layer_dirs(&d);

    let via = format!("{proxy}/team/multi:1");
    let (code, err) = d.docker_err(&["pull", &via]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("downloading layer sha256:"), "names the layer: {err}");
    assert_failed_pull_left_nothing(&d, before);

    cut.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = d.docker_ok(&["pull", &via]);
    assert!(out.contains("Downloaded newer image for"), "{out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &via]), id);
    assert_eq!(d.docker_ok(&["run", "--rm", &via, "head", "/data/a"]), "first");
}

#[test]
fn a_stalling_registry_times_out() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let d = TestDaemon::start(DaemonOpts::new("reg-stall").env("BERTH_REGISTRY_TIMEOUT_SECS", "2"));
    let t0 = Instant::now();
    let (code, err) = d.docker_err(&["pull", &format!("{addr}/x/y:1")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(20), "no hang: {:?}: {err}", t0.elapsed());
    assert!(err.to_lowercase().contains("timed out") || err.to_lowercase().contains("timeout"), "{err}");
}

/// GET or PUT on the registry with HTTP/1.0; (status, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = http_full(addr, method, path, headers, body);
    (status, body)
}

/// The same with the response's header block.
fn http_full(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, out[split + 4..].to_vec())
}

/// A blob into `repo` by the distribution API's two-step upload; its digest.
fn upload_blob(addr: &str, repo: &str, data: &[u8]) -> String {
    let (st, head, _) = http_full(addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
    assert_eq!(st, 202, "{head}");
    let location = head.lines().find_map(|l| l.strip_prefix("Location: ")).expect("an upload location").trim();
    let path = location.strip_prefix(&format!("http://{addr}")).unwrap_or(location);
    let dg = digest(data);
    let sep = if path.contains('?') { '&' } else { '?' };
    let (st, head, _) = http_full(
        addr,
        "PUT",
        &format!("{path}{sep}digest={dg}"),
        &[("Content-Type", "application/octet-stream")],
        data,
    );
    assert_eq!(st, 201, "{head}");
    dg
}

#[test]
fn an_oci_manifest_with_plain_gzip_and_zstd_layers_is_pulled() {
    let reg = Registry::start("media", None);
    let d = TestDaemon::start(DaemonOpts::new("reg-media"));
    let ls = layers();
    let diff_ids: Vec<String> = ls.iter().map(|l| digest(l)).collect();
    let cfg = config(&diff_ids, std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64").as_str());
    let blobs = [
        ("application/vnd.oci.image.layer.v1.tar", ls[0].clone()),
        ("application/vnd.oci.image.layer.v1.tar+gzip", berth_tests::archive::gzip(&ls[1])),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            ruzstd::encoding::compress_to_vec(&ls[2][..], ruzstd::encoding::CompressionLevel::Fastest),
        ),
    ];
    let descs: Vec<_> = blobs
        .iter()
        .map(|(mt, b)| serde_json::json!({"mediaType": mt, "digest": upload_blob(&reg.addr, "team/media", b), "size": b.len()}))
        .collect();
    let cfg_digest = upload_blob(&reg.addr, "team/media", &cfg);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    let (st, body) = http(
        &reg.addr,
        "PUT",
        "/v2/team/media/manifests/v1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &manifest,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let name = format!("{}/team/media:v1", reg.addr);
    let out = d.docker_ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &name]), cfg_digest, "the id is the config's digest");
    // The whiteouts of the zstd layer applied over the gzip one.
    assert_eq!(
        d.docker_ok(&["run", "--rm", &name, "sh", "-c", "cat /data/a /etc/extra.d/new; ls /data; ls /etc/extra.d"]),
        "first\nnew\na\nnew"
    );
}

#[test]
fn an_index_of_two_platforms_gives_this_hosts_and_platform_picks_the_other() {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    let reg = Registry::start("index", None);
    let d = TestDaemon::start(DaemonOpts::new("reg-index"));
    let ls = layers();
    let ids: Vec<String> = ls.iter().map(|l| digest(l)).collect();
    load(&d, docker_archive("multi:amd", &ls));
    load(&d, docker_archive_with("multi:arm", &config(&ids, "arm64"), &ls));
    let mut descs = Vec::new();
    for (tag, arch) in [("amd", "amd64"), ("arm", "arm64")] {
        let name = format!("{}/team/multi:{tag}", reg.addr);
        d.docker_ok(&["tag", &format!("multi:{tag}"), &name]);
        d.docker_ok(&["push", &name]);
        let (st, m) = http(
            &reg.addr,
            "GET",
            &format!("/v2/team/multi/manifests/{tag}"),
            &[("Accept", "application/vnd.docker.distribution.manifest.v2+json")],
            b"",
        );
        assert_eq!(st, 200);
        descs.push(serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest(&m), "size": m.len(), "platform": {"architecture": arch, "os": "linux"}}));
    }
    descs.reverse(); // arm64 first: the pick must not be "the first one"
    let index = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}),
    )
    .unwrap();
    let (st, body) = http(
        &reg.addr,
        "PUT",
        "/v2/team/multi/manifests/both",
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        &index,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let both = format!("{}/team/multi:both", reg.addr);
    d.docker_ok(&["pull", &both]);
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Architecture}}", &both]), "amd64");
    d.docker_ok(&["rmi", &both]);
    d.docker_ok(&["pull", "--platform", "linux/arm64", &both]);
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Architecture}}", &both]), "arm64");
}

/// `berth pull`/`berth push`: credentials from flags, plain status lines when piped, a bar per
/// layer on a terminal.
#[test]
fn berth_cli_pull_and_push_with_progress() {
    let reg = Registry::start("berthcli", Some(("bob", "pw")));
    let mut d = TestDaemon::start(DaemonOpts::new("reg-berthcli"));
    d.busybox_image();
    let name = format!("{}/bob/bb:1", reg.addr);
    d.docker_ok(&["tag", "busybox", &name]);
    let out = d.berth_ok(&["push", "-u", "bob", "--password", "pw", &name]);
    assert!(out.contains(": Pushed") && out.contains("1: digest: sha256:"), "{out}");
    d.docker_ok(&["rmi", &name, "busybox"]);
    let o = d.berth(&["pull", &name]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pull access denied"), "{}", berth_tests::output_text(&o));
    let out = d.berth_ok(&["pull", "-u", "bob", "--password", "pw", &name]);
    assert!(out.contains(": Pull complete") && out.contains("Downloaded newer image"), "{out}");
    d.docker_ok(&["rmi", &name]);
    // On a terminal: bars with byte counts.
    let script = format!(
        "import pty, sys, os\nout = b''\ndef rd(fd):\n    global out\n    b = os.read(fd, 4096)\n    out += b\n    return b\nst = pty.spawn({:?}, rd)\nsys.stdout.write(out.decode(errors='replace'))\n",
        [berth_tests::berth_bin().display().to_string(), "pull".into(), "-u".into(), "bob".into(), "--password".into(), "pw".into(), name.clone()]
    );
    let o = d.python(&script);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("MiB") && shown.contains("Pull complete"), "{shown}");
    assert_eq!(d.docker_ok(&["run", "--rm", &name, "echo", "ok"]), "ok");
}

/// `registry-mirrors`: a Docker Hub name is asked of the mirror first (no internet here: the
/// mirror is the only way the pull can work).
#[test]
fn docker_hub_names_are_pulled_through_a_mirror() {
    let reg = Registry::start("mirror", None);
    let mut d = TestDaemon::start(
        DaemonOpts::new("reg-mirror").config(format!(r#"{{"registry-mirrors": ["http://{}"]}}"#, reg.addr)),
    );
    d.busybox_image();
    let on_mirror = format!("{}/library/mirrored:1", reg.addr);
    d.docker_ok(&["tag", "busybox", &on_mirror]);
    d.docker_ok(&["push", &on_mirror]);
    d.docker_ok(&["rmi", &on_mirror, "busybox"]);
    let out = d.docker_ok(&["pull", "mirrored:1"]);
    assert!(out.contains("Downloaded newer image for mirrored:1"), "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "mirrored:1", "echo", "ok"]), "ok");
}
