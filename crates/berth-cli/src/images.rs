//! Image verbs: import, images, rmi, tag.

use crate::http::{query, ApiError, Client};
use crate::table;
use clap::Args;
use std::io::Read;

#[derive(Args)]
pub struct ImportArgs {
    /// Tarball file, or - for standard input
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show all images
    #[arg(short, long)]
    pub all: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (reference=, dangling=, label=)
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Repository to list
    pub repository: Option<String>,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn import(c: &Client, a: ImportArgs) -> Result<i32, ApiError> {
    let mut data = Vec::new();
    let io = |e: std::io::Error| ApiError { status: 0, message: format!("reading {}: {e}", a.file) };
    if a.file == "-" {
        std::io::stdin().read_to_end(&mut data).map_err(io)?;
    } else {
        std::fs::File::open(&a.file).and_then(|mut f| f.read_to_end(&mut data)).map_err(io)?;
    }
    let mut q = vec![("fromSrc", "-".to_string())];
    if let Some(r) = &a.reference {
        let (repo, tag) = match r.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (r.clone(), String::new()),
        };
        q.push(("repo", repo));
        if !tag.is_empty() {
            q.push(("tag", tag));
        }
    }
    for ch in &a.changes {
        q.push(("changes", ch.clone()));
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    let mut r = c.send("POST", &format!("/images/create{}", query(&q)), Some(&data), false)?.check()?;
    let mut out = String::new();
    let _ = r.read_to_string(&mut out);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if let Some(e) = v["error"].as_str() {
            return Err(ApiError { status: 500, message: e.to_string() });
        }
        // Progress messages are for terminals that draw them; the result is the image id.
        if let Some(s) = v["status"].as_str().filter(|_| v.get("progressDetail").is_none()) {
            println!("{s}");
        }
    }
    Ok(0)
}

fn filters_json(f: &[String]) -> String {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for kv in f {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    serde_json::to_string(&m).unwrap_or_default()
}

pub fn list(c: &Client, a: ImagesArgs) -> Result<i32, ApiError> {
    let mut f = a.filter.clone();
    if let Some(r) = &a.repository {
        f.push(format!("reference={r}"));
    }
    let v = c.json(
        "GET",
        &format!("/images/json{}", query(&[("filters", filters_json(&f)), ("all", a.all.to_string())])),
        None,
    )?;
    let mut rows = Vec::new();
    for img in v.as_array().cloned().unwrap_or_default() {
        let id = img["Id"].as_str().unwrap_or("").to_string();
        let short = if a.no_trunc { id.clone() } else { id.trim_start_matches("sha256:").chars().take(12).collect() };
        if a.quiet {
            println!("{short}");
            continue;
        }
        let tags: Vec<String> = serde_json::from_value(img["RepoTags"].clone()).unwrap_or_default();
        let tags = if tags.is_empty() { vec!["<none>:<none>".to_string()] } else { tags };
        for t in tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
            let row = serde_json::json!({"Repository": repo, "Tag": tag, "ID": short, "CreatedSince": table::ago(img["Created"].as_i64().unwrap_or(0)), "Size": table::human_size(img["Size"].as_f64().unwrap_or(0.0))});
            if let Some(fmt) = &a.format {
                println!("{}", crate::template::render(fmt, &row).map_err(|m| ApiError { status: 0, message: m })?);
            } else {
                rows.push(vec![
                    repo.to_string(),
                    tag.to_string(),
                    short.clone(),
                    row["CreatedSince"].as_str().unwrap_or("").to_string(),
                    row["Size"].as_str().unwrap_or("").to_string(),
                ]);
            }
        }
    }
    if !a.quiet && a.format.is_none() {
        table::print(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    }
    Ok(0)
}

pub fn rmi(c: &Client, a: RmiArgs) -> Result<i32, ApiError> {
    let mut code = 0;
    for img in &a.images {
        match c.json("DELETE", &format!("/images/{img}{}", query(&[("force", a.force.to_string())])), None) {
            Ok(v) => {
                for item in v.as_array().cloned().unwrap_or_default() {
                    if let Some(u) = item["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub fn tag(c: &Client, source: &str, target: &str) -> Result<i32, ApiError> {
    let (repo, tag) = match target.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (target.to_string(), "latest".to_string()),
    };
    c.call("POST", &format!("/images/{source}/tag{}", query(&[("repo", repo), ("tag", tag)])), None)?;
    Ok(0)
}
