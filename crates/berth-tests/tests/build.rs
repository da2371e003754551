//! `docker build` through the real docker CLI, with the classic builder both as asked for
//! (`DOCKER_BUILDKIT=0`) and as the CLI picks it by default from `/_ping`'s `Builder-Version: 1`:
//! every instruction, multi-stage builds, the cache across a kill -9, a failing step, and a
//! hostile context.

use berth_tests::{DaemonOpts, TestDaemon};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

fn context(d: &TestDaemon, name: &str) -> PathBuf {
    let dir = d.base.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `docker build` of `dir`; `buildkit` None leaves the CLI to choose.
fn build(d: &TestDaemon, dir: &Path, buildkit: Option<&str>, extra: &[&str]) -> Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let dirs = dir.display().to_string();
    args.push(&dirs);
    let mut cmd = d.docker_cmd(&args);
    match buildkit {
        Some(v) => cmd.env("DOCKER_BUILDKIT", v),
        None => cmd.env_remove("DOCKER_BUILDKIT"),
    };
    berth_tests::run_with_timeout(&mut cmd, std::time::Duration::from_secs(120))
}

fn build_ok(d: &TestDaemon, dir: &Path, buildkit: Option<&str>, extra: &[&str]) -> String {
    let o = build(d, dir, buildkit, extra);
    let text = berth_tests::output_text(&o);
    assert!(o.status.success(), "docker build failed\n{text}\n--- daemon log ---\n{}", d.log_tail(40));
    text
}

const EVERYTHING: &str = r#"# escape=\
ARG BASE=busybox
FROM ${BASE} AS files
RUN mkdir -p /out && echo staged > /out/staged.txt

FROM $BASE
ARG WHO=world
ARG UNSET
LABEL org.example.who="$WHO" \
      org.example.multi="a b"
ENV GREETING="hello $WHO" PLAIN=plain
ENV LEGACY legacy form value
RUN echo "run: $GREETING ${UNSET:-dflt} ${WHO:+alt}" > /run.txt
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]
COPY a.txt /copied/
COPY dir/ /dircopy/
COPY *.glob /globs/
COPY --chown=nobody:nobody --chmod=0600 a.txt /owned.txt
ADD archive.tar /unpacked/
COPY --from=files /out/staged.txt /from-stage.txt
WORKDIR /made/here
WORKDIR sub
RUN pwd > /pwd.txt
USER nobody
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /tmp/onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /run.txt"]
"#;

fn everything_context(d: &TestDaemon, name: &str) -> PathBuf {
    let dir = context(d, name);
    write(&dir, "Dockerfile", EVERYTHING);
    write(&dir, "a.txt", "A\n");
    write(&dir, "dir/one.txt", "1\n");
    write(&dir, "dir/sub/two.txt", "2\n");
    write(&dir, "x.glob", "x\n");
    write(&dir, "y.glob", "y\n");
    write(&dir, "not-a-glob.txt", "no\n");
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    tb.append_data(&mut h, "inner/file.txt", &b"in tar\n"[..]).unwrap();
    fs::write(dir.join("archive.tar"), tb.into_inner().unwrap()).unwrap();
    dir
}

