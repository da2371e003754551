//! Corpus of Dockerfiles under `tests/corpus/`: each `NAME.Dockerfile` is parsed and the
//! pretty-printed `Result` compared with the checked-in `NAME.expected` (reviewed by hand; the
//! dumps spell out every field, error lines included). After an intended change, regenerate
//! with `BLESS=1 cargo test -p berth-dockerfile --test corpus` and review the diff.

use std::path::Path;

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("utf-8 Dockerfile");
        let got = format!("{:#?}\n", berth_dockerfile::parse(&text));
        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", case.display())),
            Err(_) => failures.push(format!("{}: no .expected file", case.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// A few properties asserted directly, so the most important behaviour does not rest on the
/// dumps alone.
#[test]
fn key_properties() {
    use berth_dockerfile::{parse, Kind, ShellOrExec};
    let df = parse("FROM a AS Build\nRUN x \\\n  # c\n  y\nCMD [\"z\"]\n").unwrap();
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    let run = &df.stages[0].instructions[0];
    assert_eq!((run.line, run.original.as_str()), (2, "RUN x   y"));
    assert_eq!(run.kind, Kind::Run(ShellOrExec::Shell("x   y".into())));
    assert_eq!(df.stages[0].instructions[1].kind, Kind::Cmd(ShellOrExec::Exec(vec!["z".into()])));
    let e = parse("FROM a\n\nFOO\n").unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (3, "unknown instruction: FOO"));
    assert_eq!(e.to_string(), "dockerfile parse error line 3: unknown instruction: FOO");
}
