//! The container's processes start with no signal ignored and none blocked, as under Docker.
//!
//! Ignored dispositions and the blocked mask survive `execve`. This process ignores SIGPIPE
//! (Rust's runtime does) and inherits whatever its callers ignored or blocked; without the reset
//! a container's `yes | head` never dies of SIGPIPE. The executor wraps the one that runs the
//! process (the default, or the seccomp one for an exec) and resets the state just before it.

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError};
use oci_spec::runtime::Spec;
use std::collections::HashMap;

#[derive(Clone)]
pub struct CleanSignals {
    inner: Box<dyn Executor>,
}

impl CleanSignals {
    pub fn wrap(inner: Option<Box<dyn Executor>>) -> CleanSignals {
        CleanSignals { inner: inner.unwrap_or_else(|| Box::new(DefaultExecutor {})) }
    }
}

impl Executor for CleanSignals {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        berth_sys::signals::reset_all()
            .map_err(|e| ExecutorError::Other(format!("resetting signal dispositions: {e}")))?;
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        self.inner.setup_envs(envs)
    }
}
