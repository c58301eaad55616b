//! Parsing the models file: entries, options, names and their errors.

use super::*;

fn registry(text: &str) -> Registry {
    Registry::parse(text, Path::new("/models")).expect("valid registry")
}

#[test]
fn parses_ids_revisions_aliases_comments_and_paths() {
    let r = registry(
        "# comment\n\nsentence-transformers/all-MiniLM-L6-v2 minilm default  # trailing\n\
         BAAI/bge-small-en-v1.5@v1.0\n./local/tiny tiny\n",
    );
    assert_eq!(r.specs().len(), 3);
    let minilm = &r.specs()[0];
    assert_eq!(minilm.aliases, vec!["minilm", "default"]);
    assert_eq!(
        minilm.source,
        ModelSource::Hub {
            repo_id: "sentence-transformers/all-MiniLM-L6-v2".into(),
            revision: "main".into()
        }
    );
    assert_eq!(
        r.specs()[1].source,
        ModelSource::Hub {
            repo_id: "BAAI/bge-small-en-v1.5".into(),
            revision: "v1.0".into()
        }
    );
    assert_eq!(
        r.specs()[2].source,
        ModelSource::Local {
            path: PathBuf::from("/models/./local/tiny")
        }
    );
    assert_eq!(r.specs()[2].owner(), "local");
    assert_eq!(minilm.owner(), "sentence-transformers");
}

#[test]
fn resolves_by_id_alias_and_unambiguous_short_name() {
    let r = registry("a/shared\nb/shared\nsentence-transformers/all-MiniLM-L6-v2 mini\n");
    let id = "sentence-transformers/all-MiniLM-L6-v2";
    assert_eq!(r.resolve(id).map(|s| s.id.as_str()), Some(id));
    assert_eq!(r.resolve("mini").map(|s| s.id.as_str()), Some(id));
    assert_eq!(r.resolve("all-MiniLM-L6-v2").map(|s| s.id.as_str()), Some(id));
    assert!(r.resolve("shared").is_none(), "ambiguous short names are not resolved");
    assert_eq!(r.resolve("a/shared").map(|s| s.id.as_str()), Some("a/shared"));
    assert!(r.resolve("text-embedding-3-small").is_none());
    assert!(
        r.resolve("all-minilm-l6-v2").is_none(),
        "names are case-sensitive like hub ids"
    );
}

#[test]
fn rejects_bad_lines_with_their_line_number() {
    let err = Registry::parse("ok/model\nnot/a/valid/id\n", Path::new(".")).unwrap_err();
    assert_eq!(err.0, 2);
    let err = Registry::parse("x/y@\n", Path::new(".")).unwrap_err();
    assert!(err.1.contains("empty revision"));
    let err = Registry::parse("x/y\nx/y\n", Path::new(".")).unwrap_err();
    assert!(err.1.contains("give this line an alias"), "{}", err.1);
    let err = Registry::parse("x/y same\nz/w same\n", Path::new(".")).unwrap_err();
    assert!(err.1.contains("used by both"));
}

#[test]
fn options_follow_the_aliases_and_quotes_keep_spaces() {
    let r = registry(
        "intfloat/e5-small-v2\n\
         intfloat/e5-small-v2  e5-query prompt=\"query: \"  # the query side\n\
         intfloat/e5-small-v2  e5-passage prompt=\"passage: \" pooling=mean\n\
         BAAI/bge-small-en-v1.5 bge prompt_name=query pooling=CLS\n",
    );
    let ids: Vec<&str> = r.specs().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "intfloat/e5-small-v2",
            "e5-query",
            "e5-passage",
            "BAAI/bge-small-en-v1.5"
        ]
    );
    assert_eq!(r.specs()[1].options.prompt.as_deref(), Some("query: "));
    assert_eq!(r.specs()[2].options.pooling, Some(PoolingMode::Mean));
    assert_eq!(r.specs()[3].options.prompt_name.as_deref(), Some("query"));
    assert_eq!(r.specs()[3].options.pooling, Some(PoolingMode::Cls));
    assert_eq!(r.specs()[1].weights_key(), r.specs()[0].weights_key());
    // The repo id and its short name name the first line.
    assert_eq!(
        r.resolve("e5-small-v2").map(|s| s.id.as_str()),
        Some("intfloat/e5-small-v2")
    );
    assert_eq!(r.resolve("e5-passage").map(|s| s.id.as_str()), Some("e5-passage"));
    assert_eq!(
        registry("a/b x prompt=\"say #1: \"\n").specs()[0]
            .options
            .prompt
            .as_deref(),
        Some("say #1: ")
    );
}

