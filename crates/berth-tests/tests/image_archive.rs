//! `docker load`, `docker save` and `docker history` (issue 3): Docker's archive format and OCI
//! image layouts, multi-layer with whiteouts and opaque directories, gzip and zstd layers, ids kept
//! across a save/load round trip, shared layers stored once, corrupt and hostile archives
//! refused with nothing left behind; the CLI and docker-py.

use berth_tests::archive::{add_file, config, digest, docker_archive, docker_archive_with, gzip, layers, tar_of};
use berth_tests::{busybox_tar_path, DaemonOpts, TestDaemon};
use serde_json::json;
use std::fs;

/// An OCI layout with gzip'd layers behind an index of two platforms: this host's and arm64.
fn oci_archive(name: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    // The middle layer zstd, the others gzip: both as registries and tools produce them.
    let gz: Vec<Vec<u8>> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                ruzstd::encoding::compress_to_vec(&l[..], ruzstd::encoding::CompressionLevel::Fastest)
            } else {
                gzip(l)
            }
        })
        .collect();
    let manifest_for = |arch: &str, blobs: &mut Vec<(String, Vec<u8>)>| {
        let cfg = config(&ids, arch);
        let ls: Vec<_> = gz.iter().enumerate().map(|(i, g)| json!({"mediaType": if i == 1 { "application/vnd.oci.image.layer.v1.tar+zstd" } else { "application/vnd.oci.image.layer.v1.tar+gzip" }, "digest": digest(g), "size": g.len()})).collect();
        let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&cfg), "size": cfg.len()}, "layers": ls}))
        .unwrap();
        blobs.push((digest(&cfg), cfg));
        let d = digest(&m);
        blobs.push((d.clone(), m.clone()));
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": m.len(), "platform": {"architecture": arch, "os": "linux"}})
    };
    let here = manifest_for("amd64", &mut blobs);
    let other = manifest_for("arm64", &mut blobs);
    for g in &gz {
        blobs.push((digest(g), g.clone()));
    }
    let idx = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [other, here]}),
    )
    .unwrap();
    blobs.push((digest(&idx), idx.clone()));
    let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(&idx), "size": idx.len(),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "2"}}]});
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| add_file(&mut b, name, data);
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &serde_json::to_vec(&top).unwrap());
    for (d, data) in &blobs {
        add(&format!("blobs/sha256/{}", &d[7..]), data);
    }
    b.into_inner().unwrap()
}

fn check_layers_applied(d: &TestDaemon, image: &str) {
    let out = d.docker_ok(&[
        "run",
        "--rm",
        image,
        "sh",
        "-c",
        "cat /data/a; ls /data; ls /etc/extra.d; test -e /bin/cat || echo nocat",
    ]);
    assert_eq!(out, "first\na\nnew\nnocat", "{image}: whiteouts and the opaque dir applied");
}

#[test]
fn load_both_formats_and_save_round_trip_keeps_the_id() {
    if std::env::consts::ARCH != "x86_64" {
        return; // the archives below describe amd64 images
    }
    let d = TestDaemon::start(DaemonOpts::new("img-archive"));
    let ls = layers();
    let docker_tar = d.base.join("docker.tar");
    fs::write(&docker_tar, docker_archive("multi:1", &ls)).unwrap();
    let out = d.docker_ok(&["load", "-i", docker_tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: multi:1"), "{out}");
    check_layers_applied(&d, "multi:1");
    // The OCI layout: gzip'd layers, the host's platform picked from the index.
    let oci_tar = d.base.join("oci.tar");
    fs::write(&oci_tar, oci_archive("example.com/team/multi:2", &ls)).unwrap();
    let out = d.docker_ok(&["load", "-i", oci_tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: example.com/team/multi:2"), "{out}");
    check_layers_applied(&d, "example.com/team/multi:2");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Architecture}}", "example.com/team/multi:2"]), "amd64");
    // Same layers: stored once (three layer dirs for two images).
    let layer_dirs = fs::read_dir(d.data_root.join("storage/layers"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().len() == 64)
        .count();
    assert_eq!(layer_dirs, 3);
    // history, newest first, with the layers' sizes.
    let h = d.docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "multi:1"]);
    let rows: Vec<&str> = h.lines().collect();
    assert_eq!(rows.len(), 3, "{h}");
    assert!(rows[0].starts_with("delete and replace|") && rows[2].starts_with("busybox base|"), "{h}");
    assert_eq!(rows[1], "add data|20B", "{h}");
    // save → rmi → load: same id, and the archive is an OCI layout too.
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "multi:1"]);
    let saved = d.base.join("saved.tar");
    d.docker_ok(&["save", "-o", saved.to_str().unwrap(), "multi:1"]);
    let names: Vec<String> = tar::Archive::new(fs::File::open(&saved).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for n in ["oci-layout", "index.json", "manifest.json"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    d.docker_ok(&["rmi", "multi:1", "example.com/team/multi:2"]);
    assert_eq!(d.docker_ok(&["images", "-q"]), "");
    let out = d.docker_ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: multi:1"), "{out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "multi:1"]), id, "the id survives the round trip");
    check_layers_applied(&d, "multi:1");
    // Through docker-py: save to bytes, remove, load back.
    let py = d.docker_py(
        r#"img = c.images.get("multi:1")
data = b"".join(img.save(named=True))
c.images.remove("multi:1")
loaded = c.images.load(data)
print(loaded[0].id == img.id, loaded[0].tags)"#,
    );
    assert!(py.starts_with("True ['multi:1']"), "{py}");
    // Errors as Docker words them.
    let (_, err) = d.docker_err(&["save", "-o", saved.to_str().unwrap(), "nosuch:1"]);
    assert!(err.contains("No such image: nosuch:1"), "{err}");
}

