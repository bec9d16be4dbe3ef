//! Process hardening done once at start-up.
//!
//! A core dump of the sidecar would hold credential values and the API key in plain text, so
//! core dumps are turned off before any secret is loaded: the core size limit goes to zero and,
//! on Linux, the process is marked not dumpable (`PR_SET_DUMPABLE` 0), which also keeps
//! processes of the same user from attaching to it with ptrace or reading its memory through
//! `/proc/<pid>/mem`, and hands its `/proc/<pid>` files to root.

/// Disables core dumps for this process (Linux and other Unix systems) and, on Linux, marks it
/// not dumpable.
pub fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)?;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_limit_is_zero_and_the_process_not_dumpable_after() {
        super::disable_core_dumps().unwrap();
        #[cfg(unix)]
        assert_eq!(rlimit::getrlimit(rlimit::Resource::CORE).unwrap(), (0, 0));
        #[cfg(target_os = "linux")]
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