fn check_everything(d: &TestDaemon, tag: &str) {
    let img = d.inspect(tag);
    let cfg = &img["Config"];
    assert_eq!(cfg["Labels"]["org.example.who"], "world", "{cfg}");
    assert_eq!(cfg["Labels"]["org.example.multi"], "a b");
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    assert!(env.contains(&"GREETING=hello world".to_string()), "{env:?}");
    assert!(env.contains(&"LEGACY=legacy form value".to_string()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("WHO=")), "build args stay out of the image: {env:?}");
    assert_eq!(cfg["WorkingDir"], "/made/here/sub");
    assert_eq!(cfg["User"], "nobody");
    assert!(cfg["ExposedPorts"]["8080/tcp"].is_object() && cfg["ExposedPorts"]["53/udp"].is_object(), "{cfg}");
    assert!(cfg["Volumes"]["/data"].is_object());
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert_eq!(cfg["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(cfg["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 4);
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(cfg["OnBuild"], serde_json::json!(["RUN echo triggered > /tmp/onbuild.txt"]));
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["cat /run.txt"]));
    // The files, as a container of the image sees them.
    let run = |cmd: &str| d.docker_ok(&["run", "--rm", "--user", "0", "--entrypoint", "/bin/sh", tag, "-c", cmd]);
    assert_eq!(run("cat /run.txt"), "run: hello world dflt alt");
    assert_eq!(run("cat /exec.txt"), "exec-form");
    assert_eq!(run("cat /copied/a.txt"), "A");
    assert_eq!(run("cat /dircopy/one.txt /dircopy/sub/two.txt"), "1\n2");
    assert_eq!(run("ls /globs"), "x.glob\ny.glob");
    assert_eq!(run("stat -c '%u:%g %a' /owned.txt"), "65534:65534 600");
    assert_eq!(run("stat -c '%u:%g' /copied/a.txt"), "0:0", "COPY gives root unless --chown");
    assert_eq!(run("cat /unpacked/inner/file.txt"), "in tar", "ADD unpacks a local tar");
    assert_eq!(run("cat /from-stage.txt"), "staged");
    assert_eq!(run("cat /pwd.txt"), "/made/here/sub");
    assert_eq!(run("test -d /made/here/sub && echo dir"), "dir");
    // The default command, through the entrypoint.
    assert_eq!(d.docker_ok(&["run", "--rm", tag]), "run: hello world dflt alt");
    // History as dockerd writes it.
    let hist = d.docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", tag]);
    assert!(hist.contains("/bin/sh -c #(nop)  ENV GREETING=hello world PLAIN=plain"), "{hist}");
    assert!(hist.contains("|1 WHO=world /bin/sh -c echo \"run: $GREETING"), "{hist}");
    assert!(hist.contains("#(nop) WORKDIR /made/here/sub"), "{hist}");
    assert!(hist.contains("#(nop) COPY file:"), "{hist}");
}

#[test]
fn every_instruction_with_the_classic_builder_and_the_clis_default() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-all"));
    d.busybox_image();
    let ctx = everything_context(&d, "ctx-all");
    let out = build_ok(&d, &ctx, Some("0"), &["-t", "every:thing", "--build-arg", "UNUSED=1"]);
    assert!(out.contains("Step 1/"), "{out}");
    assert!(out.contains("Successfully tagged every:thing"), "{out}");
    assert!(out.contains("[Warning] One or more build-args [UNUSED] were not consumed"), "{out}");
    check_everything(&d, "every:thing");
    // The CLI's own choice (no DOCKER_BUILDKIT): the daemon says builder 1, the CLI builds
    // through it, all from the cache now.
    let out = build_ok(&d, &ctx, None, &["-t", "every:again"]);
    assert!(out.contains("Using cache"), "{out}");
    assert_eq!(d.inspect("every:again")["Id"], d.inspect("every:thing")["Id"]);
    // ONBUILD triggers run in a child build.
    let child = context(&d, "ctx-child");
    write(&child, "Dockerfile", "FROM every:thing\nUSER 0\nRUN cat /tmp/onbuild.txt\n");
    let out = build_ok(&d, &child, Some("0"), &["-t", "child"]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "--entrypoint", "cat", "child", "/tmp/onbuild.txt"]), "triggered");
    assert_eq!(d.inspect("child")["Config"]["OnBuild"], serde_json::Value::Null, "triggers are not inherited");
    assert!(d.ps(true).is_empty(), "no step container left: {:?}", d.ps(true));
}

#[test]
fn targets_stdin_dockerfiles_and_errors_that_name_the_line() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-target"));
    d.busybox_image();
    let ctx = context(&d, "ctx-target");
    write(&ctx, "Dockerfile", "FROM busybox AS first\nRUN echo one > /one\nFROM first AS second\nRUN echo two > /two\nFROM busybox\nRUN false\n");
    build_ok(&d, &ctx, Some("0"), &["--target", "second", "-t", "t2"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "t2", "cat", "/one", "/two"]), "one\ntwo");
    let o = build(&d, &ctx, Some("0"), &["--target", "nosuch"]);
    assert!(!o.status.success());
    assert!(
        berth_tests::output_text(&o).contains("failed to reach build target nosuch"),
        "{}",
        berth_tests::output_text(&o)
    );
    // A Dockerfile from stdin (no context), and a syntax error naming its line.
    let mut cmd = d.docker_cmd(&["build", "-t", "stdin", "-"]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = berth_tests::run_with_stdin(&mut cmd, b"FROM busybox\nCMD [\"echo\", \"from stdin\"]\n");
    assert!(o.status.success(), "{}", berth_tests::output_text(&o));
    assert_eq!(d.docker_ok(&["run", "--rm", "stdin"]), "from stdin");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN true\nFROBNICATE now\n");
    let o = build(&d, &ctx, Some("0"), &[]);
    let text = berth_tests::output_text(&o);
    assert!(!o.status.success());
    assert!(text.contains("line 3") && text.contains("unknown instruction"), "{text}");
}

