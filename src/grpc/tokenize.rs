//! The `Tokenize` and `Info` services, through the same operations as TEI's `/tokenize`,
//! `/decode` and `/info`.

use tonic::{Request, Response, Status, Streaming};

use super::call::{AnswerStream, Api};
use super::pb;
use crate::service::info::{info, TeiInfo};
use crate::service::tokens::{decode, tokenize};

impl Api {
    async fn tokenize_one(&self, model: String, request: pb::EncodeRequest) -> Result<pb::EncodeResponse, Status> {
        let work = tokenize(
            &self.state,
            &model,
            vec![request.inputs],
            request.prompt_name.as_deref(),
            request.add_special_tokens,
        );
        let (pieces, _) = self.call("/tei.v1.Tokenize/Tokenize", work).await?;
        let offset = |at: usize| u32::try_from(at).ok();
        Ok(pb::EncodeResponse {
            tokens: pieces
                .into_iter()
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|piece| pb::SimpleToken {
                    id: piece.id,
                    text: piece.text,
                    special: piece.special,
                    start: piece.span.and_then(|(start, _)| offset(start)),
                    stop: piece.span.and_then(|(_, stop)| offset(stop)),
                })
                .collect(),
        })
    }

    async fn decode_one(&self, model: String, request: pb::DecodeRequest) -> Result<pb::DecodeResponse, Status> {
        let work = decode(&self.state, &model, vec![request.ids], request.skip_special_tokens);
        let (texts, _) = self.call("/tei.v1.Tokenize/Decode", work).await?;
        Ok(pb::DecodeResponse {
            text: texts.into_iter().next().unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl pb::tokenize_server::Tokenize for Api {
    async fn tokenize(&self, request: Request<pb::EncodeRequest>) -> Result<Response<pb::EncodeResponse>, Status> {
        let model = self.model_of(&request, None)?;
        self.tokenize_one(model, request.into_inner()).await.map(Response::new)
    }

    type TokenizeStreamStream = AnswerStream<pb::EncodeResponse>;

    async fn tokenize_stream(
        &self,
        request: Request<Streaming<pb::EncodeRequest>>,
    ) -> Result<Response<Self::TokenizeStreamStream>, Status> {
        self.stream(request, None, |api, model, message| async move {
            api.tokenize_one(model, message).await
        })
    }

    async fn decode(&self, request: Request<pb::DecodeRequest>) -> Result<Response<pb::DecodeResponse>, Status> {
        let model = self.model_of(&request, None)?;
        self.decode_one(model, request.into_inner()).await.map(Response::new)
    }

    type DecodeStreamStream = AnswerStream<pb::DecodeResponse>;

    async fn decode_stream(
        &self,
        request: Request<Streaming<pb::DecodeRequest>>,
    ) -> Result<Response<Self::DecodeStreamStream>, Status> {
        self.stream(request, None, |api, model, message| async move {
            api.decode_one(model, message).await
        })
    }
}

#[tonic::async_trait]
impl pb::info_server::Info for Api {
    async fn info(&self, _request: Request<pb::InfoRequest>) -> Result<Response<pb::InfoResponse>, Status> {
        Ok(Response::new(info_message(info(&self.state))))
    }
}

fn info_message(info: TeiInfo) -> pb::InfoResponse {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let model_type = if info.model_type.classifier.is_some() {
        pb::ModelType::Classifier
    } else if info.model_type.reranker.is_some() {
        pb::ModelType::Reranker
    } else {
        pb::ModelType::Embedding
    };
    pb::InfoResponse {
        version: info.version,
        sha: info.sha,
        docker_label: info.docker_label,
        model_id: info.model_id,
        model_sha: info.model_sha,
        model_dtype: info.model_dtype,
        model_type: model_type.into(),
        max_concurrent_requests: count(info.max_concurrent_requests),
        max_input_length: count(info.max_input_length.unwrap_or(0)),
        max_batch_tokens: count(info.max_batch_tokens),
        max_batch_requests: info.max_batch_requests.map(count),
        max_client_batch_size: count(info.max_client_batch_size),
        tokenization_workers: count(info.tokenization_workers),
    }
}
