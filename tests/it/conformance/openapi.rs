//! A peer's OpenAPI 3.0 document, walked: its operations, requests built from its schemas and
//! examples, and answers validated against the schemas it documents (JSON Schema validation by
//! the `jsonschema` crate, after OpenAPI 3.0's `nullable` is turned into JSON Schema's `null`
//! type).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

pub struct Spec {
    document: Value,
    /// What an array of token ids holds in built requests: a real tokenization by the models
    /// walked (the server refuses ids that no tokenization by the model gives).
    pub token_ids: Vec<u64>,
    /// `components`, converted to JSON Schema once: every validation's root resolves
    /// `#/components/schemas/...` in it.
    components: Value,
}

/// One operation: its method and path, its request body's schema, and each documented status
/// with its body's schema (None: no body, or not JSON).
pub struct Operation {
    pub method: String,
    pub path: String,
    pub request: Option<Value>,
    pub responses: BTreeMap<u16, Option<Value>>,
}

impl Operation {
    pub fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

impl Spec {
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let document: Value = serde_json::from_str(&text).expect("an OpenAPI document is JSON");
        let components = json_schema(&document["components"]);
        Self {
            document,
            components,
            token_ids: vec![0],
        }
    }

    pub fn version(&self) -> &str {
        self.document["info"]["version"].as_str().unwrap_or("")
    }

    pub fn operations(&self) -> Vec<Operation> {
        let mut operations = Vec::new();
        let paths = self.document["paths"].as_object().expect("paths");
        for (path, methods) in paths {
            for (method, operation) in methods.as_object().expect("methods") {
                let schema_of = |content: &Value| content["application/json"].get("schema").cloned();
                let responses = operation["responses"]
                    .as_object()
                    .expect("responses")
                    .iter()
                    .map(|(status, response)| {
                        (
                            status.parse().expect("a numeric status"),
                            schema_of(&response["content"]),
                        )
                    })
                    .collect();
                operations.push(Operation {
                    method: method.clone(),
                    path: path.clone(),
                    request: schema_of(&operation["requestBody"]["content"]),
                    responses,
                });
            }
        }
        operations
    }