#[test]
fn a_failing_step_shows_its_output_and_code_and_leaves_nothing() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-fail"));
    d.busybox_image();
    let ctx = context(&d, "ctx-fail");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo to-out; echo to-err >&2; exit 3\n");
    let o = build(&d, &ctx, Some("0"), &["-t", "never"]);
    let text = berth_tests::output_text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(text.contains("to-out") && text.contains("to-err"), "{text}");
    assert!(
        text.contains("The command '/bin/sh -c echo to-out; echo to-err >&2; exit 3' returned a non-zero code: 3"),
        "{text}"
    );
    assert_eq!(o.status.code(), Some(3), "the CLI exits with the step's code: {text}");
    assert!(d.ps(true).is_empty(), "{:?}", d.ps(true));
    assert!(!d.docker(&["image", "inspect", "never"]).status.success());
    assert_no_scratch(&d);
}

fn assert_no_scratch(d: &TestDaemon) {
    let tmp = d.data_root.join("builder/tmp");
    let left: Vec<_> = fs::read_dir(&tmp).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "build leftovers in {}: {left:?}", tmp.display());
    for drv in ["overlay2", "vfs"] {
        let dir = d.data_root.join("storage").join(drv);
        let scratch: Vec<_> = fs::read_dir(&dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("build-"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(scratch.is_empty(), "scratch storage left: {scratch:?}");
    }
}

/// The cache: a rebuild takes every step from it, a changed file only invalidates from its
/// COPY on, a touched one does not, `--no-cache` takes nothing, and all of it survives kill -9.
#[test]
fn the_cache_follows_content_and_survives_a_kill() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-cache").live_restore(true));
    d.busybox_image();
    let ctx = context(&d, "ctx-cache");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nENV A=1\nRUN echo first > /f\nCOPY data.txt /data.txt\nRUN cat /data.txt > /copy\n",
    );
    write(&ctx, "data.txt", "v1\n");
    let uses = |t: &str| t.matches("Using cache").count();
    let first = build_ok(&d, &ctx, Some("0"), &["-t", "c1"]);
    assert_eq!(uses(&first), 0, "{first}");
    assert_eq!(uses(&build_ok(&d, &ctx, Some("0"), &["-t", "c1"])), 4);
    // Only the time changes: still cached.
    let f = ctx.join("data.txt");
    let meta = fs::metadata(&f).unwrap();
    fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(uses(&build_ok(&d, &ctx, Some("0"), &["-t", "c1"])), 4);
    // Mode changes: from the COPY on it is rebuilt.
    fs::set_permissions(&f, fs::Permissions::from_mode(meta.permissions().mode() ^ 0o010)).unwrap();
    assert_eq!(uses(&build_ok(&d, &ctx, Some("0"), &["-t", "c1"])), 2);
    write(&ctx, "data.txt", "v2\n");
    let out = build_ok(&d, &ctx, Some("0"), &["-t", "c2"]);
    assert_eq!(uses(&out), 2, "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "c2", "cat", "/copy"]), "v2");
    assert_eq!(uses(&build_ok(&d, &ctx, Some("0"), &["--no-cache", "-t", "c3"])), 0);
    d.kill9();
    d.wait_exit(std::time::Duration::from_secs(10));
    d.restart();
    assert_eq!(uses(&build_ok(&d, &ctx, Some("0"), &["-t", "c4"])), 4, "the cache survived the kill");
    assert_eq!(d.inspect("c4")["Id"], d.inspect("c3")["Id"], "the newest build of the steps is the cache");
}

/// A context is the client's: entries climbing out, absolute links and links out of the
/// context are contained, and nothing is written outside the daemon's own directories.
#[test]
fn a_hostile_context_writes_nothing_outside() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-hostile"));
    d.busybox_image();
    let outside = d.base.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "host secret\n").unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    let df = b"FROM busybox\nCOPY link/secret /got\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(df.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    tb.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    l.set_uid(0);
    l.set_gid(0);
    l.set_mtime(0);
    l.set_mode(0o777);
    tb.append_link(&mut l, "link", &outside).unwrap();
    let body = tb.into_inner().unwrap();
    let mut cmd = d.docker_cmd(&["build", "-t", "hostile", "-"]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = berth_tests::run_with_stdin(&mut cmd, &body);
    let text = berth_tests::output_text(&o);
    assert!(!o.status.success(), "a link out of the context must not be followed: {text}");
    assert!(text.contains("file not found"), "{text}");
    // A tar climbing out with `..` is refused whole.
    let mut raw = Vec::new();
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..13].copy_from_slice(b"../escaped.tx");
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    raw.extend_from_slice(h.as_bytes());
    raw.extend_from_slice(b"x\n");
    raw.resize(raw.len() + 510 + 1024, 0);
    let mut cmd = d.docker_cmd(&["build", "-"]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = berth_tests::run_with_stdin(&mut cmd, &raw);
    assert!(!o.status.success(), "{}", berth_tests::output_text(&o));
    assert!(!d.data_root.join("builder/escaped.tx").exists() && !d.data_root.join("builder/tmp/escaped.tx").exists());
    assert_no_scratch(&d);
}

