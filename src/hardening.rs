//! Process hardening done once at start-up.
//!
//! A core dump of the sidecar would hold credential values and the API key in plain text, so
//! core dumps are turned off before any secret is loaded.

/// Disables core dumps for this process (Linux and other Unix systems).
pub fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_limit_is_zero_after() {
        super::disable_core_dumps().unwrap();
        #[cfg(unix)]
        assert_eq!(rlimit::getrlimit(rlimit::Resource::CORE).unwrap(), (0, 0));
    }
}