#[test]
fn corrupt_and_hostile_archives_leave_nothing() {
    let d = TestDaemon::start(DaemonOpts::new("img-archive-bad"));
    let mut ls = layers();
    let good_ids: Vec<String> = ls.iter().map(|l| digest(l)).collect();
    // The config promises one layer, the archive holds another: refused, no image.
    ls[1] = tar_of(&[("data/", ""), ("data/a", "tampered\n")]);
    let arch = docker_archive_with("bad:1", &config(&good_ids, "amd64"), &ls);
    let f = d.base.join("bad.tar");
    fs::write(&f, &arch).unwrap();
    let (code, err) = d.docker_err(&["load", "-i", f.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid diffID"), "{err}");
    assert_eq!(d.docker_ok(&["images", "-q"]), "", "no image from a failed load");
    // A layer that climbs out of its root.
    let mut evil = tar::Builder::new(Vec::new());
    let mut hh = tar::Header::new_gnu();
    hh.set_mode(0o644);
    hh.set_size(5);
    hh.set_uid(0);
    hh.set_gid(0);
    hh.set_mtime(0);
    hh.as_gnu_mut().unwrap().name[..11].copy_from_slice(b"../../evil\0");
    hh.set_cksum();
    evil.append(&hh, &b"owned"[..]).unwrap();
    let evil = evil.into_inner().unwrap();
    let f = d.base.join("evil.tar");
    fs::write(&f, docker_archive("evil:1", &[evil])).unwrap();
    let (_, err) = d.docker_err(&["load", "-i", f.to_str().unwrap()]);
    assert!(err.contains(".."), "{err}");
    assert!(!d.data_root.join("storage/evil").exists() && !d.base.join("evil").exists());
    assert_eq!(d.docker_ok(&["images", "-q"]), "");
    // Not an archive at all.
    fs::write(&f, b"this is not a tarball").unwrap();
    let (code, _) = d.docker_err(&["load", "-i", f.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let leftovers: Vec<_> = fs::read_dir(d.data_root.join("image"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// On a terminal, `docker load` and `docker import` draw per-layer progress bars; piped, they
/// print only the result.
#[test]
fn load_and_import_show_progress_on_a_terminal() {
    let d = TestDaemon::start(DaemonOpts::new("img-progress"));
    let ls = layers();
    let f = d.base.join("p.tar");
    fs::write(&f, docker_archive("prog:1", &ls)).unwrap();
    let in_pty = |args: &[&str]| {
        let script = format!(
            "import pty, sys, os\nout = b''\ndef rd(fd):\n    global out\n    b = os.read(fd, 4096)\n    out += b\n    return b\nst = pty.spawn({:?}, rd)\nsys.stdout.write(out.decode(errors='replace'))\nsys.exit(os.waitstatus_to_exitcode(st))\n",
            [vec![berth_tests::docker_bin().display().to_string()], args.iter().map(|s| s.to_string()).collect()].concat()
        );
        String::from_utf8_lossy(&d.python(&script).stdout).into_owned()
    };
    let out = in_pty(&["load", "-i", f.to_str().unwrap()]);
    assert!(
        out.contains("Loading layer") && out.contains("MB/2.129MB") && out.contains("Loaded image: prog:1"),
        "{out}"
    );
    let piped = d.docker_ok(&["load", "-i", f.to_str().unwrap()]);
    assert!(!piped.contains("Loading layer") && piped.contains("Loaded image: prog:1"), "{piped}");
    let out = in_pty(&["import", busybox_tar_path().to_str().unwrap(), "imp:1"]);
    assert!(out.contains("Importing") && out.contains("sha256:"), "{out}");
    assert!(d.docker_ok(&["images", "--format", "{{.Repository}}"]).contains("imp"));
}
