//! `berth pull` and `berth push`: the daemon's progress messages drawn as one bar per layer on a
//! terminal (indicatif), or as plain status lines when the output is not one.

use crate::http::{query, ApiError, Client};
use base64::Engine;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal};

#[derive(Args)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    pub image: String,
    /// Platform to pick from a multi-platform image (os/arch)
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    pub image: String,
    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Args)]
pub struct AuthArgs {
    /// Registry user name (or BERTH_REGISTRY_USER)
    #[arg(short = 'u', long = "username", env = "BERTH_REGISTRY_USER")]
    pub username: Option<String>,
    /// Registry password (or BERTH_REGISTRY_PASSWORD)
    #[arg(long = "password", env = "BERTH_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl AuthArgs {
    fn header(&self) -> Vec<(&'static str, String)> {
        let json = serde_json::json!({"username": self.username.clone().unwrap_or_default(), "password": self.password.clone().unwrap_or_default()});
        vec![("X-Registry-Auth", base64::engine::general_purpose::URL_SAFE.encode(json.to_string()))]
    }
}

/// Draws the message stream; Err with the stream's error message if it ends with one.
fn show(r: impl std::io::Read) -> Result<(), ApiError> {
    let tty = std::io::stdout().is_terminal();
    let multi =
        MultiProgress::with_draw_target(if tty { ProgressDrawTarget::stdout() } else { ProgressDrawTarget::hidden() });
    let style =
        ProgressStyle::with_template("{prefix:.bold} {msg:<20} {wide_bar} {bytes}/{total_bytes}").expect("template");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    for line in BufReader::new(r).lines() {
        let line = line.map_err(|e| ApiError { status: 0, message: format!("reading the daemon's answer: {e}") })?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(e) = v["error"].as_str() {
            multi.clear().ok();
            return Err(ApiError { status: 500, message: e.to_string() });
        }
        let status = v["status"].as_str().unwrap_or("").to_string();
        match v["id"].as_str().filter(|id| id.len() == 12) {
            Some(id) => {
                let bar = bars.entry(id.to_string()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(0));
                    b.set_style(style.clone());
                    b.set_prefix(id.to_string());
                    b
                });
                let (cur, total) = (v["progressDetail"]["current"].as_u64(), v["progressDetail"]["total"].as_u64());
                if let (Some(c), Some(t)) = (cur, total) {
                    bar.set_length(t);
                    bar.set_position(c);
                }
                bar.set_message(status.clone());
                if status.ends_with("complete") || status == "Pushed" || status.contains("exists") {
                    bar.finish();
                }
                // Piped: one line per change of state, not per byte.
                if !tty && cur.is_none() {
                    println!("{id}: {status}");
                }
            }
            None => {
                if tty {
                    multi.println(&status).ok();
                } else {
                    println!("{status}");
                }
            }
        }
    }
    Ok(())
}

pub fn pull(c: &Client, a: PullArgs) -> Result<i32, ApiError> {
    let (image, tag) = match a.image.split_once('@') {
        Some((n, d)) => (n.to_string(), d.to_string()),
        None => match a.image.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
            _ => (a.image.clone(), "latest".to_string()),
        },
    };
    let mut q = vec![("fromImage", image), ("tag", tag)];
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let r = c.send_with("POST", &format!("/images/create{}", query(&q)), None, false, &a.auth.header())?.check()?;
    show(r)?;
    Ok(0)
}

pub fn push(c: &Client, a: PushArgs) -> Result<i32, ApiError> {
    let (name, tag) = match a.image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
        _ => (a.image.clone(), "latest".to_string()),
    };
    let r = c
        .send_with("POST", &format!("/images/{name}/push{}", query(&[("tag", tag)])), None, false, &a.auth.header())?
        .check()?;
    show(r)?;
    Ok(0)
}
