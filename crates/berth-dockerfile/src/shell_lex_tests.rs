use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/root".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("a  b".into()),
        "FILE" => Some("dir/archive.tar.gz".into()),
        _ => None,
    }
}

fn word(s: &str) -> Result<String, ExpandError> {
    ShellLex::new('\\').process_word(s, &env)
}

fn ok(s: &str) -> String {
    word(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn err(s: &str) -> String {
    word(s).expect_err(s).0
}

#[test]
fn plain_variables() {
    assert_eq!(ok("$HOME/x"), "/root/x");
    assert_eq!(ok("${HOME}x"), "/rootx");
    assert_eq!(ok("a$NOPE.b"), "a.b");
    assert_eq!(ok("${NOPE}"), "");
    // A `$` not followed by a name stays literal, also at the end.
    assert_eq!(ok("cost: 5$"), "cost: 5$");
    assert_eq!(ok("$.x"), "$.x");
    assert_eq!(ok("$"), "$");
}

#[test]
fn every_modifier() {
    // `-`: default when unset; `:-` also when empty.
    assert_eq!(ok("${NOPE-d}"), "d");
    assert_eq!(ok("${EMPTY-d}"), "");
    assert_eq!(ok("${EMPTY:-d}"), "d");
    assert_eq!(ok("${HOME:-d}"), "/root");
    // `+`: alternative when set; `:+` only when non-empty.
    assert_eq!(ok("${HOME+alt}"), "alt");
    assert_eq!(ok("${EMPTY+alt}"), "alt");
    assert_eq!(ok("${EMPTY:+alt}"), "");
    assert_eq!(ok("${NOPE+alt}"), "");
    // `?` and `:?`: error when unset (or empty), the word being the message.
    assert_eq!(ok("${HOME?}"), "/root");
    assert_eq!(ok("${EMPTY?}"), "");
    assert_eq!(err("${NOPE?}"), r#"failed to process "${NOPE?}": NOPE: is not allowed to be unset"#);
    assert_eq!(err("${EMPTY:?}"), r#"failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty"#);
    assert_eq!(err("${NOPE:?set it}"), r#"failed to process "${NOPE:?set it}": NOPE: set it"#);
    // Nested expansion in the word.
    assert_eq!(ok("${NOPE:-${HOME}/d}"), "/root/d");
    assert_eq!(ok("${NOPE:-${ALSO:-z}}"), "z");
    // The pattern operators BuildKit (and so moby's classic builder) supports.
    assert_eq!(ok("${FILE#*.}"), "tar.gz");
    assert_eq!(ok("${FILE##*.}"), "gz");
    assert_eq!(ok("${FILE%.*}"), "dir/archive.tar");
    assert_eq!(ok("${FILE%%.*}"), "dir/archive");
    assert_eq!(ok("${FILE/a/A}"), "dir/Archive.tar.gz");
    assert_eq!(ok("${FILE//a/A}"), "dir/Archive.tAr.gz");
}

#[test]
fn unknown_modifiers_and_bad_braces() {
    assert!(err("${HOME:=x}").contains("unsupported modifier (:=) in substitution"));
    assert!(err("${HOME:#x}").contains("unsupported modifier (:#) in substitution"));
    assert!(err("${HOME^}").contains("unsupported modifier (^) in substitution"));
    assert!(err("${}").contains("bad substitution"));
    assert!(err("${:-x}").contains("bad substitution"));
    assert!(err("${HOME").contains("missing '}'"));
    assert!(err("${HOME:-x").contains("missing '}'"));
    assert!(err("${").contains("missing '}'"));
}

#[test]
fn quotes() {
    // Single quotes: nothing expands, the escape character is literal.
    assert_eq!(ok("'$HOME'"), "$HOME");
    assert_eq!(ok(r"'a\b'"), r"a\b");
    // Double quotes: variables expand, the escape only escapes `"`, `$` and itself.
    assert_eq!(ok(r#""$HOME x""#), "/root x");
    assert_eq!(ok(r#""a\"b""#), r#"a"b"#);
    assert_eq!(ok(r#""\$HOME""#), "$HOME");
    assert_eq!(ok(r#""a\\b""#), r"a\b");
    assert_eq!(ok(r#""a\tb""#), r"a\tb");
    assert_eq!(ok(r#"he'll'o"#), "hello");
    assert_eq!(ok(r#""it's""#), "it's");
    // Outside quotes the escape makes the next character literal.
    assert_eq!(ok(r"\$HOME"), "$HOME");
    assert_eq!(ok(r"a\ b"), "a b");
    assert_eq!(ok(r"a\tb"), "atb");
    // A lone trailing escape is dropped.
    assert_eq!(ok("abc\\"), "abc");
}

#[test]
fn unterminated_quotes() {
    assert_eq!(
        err("'abc"),
        r#"failed to process "'abc": unexpected end of statement while looking for matching single-quote"#
    );
    assert_eq!(
        err(r#""abc"#),
        r#"failed to process "\"abc": unexpected end of statement while looking for matching double-quote"#
    );
    assert!(err(r#""abc\""#).contains("double-quote"));
}

#[test]
fn backtick_escape() {
    let lex = ShellLex::new('`');
    let w = |s: &str| lex.process_word(s, &env).unwrap();
    // The backslash is an ordinary character (Windows paths)...
    assert_eq!(w(r"C:\dir\$HOME"), r"C:\dir\/root");
    // ...and the backtick escapes.
    assert_eq!(w("`$HOME"), "$HOME");
    assert_eq!(w("\"a`\"b\""), "a\"b");
    assert_eq!(w("a` b"), "a b");
}

#[test]
fn words_split_on_unquoted_whitespace() {
    let lex = ShellLex::new('\\');
    let ws = |s: &str| lex.process_words(s, &env).unwrap();
    assert_eq!(ws("80/tcp  443"), ["80/tcp", "443"]);
    assert_eq!(ws(r#"/a "/b c" d\ e"#), ["/a", "/b c", "d e"]);
    // An unquoted variable's value is split, a quoted one is not.
    assert_eq!(ws("x$SPACED"), ["xa", "b"]);
    assert_eq!(ws(r#"x"$SPACED""#), ["xa  b"]);
    assert_eq!(ws("$NOPE"), Vec::<String>::new());
    assert_eq!(ws("x${NOPE:-b} y"), ["xb", "y"]);
    assert_eq!(ws(""), Vec::<String>::new());
    assert!(lex.process_words("'open", &env).is_err());
}