/// The options that shape RUN steps and the result: limits, `--rm=false`, several tags, a base
/// that cannot be pulled offline, `--from` an image, a scratch image.
#[test]
fn options_limits_tags_scratch_and_images_as_sources() {
    let mut d = TestDaemon::start(DaemonOpts::new("build-opts"));
    d.busybox_image();
    let ctx = context(&d, "ctx-opts");
    let v1 = Path::new("/sys/fs/cgroup/memory").exists() && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let limit_file = if v1 { "/sys/fs/cgroup/memory/memory.limit_in_bytes" } else { "/sys/fs/cgroup/memory.max" };
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM busybox\nRUN cat {limit_file} > /limit\nCOPY --from=busybox /etc/passwd /passwd-from-image\n"),
    );
    build_ok(&d, &ctx, Some("0"), &["--memory", "64m", "-t", "one:a", "-t", "two:b", "--rm=false"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "one:a", "cat", "/limit"]), "67108864", "the RUN step ran under --memory");
    assert_eq!(d.inspect("one:a")["Id"], d.inspect("two:b")["Id"], "both tags name the image");
    assert!(d.docker_ok(&["run", "--rm", "two:b", "cat", "/passwd-from-image"]).starts_with("root:x:0:0"));
    let kept = d.docker_ok(&["ps", "-aq"]);
    assert_eq!(kept.lines().count(), 1, "--rm=false keeps the RUN step's container: {kept}");
    // It is the client's now: a restart does not sweep it as a leftover of a build.
    assert_eq!(d.docker_ok(&["ps", "-aq", "--filter", "label=berth.build"]), "");
    d.term();
    d.wait_exit(std::time::Duration::from_secs(10));
    d.restart();
    // The restore's sweep runs just after the API is up: give it the time it takes.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(d.docker_ok(&["ps", "-aq"]), kept, "kept across a restart");
    d.docker_ok(&["rm", kept.trim()]);
    // A scratch image: COPY works, RUN has nothing to run.
    write(&ctx, "Dockerfile", "FROM scratch\nCOPY a.txt /\nCMD [\"/a.txt\"]\n");
    write(&ctx, "a.txt", "scratch file\n");
    build_ok(&d, &ctx, Some("0"), &["-t", "scr"]);
    let layers = d.inspect("scr")["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers, 1, "one layer: the COPY");
    let exported = d.docker_ok(&["create", "scr"]);
    let tar = d.docker_cmd(&["export", &exported]).output().unwrap().stdout;
    let names: Vec<String> = tar::Archive::new(tar.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n.trim_start_matches('/') == "a.txt"), "{names:?}");
    d.docker_ok(&["rm", &exported]);
    write(&ctx, "Dockerfile", "FROM scratch\nRUN true\n");
    let o = build(&d, &ctx, Some("0"), &[]);
    assert!(
        !o.status.success() && berth_tests::output_text(&o).contains("FROM scratch"),
        "{}",
        berth_tests::output_text(&o)
    );
    // A base that is not here and cannot be pulled (no registry answers): a clear error.
    write(&ctx, "Dockerfile", "FROM 127.0.0.1:9/nowhere/none:1\n");
    let o = build(&d, &ctx, Some("0"), &[]);
    let text = berth_tests::output_text(&o);
    assert!(!o.status.success() && text.contains("127.0.0.1:9/nowhere/none:1"), "{text}");
    // Options Berth has no counterpart for are refused by name.
    let o = build(&d, &ctx, Some("0"), &["--platform", "linux/s390x"]);
    let text = berth_tests::output_text(&o);
    assert!(text.contains("linux/s390x") && text.contains("not supported by Berth's builder"), "{text}");
    assert_no_scratch(&d);
}

