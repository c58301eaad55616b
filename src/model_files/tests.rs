use super::*;
use serde_json::json;

#[test]
fn pooling_reads_both_key_styles() {
    let (modes, include) = pooling_config(&json!({"pooling_mode": "CLS"}), 8).expect("valid");
    assert_eq!((modes.describe(), include), ("cls".to_owned(), true));
    let classic = json!({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true,
        "pooling_mode_max_tokens": true, "include_prompt": false});
    let (modes, include) = pooling_config(&classic, 8).expect("valid");
    assert_eq!((modes.describe(), include), ("max+mean".to_owned(), false));
    assert!(pooling_config(&json!({"pooling_mode": "median"}), 8).is_err());
    assert!(pooling_config(&json!({"pooling_mode_cls_token": false}), 8).is_err());
    assert!(pooling_config(&classic, 16).is_err(), "dimension mismatch");
}

#[test]
fn truncation_prefers_max_seq_length_and_never_passes_the_positions() {
    assert_eq!(max_tokens(Some(256), Some(512.0), 512).unwrap(), 256);
    assert_eq!(max_tokens(None, Some(1e30), 512).unwrap(), 512);
    assert_eq!(max_tokens(None, Some(128.0), 512).unwrap(), 128);
    assert_eq!(max_tokens(Some(1024), None, 512).unwrap(), 512);
    assert!(max_tokens(Some(0), None, 512).is_err());
}

#[test]
fn module_types_are_recognised_by_class_wherever_the_package_keeps_them() {
    let entry = |kind: &str| ModuleEntry {
        path: String::new(),
        kind_name: kind.to_owned(),
    };
    assert!(matches!(
        entry("sentence_transformers.models.Pooling").kind(),
        Some(ModuleKind::Pooling)
    ));
    assert!(matches!(
        entry("sentence_transformers.sentence_transformer.models.Dense").kind(),
        Some(ModuleKind::Dense)
    ));
    assert!(entry("sentence_transformers.models.LayerNorm").kind().is_none());
    assert!(entry("my_package.Pooling").kind().is_none());
}
