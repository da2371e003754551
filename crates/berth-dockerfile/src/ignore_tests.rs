use super::*;

fn matches(patterns: &[&str], path: &str) -> bool {
    Ignore::parse(&patterns.join("\n")).expect("valid patterns").is_excluded(path)
}

/// patternmatcher's table for `MatchesOrParentMatches` (single pattern, path, expected).
#[test]
fn patternmatcher_table() {
    let table: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("a\\*b", "a*b", true),
    ];
    for &(pattern, path, want) in table {
        assert_eq!(matches(&[pattern], path), want, "pattern {pattern:?} path {path:?}");
    }
}

#[test]
fn patternmatcher_multi_pattern_table() {
    let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
    assert!(!matches(&["**", "!util/docker/web"], "util/docker/web/foo"));
    assert!(matches(&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo"));
    assert!(!matches(&["**", &format!("!{whl}")], whl));
    assert!(!matches(&["**", "!dist/*.whl"], whl));
}

#[test]
fn patternmatcher_simple_cases() {
    assert!(matches(&["*"], "fileutils.go"));
    assert!(matches(&["*.go"], "fileutils.go"));
    // Last match wins: an exception before the pattern does not help.
    assert!(matches(&["!fileutils.go", "*.go"], "fileutils.go"));
    assert!(!matches(&["*.go", "!fileutils.go"], "fileutils.go"));
    // A folder with an exception below it (with and without trailing slash, with `*`).
    assert!(!matches(&["docs", "!docs/README.md"], "docs/README.md"));
    assert!(!matches(&["docs/", "!docs/README.md"], "docs/README.md"));
    assert!(!matches(&["docs/*", "!docs/README.md"], "docs/README.md"));
    assert!(!matches(&[], "any/path/there"));
    // The parent rule: anything under an excluded directory is excluded.
    assert!(matches(&["docs"], "docs/a/b/c"));
    assert!(!matches(&["docs"], "docsx/a"));
}

#[test]
fn malformed_patterns_are_refused() {
    assert_eq!(Ignore::parse("!").unwrap_err(), IgnoreError("illegal exclusion pattern: \"!\"".into()));
    assert_eq!(Ignore::parse("! ").unwrap_err(), IgnoreError("illegal exclusion pattern: \"!\"".into()));
    for bad in ["[", "a[", "[]", "[a-]", "a\\"] {
        assert_eq!(Ignore::parse(bad).unwrap_err(), IgnoreError("syntax error in pattern".into()), "{bad:?}");
    }
    assert!(Ignore::parse("[a-c]x").is_ok());
}

/// docker-py's `.dockerignore` test case.
#[test]
fn docker_py_case() {
    let text = "ignored\nDockerfile\n.dockerignore\n ignored-with-spaces \n!ignored/subdir/excepted-file\n! ignored/subdir/excepted-with-spaces\n\n#*\n";
    let ig = Ignore::parse(text).unwrap();
    assert!(ig.has_exceptions());
    assert!(!ig.is_excluded("#file.txt"), "`#*` is a comment, not a pattern");
    assert!(!ig.is_excluded("not-ignored"));
    assert!(ig.is_excluded("ignored/subdir/file"));
    assert!(ig.is_excluded("ignored"));
    assert!(ig.is_excluded("ignored-with-spaces"));
    assert!(ig.is_excluded("Dockerfile"));
    assert!(ig.is_excluded(".dockerignore"));
    assert!(!ig.is_excluded("ignored/subdir/excepted-file"));
    assert!(!ig.is_excluded("ignored/subdir/excepted-with-spaces"));
}

#[test]
fn reader_rules() {
    // Leading slash dropped, paths cleaned, CRLF and BOM accepted, ` #x` is a pattern.
    let ig = Ignore::parse("\u{feff}/abs\r\n./a/../b//c/\r\n #hash\n").unwrap();
    assert!(!ig.has_exceptions());
    assert!(ig.is_excluded("abs"));
    assert!(ig.is_excluded("b/c"));
    assert!(ig.is_excluded("b/c/d"));
    assert!(!ig.is_excluded("a"));
    assert!(ig.is_excluded("#hash"));
    assert!(Ignore::parse("# only a comment\n\n").unwrap().is_empty());
}

#[test]
fn clean_is_go_filepath_clean() {
    for (input, want) in [
        ("", "."),
        ("a/b/", "a/b"),
        ("a//b", "a/b"),
        ("./a", "a"),
        ("a/./b/..", "a"),
        ("../a", "../a"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("/", "/"),
    ] {
        assert_eq!(clean(input), want, "{input:?}");
    }
}
