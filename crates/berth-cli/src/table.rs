//! Docker-style tables and human durations and sizes.

/// Prints rows under headers, columns separated by three spaces, as docker does.
pub fn print(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render(headers, rows));
}

/// The table as text, one line per row.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{c:<width$}   ", width = w[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(headers.iter().map(|s| s.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
    out
}

/// "5 seconds", "About a minute", … as Docker's go-units HumanDuration.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

pub fn ago(unix: i64) -> String {
    format!("{} ago", human_duration(chrono::Utc::now().timestamp() - unix))
}

/// Decimal sizes as docker prints them (`1.98MB`).
pub fn human_size(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    let s = if s.len() > 4 { format!("{v:.3}")[..4].trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", units[i])
}

/// The PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp` (no range folding).
pub fn ports(ps: &[berth_api::Port]) -> String {
    let mut ps: Vec<&berth_api::Port> = ps.iter().collect();
    ps.sort_by(|a, b| {
        (a.private_port, &a.type_, a.ip.contains(':'), &a.ip).cmp(&(
            b.private_port,
            &b.type_,
            b.ip.contains(':'),
            &b.ip,
        ))
    });
    ps.dedup();
    ps.iter()
        .map(|p| match p.public_port {
            Some(pub_) if !p.ip.is_empty() => {
                let ip = if p.ip.contains(':') { format!("[{}]", p.ip) } else { p.ip.clone() };
                format!("{ip}:{pub_}->{}/{}", p.private_port, p.type_)
            }
            Some(pub_) => format!("{pub_}->{}/{}", p.private_port, p.type_),
            None => format!("{}/{}", p.private_port, p.type_),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_column() {
        let p = |ip: &str, private_port, public_port, t: &str| berth_api::Port {
            ip: ip.into(),
            private_port,
            public_port,
            type_: t.into(),
        };
        let got = super::ports(&[
            p("::", 80, Some(8080), "tcp"),
            p("0.0.0.0", 80, Some(8080), "tcp"),
            p("", 443, None, "tcp"),
            p("", 53, None, "udp"),
        ]);
        assert_eq!(got, "53/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp");
        assert_eq!(super::ports(&[]), "");
    }

    #[test]
    fn table_layout() {
        let out = super::render(
            &["CONTAINER ID", "NAMES"],
            &[vec!["abc".into(), "x".into()], vec!["0123456789abcdef".into(), "long".into()]],
        );
        assert_eq!(out, "CONTAINER ID       NAMES\nabc                x\n0123456789abcdef   long\n");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(super::human_size(1_980_000.0), "1.98MB");
        assert_eq!(super::human_size(512.0), "512B");
        assert_eq!(super::human_duration(90), "About a minute");
        assert_eq!(super::human_duration(5), "5 seconds");
    }
}
