//! The part of Go's text/template that `--format`/`-f` users reach for: `{{.A.B}}`,
//! `{{json .A}}`, `{{.A}}` on maps/lists, and literal text.

use serde_json::Value;

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for key in path.trim_start_matches('.').split('.').filter(|k| !k.is_empty()) {
        cur = cur.get(key)?;
    }
    Some(cur)
}

/// Go's default formatting of a value: strings bare, maps as `map[k:v]`, lists as `[a b]`.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_fmt(v))).collect::<Vec<_>>().join(" "))
        }
    }
}

/// Renders `tmpl` against `v`; unknown actions are an error.
pub fn render(tmpl: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| format!("template: unclosed action in {tmpl:?}"))? + start;
        let action = rest[start + 2..end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        let value = if let Some(arg) = action.strip_prefix("json ") {
            let x = lookup(v, arg.trim()).cloned().unwrap_or(Value::Null);
            serde_json::to_string(&x).unwrap_or_default()
        } else if let Some(arg) = action.strip_prefix("index ") {
            // {{index .Config.Labels "key"}}
            let (path, key) =
                arg.trim().split_once(' ').ok_or_else(|| format!("template: index needs a key: {action:?}"))?;
            let key = key.trim().trim_matches('"');
            let base = lookup(v, path.trim());
            let item = match base {
                Some(Value::Array(a)) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                Some(b) => b.get(key),
                None => None,
            };
            item.map(go_fmt).unwrap_or_else(|| "<no value>".into())
        } else if let Some(arg) = action.strip_prefix("lower ") {
            lookup(v, arg.trim()).map(go_fmt).unwrap_or_default().to_lowercase()
        } else if action.starts_with('.') {
            lookup(v, action).map(go_fmt).unwrap_or_else(|| "<no value>".into())
        } else {
            return Err(format!("template: unsupported action {{{{{action}}}}}"));
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out.replace("\\n", "\n").replace("\\t", "\t"))
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn fields_json_and_text() {
        let v = json!({"State": {"Pid": 42, "Running": true}, "Name": "/x", "Config": {"Env": ["A=1"], "Labels": {"a": "b"}}});
        assert_eq!(render("{{.State.Pid}}", &v).unwrap(), "42");
        assert_eq!(render("{{.Name}} {{.State.Running}}", &v).unwrap(), "/x true");
        assert_eq!(render("{{json .Config.Env}}", &v).unwrap(), "[\"A=1\"]");
        assert_eq!(render("{{.Config.Labels}}", &v).unwrap(), "map[a:b]");
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(render("{{range .X}}", &v).is_err());
        assert_eq!(render("{{index .Config.Labels \"a\"}}", &v).unwrap(), "b");
        assert_eq!(render("{{index .Config.Env 0}}", &v).unwrap(), "A=1");
        assert_eq!(render("{{ .State.Pid }}\\n", &v).unwrap(), "42\n");
        assert!(render("{{.State.Pid", &v).is_err());
    }
}
