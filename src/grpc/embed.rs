//! The `Embed` service: dense vectors, sparse vectors and every token's state, one text per
//! message, through the same operations as TEI's `/embed`, `/embed_sparse` and `/embed_all`.

use tonic::{Request, Response, Status, Streaming};

use super::call::{truncation, AnswerStream, Api};
use super::pb;
use crate::model_files::ModelKind;
use crate::service::embed::sparse::embed_sparse;
use crate::service::embed::{embed, embed_every_token, EmbedRequest};
use crate::service::input::{EmbedOptions, Input};

/// One message's text as the embedding operations take it: its prompt and truncation (a
/// message always says whether to truncate), the other options at their defaults.
fn one_text(model: String, text: String, prompt_name: Option<String>, truncate: bool, direction: i32) -> EmbedRequest {
    EmbedRequest {
        model,
        input: Input::Texts(vec![text]),
        options: EmbedOptions {
            prompt_name,
            truncation: truncation(truncate, direction),
            truncation_chosen: true,
            ..EmbedOptions::default()
        },
    }
}

impl Api {
    async fn embed_one(&self, model: String, request: pb::EmbedRequest) -> Result<pb::EmbedResponse, Status> {
        let (dimensions, normalize) = (request.dimensions, request.normalize);
        let mut request = one_text(
            model,
            request.inputs,
            request.prompt_name,
            request.truncate,
            request.truncation_direction,
        );
        request.options.dimensions = dimensions.map(|d| d as usize).filter(|&d| d > 0);
        request.options.normalize = normalize.unwrap_or(true);
        let (embedded, metadata) = self.call("/tei.v1.Embed/Embed", embed(&self.state, request)).await?;
        Ok(pb::EmbedResponse {
            embeddings: embedded.vectors.into_iter().next().unwrap_or_default(),
            metadata: Some(metadata),
        })
    }

    async fn embed_sparse_one(
        &self,
        model: String,
        request: pb::EmbedSparseRequest,
    ) -> Result<pb::EmbedSparseResponse, Status> {
        let request = one_text(
            model,
            request.inputs,
            request.prompt_name,
            request.truncate,
            request.truncation_direction,
        );
        let (embedded, metadata) = self
            .call("/tei.v1.Embed/EmbedSparse", embed_sparse(&self.state, request))
            .await?;
        let vector = embedded.vectors.into_iter().next().unwrap_or_default();
        Ok(pb::EmbedSparseResponse {
            sparse_embeddings: vector
                .indices
                .into_iter()
                .zip(vector.values)
                .map(|(index, value)| pb::SparseValue { index, value })
                .collect(),
            metadata: Some(metadata),
        })
    }

    async fn embed_all_one(&self, model: String, request: pb::EmbedAllRequest) -> Result<pb::EmbedAllResponse, Status> {
        let request = one_text(
            model,
            request.inputs,
            request.prompt_name,
            request.truncate,
            request.truncation_direction,
        );
        let (states, metadata) = self
            .call("/tei.v1.Embed/EmbedAll", embed_every_token(&self.state, request))
            .await?;
        Ok(pb::EmbedAllResponse {
            token_embeddings: states
                .into_iter()
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|embeddings| pb::TokenEmbedding { embeddings })
                .collect(),
            metadata: Some(metadata),
        })
    }
}

#[tonic::async_trait]
impl pb::embed_server::Embed for Api {
    async fn embed(&self, request: Request<pb::EmbedRequest>) -> Result<Response<pb::EmbedResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Embedding))?;
        self.embed_one(model, request.into_inner()).await.map(Response::new)
    }

    type EmbedStreamStream = AnswerStream<pb::EmbedResponse>;

    async fn embed_stream(
        &self,
        request: Request<Streaming<pb::EmbedRequest>>,
    ) -> Result<Response<Self::EmbedStreamStream>, Status> {
        self.stream(request, Some(ModelKind::Embedding), |api, model, message| async move {
            api.embed_one(model, message).await
        })
    }

    async fn embed_sparse(
        &self,
        request: Request<pb::EmbedSparseRequest>,
    ) -> Result<Response<pb::EmbedSparseResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Sparse))?;
        self.embed_sparse_one(model, request.into_inner())
            .await
            .map(Response::new)
    }

    type EmbedSparseStreamStream = AnswerStream<pb::EmbedSparseResponse>;

    async fn embed_sparse_stream(
        &self,
        request: Request<Streaming<pb::EmbedSparseRequest>>,
    ) -> Result<Response<Self::EmbedSparseStreamStream>, Status> {
        self.stream(request, Some(ModelKind::Sparse), |api, model, message| async move {
            api.embed_sparse_one(model, message).await
        })
    }

    async fn embed_all(&self, request: Request<pb::EmbedAllRequest>) -> Result<Response<pb::EmbedAllResponse>, Status> {
        let model = self.model_of(&request, Some(ModelKind::Embedding))?;
        self.embed_all_one(model, request.into_inner()).await.map(Response::new)
    }

    type EmbedAllStreamStream = AnswerStream<pb::EmbedAllResponse>;

    async fn embed_all_stream(
        &self,
        request: Request<Streaming<pb::EmbedAllRequest>>,
    ) -> Result<Response<Self::EmbedAllStreamStream>, Status> {
        self.stream(request, Some(ModelKind::Embedding), |api, model, message| async move {
            api.embed_all_one(model, message).await
        })
    }
}
