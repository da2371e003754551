//! Containment tests of issue 13: real attacks and probes from inside containers.

mod spec;
