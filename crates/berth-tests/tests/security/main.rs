//! Issue 13: containment, probed from inside containers through the docker CLI.

mod seccomp;
