//! The `Predict` and `Rerank` services, through the same scoring operations as TEI's
//! `/predict` and `/rerank`.

use std::sync::Arc;

use futures_util::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::call::{truncation, within, AnswerStream, Api};
use super::pb;
use crate::model_files::ModelKind;
use crate::service::score::fields::ranking;
use crate::service::score::{predict, rerank, score_pairs, ScoreInput, ScoreOptions, Scored};

impl Api {
    async fn predict_one(
        &self,
        model: String,
        input: ScoreInput,
        options: ScoreOptions,
    ) -> Result<pb::PredictResponse, Status> {
        let (scored, metadata) = self
            .call(
                "/tei.v1.Predict/Predict",
                predict(&self.state, &model, vec![input], options),
            )
            .await?;
        let scores = scored.scores.first().cloned().unwrap_or_default();
        Ok(pb::PredictResponse {
            predictions: ranking(&scores, None)
                .into_iter()
                .map(|label| pb::Prediction {
                    score: scores[label],
                    label: scored.labels.get(label).cloned().unwrap_or_default(),
                })
                .collect(),
            metadata: Some(metadata),
        })
    }

    async fn predict_text(&self, model: String, request: pb::PredictRequest) -> Result<pb::PredictResponse, Status> {
        let options = score_options(request.truncate, request.raw_scores, request.truncation_direction);
        self.predict_one(model, ScoreInput::Text(request.inputs), options).await
    }

    async fn predict_pair(
        &self,
        model: String,
        request: pb::PredictPairRequest,
    ) -> Result<pb::PredictResponse, Status> {
        let options = score_options(request.truncate, request.raw_scores, request.truncation_direction);
        let Ok([first, second]) = <[String; 2]>::try_from(request.inputs) else {
            return Err(Status::invalid_argument(
                "`inputs` must hold exactly two texts, a pair.",
            ));
        };
        self.predict_one(model, ScoreInput::Pair(first.into(), second), options)
            .await
    }
}

fn score_options(truncate: bool, raw_scores: bool, direction: i32) -> ScoreOptions {
    ScoreOptions {
        truncation: truncation(truncate, direction),
        raw_scores,
        max_tokens_per_document: None,
    }
}

/// TEI's ranks: every text by descending score, with its text when asked for.
fn ranks(scored: &Scored, mut texts: Vec<String>, return_text: bool) -> Vec<pb::Rank> {
    let scores = scored.relevance();
    ranking(&scores, None)
        .into_iter()
        .map(|index| pb::Rank {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            text: return_text.then(|| std::mem::take(&mut texts[index])),
            score: scores[index],
        })
        .collect()
}

#[tonic::async_trait]
impl pb::predict_server::Predict for Api {
    async fn predict(&self, request: Request<pb::PredictRequest>) -> Result<Response<pb::PredictResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Classifier))?;
        self.predict_text(model, request.into_inner()).await.map(Response::new)
    }

    async fn predict_pair(
        &self,
        request: Request<pb::PredictPairRequest>,
    ) -> Result<Response<pb::PredictResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Classifier))?;
        Api::predict_pair(self, model, request.into_inner())
            .await
            .map(Response::new)
    }

    type PredictStreamStream = AnswerStream<pb::PredictResponse>;

    async fn predict_stream(
        &self,
        request: Request<Streaming<pb::PredictRequest>>,
    ) -> Result<Response<Self::PredictStreamStream>, Status> {
        self.stream(request, Some(ModelKind::Classifier), |api, model, message| async move {
            api.predict_text(model, message).await
        })
    }

    type PredictPairStreamStream = AnswerStream<pb::PredictResponse>;

    async fn predict_pair_stream(
        &self,
        request: Request<Streaming<pb::PredictPairRequest>>,
    ) -> Result<Response<Self::PredictPairStreamStream>, Status> {
        self.stream(request, Some(ModelKind::Classifier), |api, model, message| async move {
            Api::predict_pair(&api, model, message).await
        })
    }
}

#[tonic::async_trait]
impl pb::rerank_server::Rerank for Api {
    async fn rerank(&self, request: Request<pb::RerankRequest>) -> Result<Response<pb::RerankResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Reranker))?;
        let request = request.into_inner();
        let options = score_options(request.truncate, request.raw_scores, request.truncation_direction);
        let texts = request.texts;
        let (scored, metadata) = self
            .call(
                "/tei.v1.Rerank/Rerank",
                rerank(&self.state, &model, request.query, texts.clone(), options),
            )
            .await?;
        Ok(Response::new(pb::RerankResponse {
            ranks: ranks(&scored, texts, request.return_text),
            metadata: Some(metadata),
        }))
    }

    /// Reads the whole stream (at most `--max-rerank-documents` messages; one more is an error
    /// before it is kept), then scores every pair in one operation. `raw_scores` and
    /// `return_text` come from the first message, as in TEI.
    async fn rerank_stream(
        &self,
        request: Request<Streaming<pb::RerankStreamRequest>>,
    ) -> Result<Response<pb::RerankResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Reranker))?;
        let limit = self.state.limits.max_rerank_documents;
        let mut inbound = Box::pin(within(request.into_inner(), self.state.limits.request_timeout));
        let mut pairs = Vec::new();
        let mut texts = Vec::new();
        let mut first: Option<pb::RerankStreamRequest> = None;
        let mut query: Arc<str> = Arc::from("");
        while let Some(message) = inbound.next().await {
            let message = message?;
            if texts.len() == limit {
                return Err(Status::invalid_argument(format!(
                    "This stream has more than {limit} texts; the limit is {limit} per rerank."
                )));
            }
            if first.is_none() || *query != *message.query {
                query = Arc::from(message.query.as_str());
            }
            pairs.push(ScoreInput::Pair(Arc::clone(&query), message.text.clone()));
            texts.push(message.text.clone());
            first.get_or_insert(message);
        }
        let Some(first) = first else {
            return Err(Status::invalid_argument("The stream sent no texts to rerank."));
        };
        let options = score_options(first.truncate, first.raw_scores, first.truncation_direction);
        let (scored, metadata) = self
            .call(
                "/tei.v1.Rerank/RerankStream",
                score_pairs(&self.state, &model, pairs, options),
            )
            .await?;
        Ok(Response::new(pb::RerankResponse {
            ranks: ranks(&scored, texts, first.return_text),
            metadata: Some(metadata),
        }))
    }
}
