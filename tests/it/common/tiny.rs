//! A tiny BERT checkpoint with random weights, written to disk in the Hugging Face layout
//! (config.json, model.safetensors, tokenizer.json, sentence_bert_config.json). Tests use it
//! to exercise the real loading, tokenization and forward code in milliseconds.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::Tokenizer;

pub const TINY_HIDDEN: usize = 32;
/// The tiny model's truncation length (its `max_seq_length`).
pub const TINY_MAX_TOKENS: usize = 24;

const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello", "world", "embed", "this", "text", "a",
    "is", "of", "and", "to", "in", "it", "cat", "sat", "on", "mat", ".", ",", "!", "?",
];

/// Writes the tiny model into `dir` (created if needed). `seed` picks the random weights.
pub fn write_tiny_bert(dir: &Path, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .map(String::from)
        .to_vec();
    let pieces = WORDS
        .iter()
        .map(|w| w.to_string())
        .chain(('a'..='z').map(|c| c.to_string()))
        .chain(('a'..='z').map(|c| format!("##{c}")))
        .chain(('0'..='9').map(|c| c.to_string()));
    for piece in pieces {
        if !vocab.contains(&piece) {
            vocab.push(piece);
        }
    }
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, vocab.join("\n") + "\n")?;

    let path_text = vocab_path.to_str().ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))?;
    let wordpiece = WordPiece::from_file(path_text)
        .unk_token("[UNK]".to_owned())
        .build()
        .map_err(anyhow::Error::msg)?;
    let mut tokenizer = Tokenizer::new(wordpiece);
    tokenizer
        .with_normalizer(Some(BertNormalizer::default()))
        .map_err(anyhow::Error::msg)?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".to_owned(), 3),
        ("[CLS]".to_owned(), 2),
    )));
    tokenizer
        .save(dir.join("tokenizer.json"), false)
        .map_err(anyhow::Error::msg)?;

    let (h, layers, intermediate, positions) = (TINY_HIDDEN, 2, 64, 64);
    let config = serde_json::json!({
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": vocab.len(),
        "hidden_size": h,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": positions,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "use_cache": true,
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config)?)?;
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        format!("{{\"max_seq_length\": {TINY_MAX_TOKENS}}}"),
    )?;

    let mut random = fastrand::Rng::with_seed(seed);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, shape: &[usize], kind: Init| -> anyhow::Result<()> {
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| match kind {
                Init::Random => (random.f32() * 2.0 - 1.0) * 0.2,
                Init::One => 1.0 + (random.f32() * 2.0 - 1.0) * 0.1,
            })
            .collect();
        tensors.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
        Ok(())
    };
    put(
        "embeddings.word_embeddings.weight".into(),
        &[vocab.len(), h],
        Init::Random,
    )?;
    put(
        "embeddings.position_embeddings.weight".into(),
        &[positions, h],
        Init::Random,
    )?;
    put("embeddings.token_type_embeddings.weight".into(), &[2, h], Init::Random)?;
    put("embeddings.LayerNorm.weight".into(), &[h], Init::One)?;
    put("embeddings.LayerNorm.bias".into(), &[h], Init::Random)?;
    for layer in 0..layers {
        let p = format!("encoder.layer.{layer}");
        for name in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            put(format!("{p}.{name}.weight"), &[h, h], Init::Random)?;
            put(format!("{p}.{name}.bias"), &[h], Init::Random)?;
        }
        put(
            format!("{p}.intermediate.dense.weight"),
            &[intermediate, h],
            Init::Random,
        )?;
        put(format!("{p}.intermediate.dense.bias"), &[intermediate], Init::Random)?;
        put(format!("{p}.output.dense.weight"), &[h, intermediate], Init::Random)?;
        put(format!("{p}.output.dense.bias"), &[h], Init::Random)?;
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            put(format!("{p}.{norm}.weight"), &[h], Init::One)?;
            put(format!("{p}.{norm}.bias"), &[h], Init::Random)?;
        }
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Init {
    Random,
    One,
}
