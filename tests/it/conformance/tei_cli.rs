//! text-embeddings-inference's command line and gRPC API, from its own files
//! (tests/specs/tei): every flag of its router's clap `Args` is taken by `embeddings serve`, every
//! environment variable it reads is read here too, and `proto/tei.proto` declares what ours does.

use std::path::Path;

use clap::CommandFactory;
use clap::Parser;
use embeddings::config::tei::ENVIRONMENT_ALIASES;
use embeddings::config::Cli;

fn spec(name: &str) -> String {
    let path = super::spec_file("tei", name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One field of TEI's `Args`: its flag, its variable, and whether it is a switch.
#[derive(Debug)]
struct TeiFlag {
    long: String,
    short: bool,
    env: Option<String>,
    kind: String,
}

/// The fields of `struct Args` in TEI's router/src/main.rs with the `#[clap(...)]` attributes
/// before each.
fn tei_flags() -> Vec<TeiFlag> {
    let source = spec("router-main.rs.txt");
    let body = source
        .split("struct Args {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("TEI's Args");
    let mut flags = Vec::new();
    let mut attributes = String::new();
    for line in body.lines().map(str::trim) {
        if let Some(attribute) = line.strip_prefix("#[clap(") {
            attributes.push_str(attribute);
            continue;
        }
        let Some((name, kind)) = line.strip_suffix(',').and_then(|l| l.split_once(": ")) else {
            continue;
        };
        if name.contains(' ') || name.starts_with("//") {
            continue;
        }
        let words: Vec<&str> = attributes.split([',', ')']).map(str::trim).collect();
        if words.contains(&"long") {
            let env = words.iter().find_map(|w| match *w {
                "env" => Some(name.to_uppercase()),
                w if w.starts_with("env =") => Some(w.trim_start_matches("env =").trim().trim_matches('"').to_owned()),
                _ => None,
            });
            flags.push(TeiFlag {
                long: format!("--{}", name.replace('_', "-")),
                short: words.contains(&"short"),
                env,
                kind: kind.to_owned(),
            });
        }
        attributes.clear();
    }
    flags
}

/// A value TEI accepts for a flag of this type.
fn example_value(flag: &TeiFlag) -> Option<&'static str> {
    match flag.kind.as_str() {
        "bool" => None,
        "Option<DType>" => Some("float16"),
        "Option<text_embeddings_backend::Pool>" => Some("last-token"),
        "usize" | "u16" | "Option<usize>" => Some("3001"),
        "Option<Vec<String>>" => Some("http://localhost:3000"),
        _ => Some("x"),
    }
}

#[test]
fn every_flag_of_teis_router_is_taken() {
    let flags = tei_flags();
    assert!(flags.len() >= 25, "TEI's Args read: {flags:?}");
    let mut refused = Vec::new();
    for flag in &flags {
        let mut line = vec!["embeddings".to_owned(), "serve".to_owned()];
        if flag.long != "--model-id" {
            line.extend(["--model-id".to_owned(), "org/model".to_owned()]);
        }
        line.push(flag.long.clone());
        line.extend(example_value(flag).map(str::to_owned));
        if let Err(error) = Cli::try_parse_from(&line) {
            refused.push(format!("{}: {error}", line.join(" ")));
        }
    }
    let short = flags.iter().filter(|f| f.short).count();
    assert_eq!(short, 1, "TEI has one short flag, -p");
    if let Err(error) = Cli::try_parse_from(["embeddings", "serve", "--model-id", "org/model", "-p", "80"]) {
        refused.push(format!("-p 80: {error}"));
    }
    assert!(refused.is_empty(), "TEI's flags refused:\n{}", refused.join("\n"));
}

#[test]
fn every_environment_variable_of_teis_router_is_read() {
    let command = Cli::command();
    let serve = command.find_subcommand("serve").expect("serve");
    let ours: Vec<String> = serve
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    // Read under our names (adopted before the command line is parsed), or for JSON_OUTPUT, as
    // the log format; HOSTNAME is left out on purpose (docs/migrating-from-tei.md).
    let adopted: Vec<&str> = ENVIRONMENT_ALIASES.iter().map(|(tei, _)| *tei).collect();
    let unread: Vec<String> = tei_flags()
        .into_iter()
        .filter_map(|flag| flag.env)
        .filter(|env| !ours.contains(env) && !adopted.contains(&env.as_str()))
        .filter(|env| !matches!(env.as_str(), "JSON_OUTPUT" | "HOSTNAME"))
        .collect();
    assert!(unread.is_empty(), "TEI's variables not read: {unread:?}");
}

/// A .proto file's declarations with comments and spacing taken out.
fn declarations(proto: &str) -> String {
    let code: Vec<&str> = proto
        .lines()
        .map(|line| line.split("//").next().unwrap_or("").trim())
        .collect();
    code.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" {", "{")
        .replace("{ ", "{")
        .replace(" }", "}")
        .replace(" ;", ";")
}

#[test]
fn our_grpc_api_declares_exactly_teis_proto() {
    let ours = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/tei.proto")).expect("ours");
    assert_eq!(
        declarations(&ours),
        declarations(&spec("tei.proto")),
        "the same package, services, methods, messages, fields, numbers and enum values"
    );
}