    /// The schema `schema` points at, when it is a `$ref`.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        self.resolve_in("schemas", schema)
    }

    /// What `value` points at in `components.<kind>`, when it is a `$ref`.
    fn resolve_in<'a>(&'a self, kind: &str, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or("");
                self.resolve_in(kind, &self.document["components"][kind][name])
            }
            None => value,
        }
    }

    /// The required properties of an object schema.
    pub fn required(&self, schema: &Value) -> Vec<String> {
        required(self.resolve(schema))
    }

    /// Whether `instance` is valid under `schema`; the errors when it is not.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = json_schema(schema);
        if let Value::Object(fields) = &mut root {
            fields.insert("components".to_owned(), self.components.clone());
        } else {
            root = json!({"allOf": [root], "components": self.components});
        }
        let validator = jsonschema::validator_for(&root).map_err(|e| format!("the schema does not compile: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Valid instances of `schema`: a documented example where it validates, then one per
    /// alternative its `oneOf`s and `anyOf`s offer, arrays of each kind of item and of all kinds
    /// at once (a mixed batch), and objects with each alternative of each required property
    /// (required properties only).
    pub fn instances(&self, schema: &Value) -> Vec<Value> {
        const MOST: usize = 12;
        let schema = self.resolve(schema);
        let mut instances = Vec::new();
        if let Some(example) = schema.get("example").filter(|e| self.validate(schema, e).is_ok()) {
            instances.push(example.clone());
        }
        if let Some(choices) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            instances.extend(choices.iter().flat_map(|choice| self.instances(choice)));
        } else {
            match schema.get("type").and_then(Value::as_str) {
                Some("object") => {
                    let base = self.instance(schema);
                    instances.push(base.clone());
                    for name in required(schema) {
                        for alternative in self.instances(&schema["properties"][name.as_str()]).into_iter().skip(1) {
                            let mut variant = base.clone();
                            variant[name.as_str()] = alternative;
                            instances.push(variant);
                        }
                    }
                }
                Some("array")
                    if self.resolve(&schema["items"]).get("type").and_then(Value::as_str) == Some("integer") =>
                {
                    instances.push(json!(self.token_ids));
                }
                Some("array") if schema.get("maxItems").is_none() => {
                    let items = self.instances(&schema["items"]);
                    instances.extend(items.iter().map(|item| json!([item])));
                    if items.len() > 1 {
                        instances.push(Value::Array(items));
                    }
                }
                _ => instances.push(self.instance(schema)),
            }
        }
        let mut distinct: Vec<Value> = Vec::new();
        for instance in instances {
            if !distinct.contains(&instance) && self.validate(schema, &instance).is_ok() {
                distinct.push(instance);
            }
        }
        distinct.truncate(MOST);
        distinct
    }

    /// One valid instance of `schema`.
    pub fn instance(&self, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(example) = schema.get("example").filter(|e| self.validate(schema, e).is_ok()) {
            return example.clone();
        }
        if let Some(first) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .or_else(|| schema.get("allOf"))
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
        {
            return self.instance(first);
        }
        if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => Value::Object(
                required(schema)
                    .into_iter()
                    .map(|name| {
                        let value = self.instance(&schema["properties"][name.as_str()]);
                        (name, value)
                    })
                    .collect::<Map<_, _>>(),
            ),
            Some("array") if self.resolve(&schema["items"]).get("type").and_then(Value::as_str) == Some("integer") => {
                json!(self.token_ids)
            }
            Some("array") => {
                let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
                Value::Array((0..count).map(|_| self.instance(&schema["items"])).collect())
            }
            Some("integer") => json!(schema.get("minimum").and_then(Value::as_u64).unwrap_or(0)),
            Some("number") => json!(0.5),
            Some("boolean") => json!(true),
            _ => json!("What is Deep Learning?"),
        }
    }

    /// The optional properties of an object schema whose values are safe to send without
    /// knowing the model (booleans and enums), each with every value it may take.
    pub fn optional_switches(&self, schema: &Value) -> Vec<(String, Vec<Value>)> {
        let schema = self.resolve(schema);
        let required = required(schema);
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .filter(|(name, _)| !required.contains(name))
            .filter_map(|(name, property)| {
                let property = match property.get("allOf").and_then(Value::as_array) {
                    Some(parts) if parts.len() == 1 => self.resolve(&parts[0]),
                    _ => self.resolve(property),
                };
                let values = match (property.get("type").and_then(Value::as_str), property.get("enum")) {
                    (_, Some(Value::Array(values))) => values.clone(),
                    (Some("boolean"), _) => vec![json!(true), json!(false)],
                    _ => return None,
                };
                Some((name.clone(), values))
            })
            .collect()
    }
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// OpenAPI 3.0's schema dialect as JSON Schema: `nullable: true` admits `null`.
fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(fields) => {
            let mut converted: Map<String, Value> = fields
                .iter()
                .filter(|(key, _)| key.as_str() != "nullable")
                .map(|(key, value)| (key.clone(), json_schema(value)))
                .collect();
            if fields.get("nullable") == Some(&Value::Bool(true)) {
                match converted.get("type").and_then(Value::as_str).map(str::to_owned) {
                    Some(kind) => {
                        converted.insert("type".to_owned(), json!([kind, "null"]));
                    }
                    None => return json!({"anyOf": [Value::Object(converted), {"type": "null"}]}),
                }
            }
            Value::Object(converted)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_admits_null_and_refs_resolve() {
        let schema = json!({"type": "integer", "nullable": true});
        assert_eq!(json_schema(&schema), json!({"type": ["integer", "null"]}));
        let nested = json!({"allOf": [{"$ref": "#/x"}], "nullable": true});
        assert_eq!(
            json_schema(&nested),
            json!({"anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]})
        );
    }
}
