//! The sentence-transformers pipeline, end to end over HTTP, on the tiny random-weight models of
//! `tests/fixtures/st-pipelines/` (one per pooling mode, Dense, prompts and architecture):
//! parity with sentence-transformers' own vectors, prompts, per-entry options, batch invariance
//! and the start-up check of the allow-list.

use crate::common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::fidelity::check_reference;
use common::{
    altered_copy, assert_near_references, assert_openai_error, max_abs_diff, offline_hub, pipeline_dir,
    pipeline_references, scratch_dir, start_error, vectors, Options, Reference, TestServer, TINY_PIPELINES,
};
use embeddings::hub::{Access, Snapshot};
use embeddings::model_files::{ModelDescription, WeightFiles};
use embeddings::registry::Registry;
use embeddings::runner::{EmbeddingModel, Pooling, Precision, SequenceInput, SequenceModel};
use serde_json::{json, Value};

/// Serves the models file `lines`, where `{NAME}` stands for the tiny model NAME's directory.
async fn serve(lines: &str, preload: bool) -> TestServer {
    let mut text = lines.to_owned();
    for name in TINY_PIPELINES {
        text = text.replace(&format!("{{{name}}}"), &pipeline_dir(name).display().to_string());
    }
    let options = Options {
        preload,
        ..Options::default()
    };
    TestServer::start(&text, offline_hub(&scratch_dir("empty-cache")), options).await
}

#[tokio::test]
async fn every_tiny_pipeline_matches_sentence_transformers_through_http() {
    for name in TINY_PIPELINES {
        let server = serve(&format!("{{{name}}} {name}\n"), true).await;
        let mut worst = 0f32;
        for reference in pipeline_references(name) {
            worst = worst.max(check_reference(&server, name, &reference).await);
        }
        eprintln!("{name}: worst max-abs-diff {worst:e}");
    }
}

#[tokio::test]
async fn token_ids_give_the_texts_vectors_for_every_architecture() {
    for name in TINY_PIPELINES {
        let server = serve(&format!("{{{name}}} {name}\n"), true).await;
        let references = pipeline_references(name);
        let ids: Vec<&Vec<u32>> = references.iter().map(|r| &r.ids).collect();
        // The prompted rows' ids hold the prompt's tokens already: no prompt is added to ids.
        let (status, body) = server.embed(json!({"model": name, "input": ids})).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_near_references(&vectors(&body), &references, name);
    }
}

#[tokio::test]
async fn a_vector_does_not_depend_on_its_batch_for_any_architecture() {
    for name in TINY_PIPELINES {
        let server = serve(&format!("{{{name}}} {name}\n"), true).await;
        let references = pipeline_references(name);
        let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
        let (status, batched) = server.embed(json!({"model": name, "input": texts})).await;
        assert_eq!(status, 200, "{batched}");
        for (text, together) in texts.iter().zip(vectors(&batched)) {
            let (_, alone) = server.embed(json!({"model": name, "input": text})).await;
            let diff = max_abs_diff(&vectors(&alone)[0], &together);
            assert!(diff <= 1e-5, "{name} {text:?}: alone vs batched differ by {diff}");
        }
    }
}

/// The pipeline's own output (before the API's L2 normalisation), from the runner.
#[tokio::test]
async fn the_runner_gives_the_pipelines_unnormalised_output() {
    for name in TINY_PIPELINES {
        let registry = Registry::parse(&format!("{}\n", pipeline_dir(name).display()), Path::new("/")).expect("parses");
        let hub = offline_hub(&scratch_dir("empty-cache"));
        let snapshot = Snapshot::new(&registry.specs()[0], &hub, Access::CacheOnly);
        let description = ModelDescription::read(&snapshot).expect("described");
        let files = WeightFiles::fetch(&snapshot).expect("files");
        let model = EmbeddingModel::load(
            description.architecture.as_ref(),
            &files.weights,
            &description.head,
            &Device::Cpu,
            Precision::Float32,
        )
        .expect("loads");
        let references = pipeline_references(name);
        let pooling = Pooling::new(description.pooling);
        let inputs: Vec<SequenceInput> = references
            .iter()
            .map(|r| SequenceInput::single(&r.ids, pooling))
            .collect();
        for (got, reference) in model.run_batch(&inputs).expect("embeds").iter().zip(&references) {
            let want = reference.unnormalized.as_ref().expect("unnormalized in the fixture");
            assert!(max_abs_diff(got, want) <= 2e-5, "{name}: {:?}", reference.text);
        }
    }
}

#[tokio::test]
async fn prompts_come_from_the_request_the_entry_or_a_literal_prefix() {
    let server = serve(
        "{tiny-bert-mean-prompts} plain\n\
         {tiny-bert-mean-prompts} as-query prompt_name=query\n\
         {tiny-bert-mean-prompts} literal-query prompt=\"query: \"\n",
        true,
    )
    .await;
    let references = pipeline_references("tiny-bert-mean-prompts");
    let row = |prompt: Option<&str>| {
        references
            .iter()
            .find(|r| r.prompt_name.as_deref() == prompt && r.text.starts_with("The quick brown fox"))
            .expect("fixture row")
    };
    let text = row(None).text.as_str();
    let check = |body: &Value, reference: &Reference| {
        assert!(max_abs_diff(&vectors(body)[0], &reference.embedding) <= 2e-5, "{body}");
        assert_eq!(
            body["usage"]["prompt_tokens"], reference.tokens,
            "usage counts the prompt"
        );
    };
    for model in ["as-query", "literal-query"] {
        let (status, body) = server.embed(json!({"model": model, "input": text})).await;
        assert_eq!(status, 200, "{body}");
        check(&body, row(Some("query")));
    }
    // A request's prompt_name wins over the entry's default.
    let (_, body) = server
        .embed(json!({"model": "as-query", "input": text, "prompt_name": "passage"}))
        .await;
    check(&body, row(Some("passage")));
    let (_, body) = server.embed(json!({"model": "plain", "input": text})).await;
    check(&body, row(None));

    let (status, body) = server
        .embed(json!({"model": "plain", "input": text, "prompt_name": "search"}))
        .await;
    assert_openai_error(status, &body, 400);
    assert_eq!(body["error"]["param"], "prompt_name");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("document, passage, query"), "{message}");

    // Token ids cannot carry the entry's prompt.
    let (status, body) = server.embed(json!({"model": "as-query", "input": row(None).ids})).await;
    assert_openai_error(status, &body, 400);
}