/// A RUN's output reaches the client while the step runs, not when it ends.
#[test]
fn run_output_streams_as_it_comes() {
    use std::io::BufRead;
    let mut d = TestDaemon::start(DaemonOpts::new("build-stream"));
    d.busybox_image();
    let ctx = context(&d, "ctx-stream");
    write(&ctx, "Dockerfile", "FROM busybox\nRUN echo early-line; sleep 3; echo late-line\n");
    let mut cmd = d.docker_cmd(&["build", "--no-cache", &ctx.display().to_string()]);
    cmd.env("DOCKER_BUILDKIT", "0").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    let mut early_at = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The Step line names both: only the command's own output counts.
        if line.trim() == "early-line" && early_at.is_none() {
            early_at = Some(started.elapsed());
        }
        if line.trim() == "late-line" {
            let late = started.elapsed();
            let early = early_at.expect("the early line came first");
            assert!(late - early >= std::time::Duration::from_secs(2), "early at {early:?}, late at {late:?}");
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(early_at.is_some());
}

/// A built image saved is what dockerd's `load` checks: the config's digest is the image id, and
/// each layer's digest is the config's diff id (so dockerd loads it with the same id).
#[test]
fn a_saved_build_is_content_addressed_like_dockerds() {
    use sha2::Digest;
    let mut d = TestDaemon::start(DaemonOpts::new("build-save"));
    d.busybox_image();
    let ctx = context(&d, "ctx-save");
    write(&ctx, "Dockerfile", "FROM busybox\nCOPY a.txt /a.txt\nRUN echo run > /r\nENV X=1\n");
    write(&ctx, "a.txt", "a\n");
    build_ok(&d, &ctx, Some("0"), &["-t", "saved:1"]);
    let id = d.inspect("saved:1")["Id"].as_str().unwrap().to_string();
    let tar = d.docker_cmd(&["save", "saved:1"]).output().unwrap().stdout;
    let mut files = std::collections::HashMap::new();
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        files.insert(name, v);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let cfg_name = manifest[0]["Config"].as_str().unwrap();
    let cfg = &files[cfg_name];
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(cfg))), id);
    let cfg: serde_json::Value = serde_json::from_slice(cfg).unwrap();
    let diffs: Vec<String> = serde_json::from_value(cfg["rootfs"]["diff_ids"].clone()).unwrap();
    let layers: Vec<String> = serde_json::from_value(manifest[0]["Layers"].clone()).unwrap();
    assert_eq!(layers.len(), diffs.len());
    assert_eq!(diffs.len(), 3, "busybox + COPY + RUN; ENV adds none");
    for (l, want) in layers.iter().zip(&diffs) {
        assert_eq!(&format!("sha256:{}", hex::encode(sha2::Sha256::digest(&files[l]))), want, "{l}");
    }
    let hist = cfg["history"].as_array().unwrap();
    assert_eq!(hist.iter().filter(|h| h["empty_layer"] != true).count(), 3);
    assert!(hist.last().unwrap()["created_by"].as_str().unwrap().contains("#(nop)  ENV X=1"));
    // Loaded back after removal: the same id.
    d.docker_ok(&["rmi", "saved:1"]);
    let mut cmd = d.docker_cmd(&["load"]);
    let o = berth_tests::run_with_stdin(&mut cmd, &tar);
    assert!(o.status.success(), "{}", berth_tests::output_text(&o));
    assert_eq!(d.inspect("saved:1")["Id"], id.as_str());
}

/// A base image that is not here is pulled from its registry (a loopback one), and `--pull`
/// pulls it again even when it is.
#[test]
fn a_missing_base_image_is_pulled_from_its_registry() {
    let reg = berth_tests::registry::Registry::start("build-pull", None);
    let mut d = TestDaemon::start(DaemonOpts::new("build-pull"));
    d.busybox_image();
    let base = format!("{}/base/bb:1", reg.addr);
    d.docker_ok(&["tag", "busybox", &base]);
    d.docker_ok(&["push", &base]);
    d.docker_ok(&["rmi", &base]);
    let ctx = context(&d, "ctx-pull");
    write(&ctx, "Dockerfile", &format!("FROM {base}\nRUN echo pulled > /p\n"));
    let out = build_ok(&d, &ctx, Some("0"), &["-t", "frompull"]);
    assert!(out.contains("Pulling from base/bb") || out.contains("Pulling from"), "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "frompull", "cat", "/p"]), "pulled");
    assert!(d.docker(&["image", "inspect", &base]).status.success(), "the base stays, as dockerd keeps it");
    let out = build_ok(&d, &ctx, Some("0"), &["--pull", "-t", "frompull"]);
    assert!(out.contains("Pulling from"), "--pull asks the registry again: {out}");
}
