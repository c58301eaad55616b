//! The packed forward against candle-transformers' padded BERT, on a random-weight BERT from
//! the shared sentence-transformers fixtures.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;

use super::*;

fn tiny_bert_dir() -> PathBuf {
    crate::test_fixtures::pipeline_dir("tiny-bert-mean-prompts")
}

fn tiny() -> EmbeddingModel {
    let dir = tiny_bert_dir();
    let architecture = architectures::from_file(&dir.join("config.json")).expect("config");
    EmbeddingModel::load(
        architecture.as_ref(),
        &[dir.join("model.safetensors")],
        &[head::HeadStep::Normalize],
        &Device::Cpu,
        Precision::Float32,
    )
    .expect("loads")
}

fn mean(sequences: &[&[u32]]) -> Vec<Vec<f32>> {
    let pooling = Pooling::new(PoolingModes::single(PoolingMode::Mean));
    let inputs: Vec<SequenceInput> = sequences
        .iter()
        .map(|tokens| SequenceInput::single(tokens, pooling))
        .collect();
    tiny().run_batch(&inputs).expect("embeds")
}

/// candle-transformers' BERT over a padded batch with an attention mask, mean-pooled over the
/// mask and normalised: the textbook computation the packed runner must reproduce.
fn reference_embeddings(sequences: &[&[u32]]) -> Vec<Vec<f32>> {
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = tiny_bert_dir();
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], DType::F32, &Device::Cpu) }
        .unwrap();
    let model = BertModel::load(vb, &config).unwrap();
    let longest = sequences.iter().map(|s| s.len()).max().unwrap();
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for s in sequences {
        ids.extend(s.iter().copied().chain(std::iter::repeat_n(0, longest - s.len())));
        mask.extend((0..longest).map(|i| u32::from(i < s.len())));
    }
    let ids = Tensor::from_vec(ids, (sequences.len(), longest), &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(mask, (sequences.len(), longest), &Device::Cpu).unwrap();
    let hidden = model.forward(&ids, &ids.zeros_like().unwrap(), Some(&mask)).unwrap();
    let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
    let summed = hidden.broadcast_mul(&mask).unwrap().sum(1).unwrap();
    let mean = summed.broadcast_div(&mask.sum(1).unwrap()).unwrap();
    let norm = mean.sqr().unwrap().sum_keepdim(D::Minus1).unwrap().sqrt().unwrap();
    mean.broadcast_div(&norm).unwrap().to_vec2().unwrap()
}

fn assert_close(got: &[Vec<f32>], want: &[Vec<f32>]) {
    for (got, want) in got.iter().zip(want) {
        let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-5, "packed vs padded reference differ by {diff}");
    }
}

#[test]
fn packed_forward_matches_a_padded_reference_implementation() {
    let sequences: Vec<&[u32]> = vec![
        &[101, 7592, 2088, 102],
        &[101, 102],
        &[101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102],
        &[101, 4937, 102],
    ];
    assert_close(&mean(&sequences), &reference_embeddings(&sequences));
}

#[test]
fn equal_length_batches_skip_padding_and_still_agree() {
    let sequences: Vec<&[u32]> = vec![&[101, 5, 6, 102], &[101, 7, 8, 102]];
    assert_close(&mean(&sequences), &reference_embeddings(&sequences));
}

#[test]
fn sequences_with_different_pooling_share_a_batch() {
    let model = tiny();
    let cls = Pooling::new(PoolingModes::single(PoolingMode::Cls));
    let mean = Pooling::new(PoolingModes::single(PoolingMode::Mean));
    let tokens: &[u32] = &[101, 7592, 2088, 102];
    let mixed = model
        .run_batch(&[SequenceInput::single(tokens, cls), SequenceInput::single(tokens, mean)])
        .expect("embeds");
    let alone = model.run_batch(&[SequenceInput::single(tokens, cls)]).expect("embeds");
    assert_eq!(mixed[0], alone[0]);
    assert_ne!(mixed[0], mixed[1]);
}

#[test]
fn rejects_out_of_vocabulary_ids_and_overlong_sequences_without_panicking() {
    let model = tiny();
    let pooling = Pooling::new(PoolingModes::single(PoolingMode::Mean));
    let embed = |tokens: &[u32]| model.run_batch(&[SequenceInput::single(tokens, pooling)]);
    assert!(embed(&[101, 100_000, 102]).is_err());
    assert!(embed(&vec![5u32; 129]).is_err());
    assert!(embed(&[]).is_err());
    assert!(model.run_batch(&[]).expect("empty batch").is_empty());
}
