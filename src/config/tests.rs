use super::*;
use clap::CommandFactory;
use std::path::Path;

#[test]
fn cli_is_well_formed_and_defaults_match_the_docs() {
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from(["embeddings", "serve"]).expect("parses");
    let Command::Serve(serve) = cli.command else {
        panic!("serve expected")
    };
    assert_eq!(serve.address(), ("127.0.0.1".to_owned(), 11445));
    assert_eq!(serve.prometheus_port(), None);
    let Command::Serve(tei) = Cli::try_parse_from(["embeddings", "serve", "--model-id", "org/model"])
        .expect("parses")
        .command
    else {
        panic!("serve expected")
    };
    assert_eq!(tei.address(), ("0.0.0.0".to_owned(), 3000), "TEI's defaults");
    assert_eq!(tei.prometheus_port(), Some(9000));
    assert_eq!(serve.models.models_file, PathBuf::from("supported_models.txt"));
    assert_eq!(serve.device, DeviceChoice::Auto);
    assert_eq!(serve.precision.dtype.precision, Precision::Float32);
    assert_eq!(serve.precision.cpu_kernels.0, None);
    assert_eq!(serve.protection.header_read_timeout, Duration::from_secs(10));
    assert_eq!(serve.protection.shutdown_timeout, Duration::from_secs(30));
    // The flags' defaults (written as text for clap) are the structs' defaults.
    assert_eq!(serve.protection.connections(), ConnectionSettings::default());
    assert_eq!(serve.tuning.limits(&serve.protection), Limits::default());
    assert_eq!(serve.tuning.cache_bytes, crate::service::DEFAULT_CACHE_BYTES);
    assert_eq!(serve.memory.settings(), crate::model_store::MemorySettings::default());
    let budget = [
        "embeddings",
        "serve",
        "--max-loaded-bytes",
        "2GiB",
        "--keep-alive",
        "5m",
    ];
    let Command::Serve(budget) = Cli::try_parse_from(budget).expect("parses").command else {
        panic!("serve expected")
    };
    assert_eq!(budget.memory.max_loaded_bytes, Some(2 << 30));
    assert_eq!(
        budget.memory.keep_alive,
        crate::model_store::KeepAlive::For(Duration::from_secs(300))
    );
    assert!(Cli::try_parse_from(["embeddings", "serve", "--idle-timeout", "0"]).is_err());
    let fast = Cli::try_parse_from(["embeddings", "serve", "--request-timeout", "0.5"]).expect("parses");
    let Command::Serve(fast) = fast.command else {
        panic!("serve expected")
    };
    assert_eq!(fast.protection.request_timeout, Duration::from_millis(500));
}

#[test]
fn help_names_the_environment_variables() {
    assert!(Cli::command()
        .render_long_help()
        .to_string()
        .contains("EMBEDDINGS_LOG_FORMAT"));
    let help = Cli::command()
        .find_subcommand_mut("serve")
        .expect("serve")
        .render_long_help()
        .to_string();
    for var in [
        "EMBEDDINGS_HOST",
        "EMBEDDINGS_PORT",
        "EMBEDDINGS_MODELS_FILE",
        "EMBEDDINGS_DEVICE",
        "EMBEDDINGS_PRELOAD",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[test]
fn preload_values() {
    let registry = Registry::parse("a/one x\nb/two\n", Path::new(".")).expect("registry");
    assert_eq!(preload_selection("first", &registry).unwrap().len(), 1);
    assert_eq!(preload_selection("all", &registry).unwrap().len(), 2);
    assert!(preload_selection("none", &registry).unwrap().is_empty());
    assert_eq!(preload_selection("x, two", &registry).unwrap()[1].id, "b/two");
    assert!(preload_selection("nope", &registry).is_err());
}