#[test]
fn a_number_format_per_line_gets_its_own_copy_of_the_weights() {
    let r = registry("a/b\na/b fast dtype=bf16\nc/d\n").with_default_precision(Precision::BFloat16);
    let [exact, fast, other] = r.specs() else {
        panic!("three entries");
    };
    assert_eq!(fast.id, "fast", "a repeated repository still needs its alias");
    assert_eq!(
        exact.precision(),
        Precision::BFloat16,
        "--dtype fills in lines without dtype="
    );
    assert_eq!(other.precision(), Precision::BFloat16);
    assert_eq!(exact.weights_key(), fast.weights_key());
    let r = registry("a/b\na/b fast dtype=bfloat16\n").with_default_precision(Precision::Float32);
    assert_eq!(r.specs()[0].precision(), Precision::Float32);
    assert_ne!(r.specs()[0].weights_key(), r.specs()[1].weights_key());
    assert_eq!(
        r.resolve("b").map(|s| s.id.as_str()),
        Some("a/b"),
        "the short name means the first line"
    );
}

#[test]
fn bad_options_name_their_line() {
    for (text, needle) in [
        ("a/b\nc/d colour=red\n", "unknown option"),
        ("a/b\nc/d pooling=median\n", "not a pooling mode"),
        ("a/b\nc/d prompt=\"open\n", "quote"),
        ("a/b\nc/d prompt=x prompt_name=y\n", "cannot both"),
        (
            "a/b\nc/d dtype=int8\n",
            "dtype=int8 is not a number format (one of float32, bfloat16)",
        ),
    ] {
        let (line, message) = Registry::parse(text, Path::new(".")).unwrap_err();
        assert_eq!(line, 2, "{text}");
        assert!(message.contains(needle), "{message}");
    }
}

#[test]
fn the_shipped_list_parses_and_serves_every_openai_name() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("supported_models.txt");
    let r = Registry::load(&path).expect("supported_models.txt parses");
    assert_eq!(r.specs()[0].id, "sentence-transformers/all-MiniLM-L6-v2");
    for name in OPENAI_MODEL_NAMES {
        assert!(r.resolve(name).is_some(), "{name} is not served");
    }
    let query = r.resolve("e5-query").expect("e5-query");
    assert_eq!(query.options.prompt.as_deref(), Some("query: "));
    assert_eq!(
        query.weights_key(),
        r.resolve("intfloat/e5-small-v2").expect("e5").weights_key()
    );
}

#[test]
fn token_ids_follow_the_entry_option_else_the_openai_names() {
    let r = Registry::parse(
        "a/one text-embedding-3-small plain\nb/two mine token_ids=cl100k\nc/three text-embedding-ada-002 token_ids=model\n",
        Path::new("."),
    )
    .expect("parses");
    let under = |name: &str| r.resolve(name).expect(name).token_ids_under(name);
    assert_eq!(under("text-embedding-3-small"), TokenIds::Cl100k);
    assert_eq!(under("plain"), TokenIds::Model);
    assert_eq!(under("mine"), TokenIds::Cl100k);
    assert_eq!(under("text-embedding-ada-002"), TokenIds::Model);
    let wrong = Registry::parse("a/one token_ids=gpt2\n", Path::new(".")).expect_err("refused");
    assert!(wrong.1.contains("token_ids=gpt2"), "{}", wrong.1);
}
