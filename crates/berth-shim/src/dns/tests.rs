use super::*;

fn query(name: &str, qtype: TYPE) -> Vec<u8> {
    let mut p = Packet::new_query(0x1234);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    p.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(qtype),
        simple_dns::QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec().unwrap()
}

fn names_with(dir: &Path, n: &DnsNames) -> Names {
    let path = dir.join("dns.json");
    fsutil::write_json_runtime(&path, n).unwrap();
    Names::new(path, dir.join("shims"))
}

fn bytes_of(v: Verdict) -> Vec<u8> {
    match v {
        Verdict::Reply(b) => b,
        other => panic!("not a reply: {other:?}"),
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("berth-shim-dns-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn local_names_are_answered_and_others_forwarded() {
    let dir = tmpdir("answer");
    let mut n = DnsNames::new();
    n.add("web", "10.1.0.2".parse().unwrap(), "");
    n.add_reverse("10.1.0.2".parse().unwrap(), "web.net", "");
    let mut names = names_with(&dir, &n);

    let b = bytes_of(answer(&query("WEB.", TYPE::A), &mut names, true));
    let r = Packet::parse(&b).unwrap();
    assert_eq!(r.id(), 0x1234);
    assert_eq!(r.rcode(), RCODE::NoError);
    assert!(r.has_flags(PacketFlag::RESPONSE | PacketFlag::RECURSION_AVAILABLE | PacketFlag::RECURSION_DESIRED));
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].rdata, RData::A(A { address: u32::from(Ipv4Addr::new(10, 1, 0, 2)) }));
    // No IPv6 address yet: no records, never an outside answer.
    let b = bytes_of(answer(&query("web", TYPE::AAAA), &mut names, true));
    let r = Packet::parse(&b).unwrap();
    assert!(r.answers.is_empty() && r.rcode() == RCODE::NoError);
    let b = bytes_of(answer(&query("2.0.1.10.in-addr.arpa", TYPE::PTR), &mut names, true));
    let r = Packet::parse(&b).unwrap();
    assert_eq!(r.answers[0].rdata, RData::PTR(PTR(Name::new_unchecked("web.net"))));
    assert_eq!(answer(&query("example.org", TYPE::A), &mut names, true), Verdict::Forward);
    assert_eq!(
        reverse("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"),
        "4321:0:1:2:3:4:567:89ab".parse().ok()
    );
    assert_eq!(reverse("1.2.ip6.arpa"), None);
    assert_eq!(answer(&query("9.9.9.9.in-addr.arpa", TYPE::PTR), &mut names, true), Verdict::Forward);
    assert_eq!(answer(b"garbage", &mut names, true), Verdict::Drop);
    let sf = servfail(&query("example.org", TYPE::A)).unwrap();
    assert_eq!(Packet::parse(&sf).unwrap().rcode(), RCODE::ServerFailure);

    // Too many addresses for a datagram: cut and marked truncated; whole over TCP.
    let mut many = DnsNames::new();
    for i in 0..100u8 {
        many.add("svc", IpAddr::V4(Ipv4Addr::new(10, 2, 0, i)), "");
    }
    let many_dir = tmpdir("many");
    let mut big = names_with(&many_dir, &many);
    let b = bytes_of(answer(&query("svc", TYPE::A), &mut big, true));
    let r = Packet::parse(&b).unwrap();
    assert!(b.len() <= 512 && r.has_flags(PacketFlag::TRUNCATION) && !r.answers.is_empty(), "{}", b.len());
    let b = bytes_of(answer(&query("svc", TYPE::A), &mut big, false));
    assert_eq!(Packet::parse(&b).unwrap().answers.len(), 100);
    let _ = std::fs::remove_dir_all(&many_dir);

    // The file is read again once the daemon replaces it.
    std::thread::sleep(Duration::from_millis(10));
    let mut n2 = DnsNames::new();
    n2.add("db", "10.1.0.3".parse().unwrap(), "");
    fsutil::write_json_runtime(&dir.join("dns.json"), &n2).unwrap();
    assert_eq!(answer(&query("web", TYPE::A), &mut names, true), Verdict::Forward);
    assert_eq!(Packet::parse(&bytes_of(answer(&query("db", TYPE::A), &mut names, true))).unwrap().answers.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_peer_whose_process_ended_is_not_answered() {
    let dir = tmpdir("alive");
    let id = "a".repeat(64);
    let mut n = DnsNames::new();
    n.add("peer", "10.1.0.4".parse().unwrap(), &id);
    let mut names = names_with(&dir, &n);
    // No monitor record: the daemon's word stands.
    assert_eq!(Packet::parse(&bytes_of(answer(&query("peer", TYPE::A), &mut names, true))).unwrap().answers.len(), 1);
    let rec = MonitorRecord {
        container_id: id.clone(),
        shim_pid: 1,
        shim_start_time: 0,
        shim_binary: PathBuf::new(),
        shim_version: String::new(),
        protocol: 1,
        min_protocol: 1,
        socket: PathBuf::new(),
        // pid 1 with a start time it never had: an identity that is not alive.
        container_pid: 1,
        container_start_time: u64::MAX,
        started_at: String::new(),
        runtime: String::new(),
    };
    std::fs::create_dir_all(dir.join("shims").join(&id)).unwrap();
    fsutil::write_json_runtime(&dir.join("shims").join(&id).join(berth_proto::paths::MONITOR_RECORD), &rec).unwrap();
    names.alive.clear();
    assert_eq!(answer(&query("peer", TYPE::A), &mut names, true), Verdict::Forward);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resolv_conf_is_pointed_at_the_server_only_while_it_holds_the_daemons_text() {
    let dir = tmpdir("resolv");
    let spec = DnsSpec {
        netns: dir.join("netns"),
        names: dir.join("dns.json"),
        resolv_conf: dir.join("resolv.conf"),
        legacy: "nameserver 10.0.0.1\n".into(),
        embedded: "nameserver 127.0.0.11\noptions ndots:0\n".into(),
    };
    std::fs::write(&spec.resolv_conf, &spec.legacy).unwrap();
    let ino = std::fs::metadata(&spec.resolv_conf).unwrap().ino();
    point_resolv_conf(&spec);
    assert_eq!(std::fs::read_to_string(&spec.resolv_conf).unwrap(), spec.embedded);
    assert_eq!(std::fs::metadata(&spec.resolv_conf).unwrap().ino(), ino, "in place: it is bind-mounted");
    std::fs::write(&spec.resolv_conf, "nameserver 10.9.9.9\n").unwrap();
    point_resolv_conf(&spec);
    assert_eq!(std::fs::read_to_string(&spec.resolv_conf).unwrap(), "nameserver 10.9.9.9\n", "an edit is kept");
    // No namespace file: not served, and nothing else is touched.
    assert!(matches!(bind_in(&spec.netns), Err(DnsError::Netns { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}
