//! The walk of one peer's OpenAPI document against a running server: every operation, valid
//! requests built from the spec (each alternative its schemas offer, each boolean and enum
//! option) and invalid ones (missing and mistyped fields, too many inputs), every answer checked
//! against the schema the spec documents for its status.

use serde_json::{json, Value};

use super::openapi::{Operation, Spec};
use super::{excerpt, Check, Expect};

/// What a walk needs to know of the peer beyond its spec.
pub struct Peer {
    /// Prefixed to the spec's paths (OpenAI's are relative to `/v1`).
    pub prefix: &'static str,
    /// Values for path parameters (`{model}`).
    pub path_parameters: Vec<(&'static str, String)>,
    /// Fields every request body carries when its schema has them (the model to use).
    pub fixed_fields: Vec<(&'static str, Value)>,
    /// The body of an error whose status the spec leaves undocumented (OpenAI documents its
    /// error object once, not per operation); `None`: such a status is a failure.
    pub error_schema: Option<Value>,
    /// The status an invalid request gets: a missing or mistyped required field, and more
    /// inputs than `many_inputs` allows.
    pub invalid_status: u16,
    pub many_inputs: usize,
    /// Where the peer's code answers otherwise than its spec says, the schema the code's answer
    /// matches (operation, status, request body, the spec's schema -> the schema to check).
    pub correct: fn(&Spec, &Operation, u16, Option<&Value>, Value) -> Value,
}

pub struct Walk<'a> {
    pub spec: &'a Spec,
    pub peer: &'a Peer,
    pub client: reqwest::Client,
    pub base: String,
    pub checks: Vec<Check>,
}

impl Walk<'_> {
    fn url(&self, operation: &Operation) -> String {
        let mut path = format!("{}{}", self.peer.prefix, operation.path);
        for (name, value) in &self.peer.path_parameters {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        format!("{}{path}", self.base)
    }

    async fn send(&self, operation: &Operation, body: Option<&Value>) -> (u16, Option<Value>, String) {
        let request = match operation.method.as_str() {
            "get" => self.client.get(self.url(operation)),
            _ => self.client.post(self.url(operation)).json(body.unwrap_or(&Value::Null)),
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).ok(), text)
    }

    pub async fn check(&mut self, operation: &Operation, body: Option<Value>, expect: Option<Expect>) {
        let (status, answer, text) = self.send(operation, body.as_ref()).await;
        let failure = self.judge(operation, status, body.as_ref(), answer.as_ref(), &text, expect);
        self.checks.push(Check {
            operation: operation.name(),
            body,
            failure,
        });
    }

    fn judge(
        &self,
        operation: &Operation,
        status: u16,
        request: Option<&Value>,
        answer: Option<&Value>,
        text: &str,
        expect: Option<Expect>,
    ) -> Option<String> {
        let wanted = match expect {
            Some(Expect::Success) => Some(200),
            Some(Expect::Status(code)) => Some(code),
            None => None,
        };
        if wanted.is_some_and(|w| w != status) {
            return Some(format!("answered {status}, not {wanted:?}: {}", excerpt(text, 300)));
        }
        let schema = match operation.responses.get(&status) {
            Some(schema) => schema.clone(),
            None if status >= 400 && self.peer.error_schema.is_some() => self.peer.error_schema.clone(),
            None => {
                return Some(format!(
                    "answered {status}, which the spec does not document: {}",
                    excerpt(text, 300)
                ))
            }
        }?;
        let schema = (self.peer.correct)(
            self.spec,
            operation,
            status,
            request,
            self.spec.resolve(&schema).clone(),
        );
        let Some(answer) = answer else {
            return Some(format!("{status} is not JSON: {}", excerpt(text, 300)));
        };
        self.spec
            .validate(&schema, answer)
            .err()
            .map(|errors| format!("{status} does not match its schema: {errors}; {}", excerpt(text, 300)))
    }

    fn with_fixed_fields(&self, schema: &Value, mut body: Value) -> Value {
        let properties = &self.spec.resolve(schema)["properties"];
        for (name, value) in &self.peer.fixed_fields {
            if properties.get(*name).is_some() {
                body[*name] = value.clone();
            }
        }
        body
    }

    /// Valid requests get `expect`; where the operation fits the model, invalid ones get the
    /// peer's validation status.
    pub async fn walk(&mut self, operation: &Operation, expect: Option<Expect>) {
        let Some(schema) = operation.request.clone() else {
            return self.check(operation, None, expect).await;
        };
        let mut instances: Vec<Value> = Vec::new();
        for body in self.spec.instances(&schema) {
            let body = self.with_fixed_fields(&schema, body);
            if !instances.contains(&body) {
                instances.push(body);
            }
        }
        for instance in &instances {
            self.check(operation, Some(instance.clone()), expect).await;
        }
        for (name, values) in self.spec.optional_switches(&schema) {
            for value in values {
                let mut body = instances[0].clone();
                body[name.as_str()] = value;
                self.check(operation, Some(body), expect).await;
            }
        }
        if expect != Some(Expect::Success) {
            return;
        }
        let invalid = Some(Expect::Status(self.peer.invalid_status));
        let input = self
            .spec
            .required(&schema)
            .into_iter()
            .find(|name| !self.peer.fixed_fields.iter().any(|(fixed, _)| fixed == name))
            .unwrap_or_else(|| "inputs".to_owned());
        let mut missing = instances[0].clone();
        missing.as_object_mut().map(|fields| fields.remove(&input));
        self.check(operation, Some(missing), invalid).await;
        let mut wrong_type = instances[0].clone();
        wrong_type[input.as_str()] = json!({"not": "this"});
        self.check(operation, Some(wrong_type), invalid).await;
        if matches!(input.as_str(), "inputs" | "input") && operation.path != "/similarity" {
            let mut too_many = instances[0].clone();
            too_many[input.as_str()] = json!(vec!["a"; self.peer.many_inputs + 1]);
            self.check(operation, Some(too_many), invalid).await;
        }
    }
}
