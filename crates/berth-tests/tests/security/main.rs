//! Containment (issue 13): each module is one part of it, driven through the docker CLI and raw
//! HTTP with real attacks and probes from inside containers.

mod host;
mod runtime;
mod seccomp;
mod spec;
mod userns;