/// candle-transformers' BERT on one sequence: the last hidden state of every token.
fn reference_hidden_states(model: &str, ids: &[u32]) -> Vec<Vec<f32>> {
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = pipeline_dir(model);
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config")).expect("config");
    let weights = dir.join("model.safetensors");
    let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
        .expect("weights");
    let bert = BertModel::load(vb, &config).expect("model");
    let ids = Tensor::new(ids, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .expect("ids");
    let hidden = bert
        .forward(&ids, &ids.zeros_like().expect("types"), None)
        .expect("forward");
    hidden.squeeze(0).and_then(|h| h.to_vec2()).expect("host")
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

#[tokio::test]
async fn a_pooling_option_overrides_the_models_pooling() {
    let server = serve(
        "{tiny-bert-mean-prompts} mean-model\n\
         {tiny-bert-mean-prompts} as-cls pooling=cls\n\
         {tiny-bert-cls} as-mean pooling=mean\n",
        false,
    )
    .await;
    let reference = &pipeline_references("tiny-bert-cls")[0];
    let (_, cls_body) = server.embed(json!({"model": "as-cls", "input": reference.text})).await;
    let hidden = reference_hidden_states("tiny-bert-mean-prompts", &reference.ids);
    assert!(max_abs_diff(&vectors(&cls_body)[0], &unit(hidden[0].clone())) <= 2e-5);

    let (_, mean_body) = server.embed(json!({"model": "as-mean", "input": reference.text})).await;
    let hidden = reference_hidden_states("tiny-bert-cls", &reference.ids);
    let mean: Vec<f32> = (0..hidden[0].len())
        .map(|d| hidden.iter().map(|row| row[d]).sum::<f32>() / hidden.len() as f32)
        .collect();
    assert!(max_abs_diff(&vectors(&mean_body)[0], &unit(mean)) <= 2e-5);

    // The two entries of one model share its weights: the request above loaded both.
    let (_, models) = server.get("/v1/models").await;
    let cards = models["data"].as_array().expect("cards");
    assert_eq!(cards[0]["pooling"], "mean");
    assert_eq!(cards[1]["pooling"], "cls");
    assert_eq!(
        (cards[0]["ready"].clone(), cards[1]["ready"].clone()),
        (json!(true), json!(true))
    );
    let metrics = server.metrics_text().await;
    // The first entry was never asked for; it shares the weights the second one loaded.
    let first = &server.state.store.registry().specs()[0].id;
    assert_eq!(
        cards[0]["id"], "mean-model",
        "clients see the first alias, not the path"
    );
    assert!(
        metrics.contains(&format!("embeddings_model_ready{{model=\"{first}\"}} 1")),
        "every entry of the loaded weights reports ready"
    );
}

#[tokio::test]
async fn models_report_their_pipeline_before_the_weights_load() {
    let server = serve(
        "{tiny-bert-max-dense} dense\n{tiny-bert-mean-prompts} prompts\n{tiny-xlm-roberta-mean} xlmr\n",
        false,
    )
    .await;
    let (_, models) = server.get("/v1/models").await;
    let cards = models["data"].as_array().expect("cards");
    assert_eq!(cards[0]["architecture"], "bert");
    assert_eq!(cards[0]["pooling"], "max");
    assert_eq!(cards[0]["dimensions"], 6, "the Dense layer's output size");
    assert_eq!(
        cards[0]["max_input_tokens"], 64,
        "max_seq_length, not the tokenizer's 128"
    );
    assert_eq!(cards[0]["ready"], false);
    assert_eq!(cards[1]["prompts"]["query"], "query: ");
    assert_eq!(cards[2]["architecture"], "xlm-roberta");
    assert_eq!(cards[2]["dimensions"], 8);
}

#[test]
fn the_allow_list_is_checked_at_start() {
    let gpt2 = altered_copy("tiny-bert-cls", "config.json", |t| t.replace("\"bert\"", "\"gpt2\""));
    let error = start_error(&format!("{} tiny\n", gpt2.display()));
    assert!(error.contains("unsupported architecture \"gpt2\""), "{error}");
    assert!(error.contains(&gpt2.display().to_string()), "names the model: {error}");

    let layer_norm = altered_copy("tiny-bert-cls", "modules.json", |t| {
        t.replace(
            "sentence_transformers.models.Normalize",
            "sentence_transformers.models.LayerNorm",
        )
    });
    let error = start_error(&format!("{} tiny\n", layer_norm.display()));
    assert!(
        error.contains("module 2 (sentence_transformers.models.LayerNorm)"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");

    let error = start_error(&format!(
        "{} tiny prompt_name=nope\n",
        pipeline_dir("tiny-bert-mean-prompts").display()
    ));
    assert!(error.contains("prompt \"nope\" is unknown"), "{error}");
    assert!(error.contains("document, passage, query"), "{error}");
}
