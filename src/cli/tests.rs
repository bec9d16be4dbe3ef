//! Unit tests of `cli`.

use super::*;
use std::time::Duration;

#[test]
fn header_sizes_under_8_kib_are_refused() {
    assert_eq!(parse_header_size("8KiB"), Ok(8192));
    assert_eq!(parse_header_size("64KiB"), Ok(64 << 10));
    let refused = parse_header_size("8191").unwrap_err();
    assert!(refused.contains("at least 8KiB"), "{refused}");
    let err = Cli::try_parse_from(["libretto-sidecar", "serve", "--max-header-bytes", "4KiB"])
        .expect_err("a 4KiB head limit is refused");
    let text = err.to_string();
    assert!(
        text.contains("at least 8KiB: the HTTP/1.1 server's smallest read buffer"),
        "{text}"
    );
}

#[test]
fn sizes() {
    assert_eq!(parse_size("1MiB"), Ok(1 << 20));
    assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
    assert_eq!(parse_size("1000"), Ok(1000));
    assert!(parse_size("1 parsec").is_err());
    assert!(parse_size("0").is_err());
}

#[cfg(feature = "mock")]
#[test]
fn job_durations() {
    assert_eq!(parse_job_duration("never"), Ok(JobDuration::Never));
    assert_eq!(
        parse_job_duration("2s"),
        Ok(JobDuration::After(Duration::from_secs(2)))
    );
    assert!(parse_job_duration("soon").is_err());
}

#[test]
fn prefetch_names_follow_the_placeholder_grammar() {
    assert_eq!(parse_credential_name(" portal "), Ok("portal".into()));
    assert_eq!(parse_credential_name(""), Ok(String::new()));
    for bad in ["a/b", "{x}", "a b", "a}", "tab\tname"] {
        assert!(parse_credential_name(bad).is_err(), "{bad}");
    }
    assert!(Cli::try_parse_from(["libretto-sidecar", "serve", "--prefetch", "ok,a/b"]).is_err());
}

#[test]
fn switches_take_boolish_values_from_the_environment() {
    use clap::{CommandFactory, FromArgMatches};
    // Each switch read from a variable of this test's own, so no other test sees it.
    let switches = [
        ("mock", "LIBRETTO_CLI_TEST_MOCK"),
        ("resolve_schedules", "LIBRETTO_CLI_TEST_RESOLVE_SCHEDULES"),
        (
            "allow_credential_reads",
            "LIBRETTO_CLI_TEST_ALLOW_CREDENTIAL_READS",
        ),
        ("allow_remote", "LIBRETTO_CLI_TEST_ALLOW_REMOTE"),
        ("allow_forwarded", "LIBRETTO_CLI_TEST_ALLOW_FORWARDED"),
    ];
    for (id, var) in switches {
        let parse = |value: &str| {
            // clap reads the variable when the argument is built.
            std::env::set_var(var, value);
            let matches = Cli::command()
                .mut_subcommand("serve", |serve| serve.mut_arg(id, |arg| arg.env(var)))
                .try_get_matches_from(["libretto-sidecar", "serve"])
                .ok()?;
            let Command::Serve(args) = Cli::from_arg_matches(&matches).ok()?.command else {
                return None;
            };
            Some(match id {
                "mock" => args.mock,
                "resolve_schedules" => args.resolve_schedules,
                "allow_credential_reads" => args.allow_credential_reads,
                "allow_remote" => args.allow_remote,
                _ => args.allow_forwarded,
            })
        };
        for on in ["1", "true", "yes", "on", "Y", "t"] {
            assert_eq!(parse(on), Some(true), "{id}={on}");
        }
        for off in ["0", "false", "no", "off", "n", "F"] {
            assert_eq!(parse(off), Some(false), "{id}={off}");
        }
        assert_eq!(parse("maybe"), None, "{id}");
        std::env::remove_var(var);
    }
}

#[test]
fn subcommand_versions_name_the_program() {
    use clap::CommandFactory;
    let mut command = Cli::command();
    command.build();
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        assert_eq!(
            sub.render_version().trim(),
            format!("libretto-sidecar {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn cli_is_well_formed() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
