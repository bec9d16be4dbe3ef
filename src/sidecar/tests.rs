//! Unit tests of `sidecar`.

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};
use crate::Secret;

fn serve_args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["libretto-sidecar", "serve"];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Serve(args) => *args,
        other => panic!("not serve: {other:?}"),
    }
}

#[test]
fn a_key_is_required_without_the_mock() {
    let err = ServeConfig::from_args(&serve_args(&[]), None).unwrap_err();
    assert!(matches!(err, StartError::MissingKey));
    assert!(err.to_string().contains("LIBRETTO_API_KEY"));
    assert!(err.to_string().contains("--api-key-file"));
    assert!(ServeConfig::from_args(&serve_args(&[]), Some(Secret::new(""))).is_err());
}

#[test]
fn the_key_file_wins_over_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "from-file\n").unwrap();
    let args = serve_args(&["--api-key-file", path.to_str().unwrap()]);
    let config = ServeConfig::from_args(&args, Some(Secret::new("from-env"))).unwrap();
    assert!(config.api_key.unwrap().ct_eq(b"from-file"));
}

#[cfg(not(feature = "mock"))]
#[test]
fn mock_is_refused_by_a_build_without_it() {
    for args in [
        &["--mock"][..],
        &["--mock", "--upstream", "http://127.0.0.1:1"],
    ] {
        let err = ServeConfig::from_args(&serve_args(args), Some(Secret::new("k"))).unwrap_err();
        assert!(matches!(err, StartError::MockNotBuilt), "{err}");
        let text = err.to_string();
        assert!(text.contains("without the `mock` feature"), "{text}");
        assert!(text.contains("--upstream"), "{text}");
    }
}

#[cfg(feature = "mock")]
#[test]
fn mock_needs_no_key_and_wins_over_the_upstream() {
    let config = ServeConfig::from_args(&serve_args(&["--mock"]), None).unwrap();
    assert_eq!(config.upstream, UpstreamChoice::Mock);
    let args = serve_args(&["--mock", "--upstream", "http://127.0.0.1:1"]);
    let config = ServeConfig::from_args(&args, None).unwrap();
    assert_eq!(config.upstream, UpstreamChoice::Mock);
}

#[test]
fn a_zero_timeout_and_a_url_with_user_info_are_refused() {
    let key = || Some(Secret::new("k"));
    let err =
        ServeConfig::from_args(&serve_args(&["--upstream-timeout", "0s"]), key()).unwrap_err();
    assert!(matches!(err, StartError::ZeroTimeout), "{err}");
    assert!(err.to_string().contains("--upstream-timeout"));
    let args = serve_args(&["--upstream", "http://user:hunter2@127.0.0.1:1/"]);
    let err = ServeConfig::from_args(&args, key()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("user name or password"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn defaults_follow_the_documentation() {
    let config = ServeConfig::from_args(&serve_args(&[]), Some(Secret::new("k"))).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(
        config.upstream,
        UpstreamChoice::Url("https://api.libretto.sh".into())
    );
    assert_eq!(config.upstream_timeout, Duration::from_secs(30));
    assert_eq!(config.proxy.max_body, 1 << 20);
    assert_eq!(config.cache.ttl, Duration::from_secs(60));
    assert_eq!(config.cache.negative_ttl, Duration::from_secs(5));
    assert_eq!(config.cache.capacity, 10_000);
    assert!(!config.proxy.resolve_schedules);
    assert_eq!(config.ops.admin_listen.to_string(), "127.0.0.1:8789");
    assert_eq!(config.ops.shutdown_grace, Duration::from_secs(10));
    assert!(config.ops.prefetch.is_empty());
    assert!(
        config.ops.key_file.is_none(),
        "the key came from the environment"
    );
    assert_eq!(config.cache.stale_if_error, None);
    assert_eq!(
        config.server.worker_threads,
        crate::runtime::workers::default_count()
    );
}

#[test]
fn workers_are_counted_from_one() {
    let args = serve_args(&["--workers", "3"]);
    let config = ServeConfig::from_args(&args, Some(Secret::new("k"))).unwrap();
    assert_eq!(config.server.worker_threads, 3);
    let mut argv = vec!["libretto-sidecar", "serve", "--workers", "0"];
    assert!(Cli::try_parse_from(&argv).is_err());
    argv[3] = "-1";
    assert!(Cli::try_parse_from(&argv).is_err());
}

#[test]
fn operations_flags_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "k").unwrap();
    let args = serve_args(&[
        "--api-key-file",
        path.to_str().unwrap(),
        "--admin-listen",
        "0.0.0.0:9000",
        "--prefetch",
        "a, b,,c",
        "--shutdown-grace",
        "2s",
        "--stale-if-error",
        "5m",
    ]);
    let config = ServeConfig::from_args(&args, None).unwrap();
    assert_eq!(config.ops.admin_listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.ops.prefetch, ["a", "b", "c"]);
    assert_eq!(config.ops.shutdown_grace, Duration::from_secs(2));
    assert_eq!(config.ops.key_file.as_deref(), Some(path.as_path()));
    assert_eq!(config.cache.stale_if_error, Some(Duration::from_secs(300)));
}

#[test]
fn a_bad_upstream_url_is_refused() {
    let args = serve_args(&["--upstream", "ftp://x"]);
    assert!(matches!(
        ServeConfig::from_args(&args, Some(Secret::new("k"))),
        Err(StartError::Upstream(_))
    ));
}
