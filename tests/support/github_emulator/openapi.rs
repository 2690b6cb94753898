//! Validation against GitHub's OpenAPI description (`../shared/github/openapi/
//! api.github.com.json`, OpenAPI 3.0.3, 13 MB).
//!
//! The file is read once per test process into just what validation needs:
//! per operation its method, path template, request and response schemas and
//! documentation URL, plus `components.schemas`. A validator is compiled per
//! operation and schema on first use: the schema is translated from OpenAPI
//! 3.0 to JSON Schema draft 7 (`nullable` → `anyOf` with null; annotations
//! and `x-*` extensions dropped; `$ref: #/components/schemas/X` →
//! `#/definitions/X`) and only the components it reaches are embedded, so
//! each compile stays small. A missing file disables validation with one
//! line on stderr; the emulator then still enforces GitHub's limits itself.

use jsonschema::{Draft, Validator};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the description lives, relative to the crate root.
pub fn spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/github/openapi/api.github.com.json")
}

#[derive(Deserialize)]
struct RawSpec {
    paths: BTreeMap<String, RawPathItem>,
    components: RawComponents,
}

#[derive(Deserialize)]
struct RawPathItem {
    get: Option<RawOperation>,
    post: Option<RawOperation>,
    put: Option<RawOperation>,
    patch: Option<RawOperation>,
    delete: Option<RawOperation>,
}

#[derive(Deserialize)]
struct RawOperation {
    #[serde(rename = "operationId")]
    operation_id: String,
    #[serde(rename = "requestBody")]
    request_body: Option<RawBody>,
    #[serde(default)]
    responses: BTreeMap<String, RawBody>,
    #[serde(rename = "externalDocs")]
    external_docs: Option<RawDocs>,
}

/// A request body or a response: inline content or a `$ref` to
/// `#/components/responses/...`.
#[derive(Deserialize)]
struct RawBody {
    #[serde(rename = "$ref")]
    reference: Option<String>,
    content: Option<BTreeMap<String, RawMedia>>,
}

#[derive(Deserialize)]
struct RawMedia {
    schema: Option<Value>,
}

#[derive(Deserialize)]
struct RawDocs {
    url: String,
}

#[derive(Deserialize)]
struct RawComponents {
    schemas: Map<String, Value>,
    #[serde(default)]
    responses: BTreeMap<String, RawBody>,
}

/// One operation of the description.
pub struct Operation {
    pub operation_id: String,
    pub method: String,
    pub template: String,
    pub docs_url: Option<String>,
    segments: Vec<String>,
    request: Option<Value>,
    responses: BTreeMap<String, Value>,
}

/// The prepared description.
pub struct OpenApi {
    operations: Vec<Operation>,
    schemas: Map<String, Value>,
    validators: Mutex<HashMap<(usize, String), Compiled>>,
}

/// A compiled validator, or why the schema would not compile.
type Compiled = Result<Arc<Validator>, String>;

/// The description, loaded once per process; `Err` says why it is not
/// available (and was printed once to stderr).
pub fn load() -> &'static Result<OpenApi, String> {
    static SPEC: OnceLock<Result<OpenApi, String>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let loaded = read(&spec_path());
        if let Err(why) = &loaded {
            eprintln!("github emulator: OpenAPI validation of request bodies is skipped: {why}");
        }
        loaded
    })
}

fn json_schema(content: &Option<BTreeMap<String, RawMedia>>) -> Option<Value> {
    content.as_ref()?.get("application/json")?.schema.clone()
}

fn read(path: &std::path::Path) -> Result<OpenApi, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {} ({e})", path.display()))?;
    let raw: RawSpec = serde_json::from_slice(&bytes)
        .map_err(|e| format!("cannot parse {} ({e})", path.display()))?;
    let shared_responses: BTreeMap<String, Value> = raw
        .components
        .responses
        .iter()
        .filter_map(|(name, r)| Some((name.clone(), json_schema(&r.content)?)))
        .collect();
    let mut operations = Vec::new();
    for (template, item) in raw.paths {
        let methods = [
            ("GET", item.get),
            ("POST", item.post),
            ("PUT", item.put),
            ("PATCH", item.patch),
            ("DELETE", item.delete),
        ];
        for (method, op) in methods {
            let Some(op) = op else { continue };
            let responses = op
                .responses
                .iter()
                .filter_map(|(status, r)| {
                    let schema = match &r.reference {
                        Some(r) => shared_responses
                            .get(r.trim_start_matches("#/components/responses/"))
                            .cloned(),
                        None => json_schema(&r.content),
                    };
                    Some((status.clone(), schema?))
                })
                .collect();
            operations.push(Operation {
                operation_id: op.operation_id,
                method: method.to_owned(),
                segments: template.split('/').map(str::to_owned).collect(),
                template: template.clone(),
                docs_url: op.external_docs.map(|d| d.url),
                request: op.request_body.and_then(|b| json_schema(&b.content)),
                responses,
            });
        }
    }
    Ok(OpenApi {
        operations,
        schemas: raw.components.schemas,
        validators: Mutex::new(HashMap::new()),
    })
}

impl OpenApi {
    /// The operation for a method and a concrete path (e.g.
    /// `/repos/o/r/check-runs/5`), preferring the template with the most
    /// literal segments. A trailing `{path}` parameter takes the rest.
    pub fn find(&self, method: &str, path: &str) -> Option<(usize, &Operation)> {
        let parts: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .enumerate()
            .filter(|(_, op)| op.method == method && matches(&op.segments, &parts))
            .max_by_key(|(_, op)| op.segments.iter().filter(|s| !s.starts_with('{')).count())
    }

    /// Validates a request body; `Err` lists what is wrong.
    pub fn validate_request(&self, index: usize, body: &Value) -> Result<(), String> {
        let Some(schema) = &self.operations[index].request else {
            return Ok(());
        };
        self.validate(index, "request", schema, body)
    }

    /// Validates a response body against the schema for its status, when
    /// the description defines one.
    pub fn validate_response(&self, index: usize, status: u16, body: &Value) -> Result<(), String> {
        let key = status.to_string();
        let Some(schema) = self.operations[index].responses.get(&key) else {
            return Ok(());
        };
        self.validate(index, &key, schema, body)
    }

    fn validate(
        &self,
        index: usize,
        key: &str,
        schema: &Value,
        body: &Value,
    ) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entry((index, key.to_owned()))
                .or_insert_with(|| self.compile(schema).map(Arc::new))
                .clone()
        };
        let validator = validator.map_err(|e| {
            format!(
                "the emulator could not compile the schema of {} {key}: {e}",
                self.operations[index].operation_id
            )
        })?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .take(5)
            .map(|e| {
                let mut text = e.to_string();
                if text.len() > 300 {
                    let mut end = 300;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.truncate(end);
                    text.push('…');
                }
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    text
                } else {
                    format!("{at}: {text}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    fn compile(&self, schema: &Value) -> Result<Validator, String> {
        let root = translate(schema);
        let mut definitions = Map::new();
        let mut pending = Vec::new();
        collect_refs(&root, &mut pending);
        while let Some(name) = pending.pop() {
            if definitions.contains_key(&name) {
                continue;
            }
            let raw = self
                .schemas
                .get(&name)
                .ok_or_else(|| format!("unresolved $ref to {name}"))?;
            let translated = translate(&known_gaps(&name, raw));
            collect_refs(&translated, &mut pending);
            definitions.insert(name, translated);
        }
        let document = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "allOf": [root],
            "definitions": definitions,
        });
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| e.to_string())
    }
}

fn matches(template: &[String], parts: &[&str]) -> bool {
    if let Some(last) = template.last()
        && last == "{path}"
        && parts.len() >= template.len()
    {
        let n = template.len() - 1;
        return segments_match(&template[..n], &parts[..n]);
    }
    template.len() == parts.len() && segments_match(template, parts)
}

fn segments_match(template: &[String], parts: &[&str]) -> bool {
    template.iter().zip(parts).all(|(t, p)| {
        if t.starts_with('{') {
            !p.is_empty()
        } else {
            t == p
        }
    })
}

/// Where GitHub's answers differ from its own description, the emulator
/// follows GitHub: an outdated review comment has `line` and `position` null.
fn known_gaps(name: &str, schema: &Value) -> Value {
    let mut schema = schema.clone();
    if name == "pull-request-review-comment" {
        for field in ["line", "position"] {
            if let Some(p) = schema.pointer_mut(&format!("/properties/{field}")) {
                p["nullable"] = json!(true);
            }
        }
    }
    schema
}

const DROPPED: [&str; 10] = [
    "description",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "discriminator",
    "xml",
    "externalDocs",
    "title",
];

/// OpenAPI 3.0 schema → JSON Schema draft 7.
fn translate(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(Value::String(r)) = map.get("$ref") {
        // OpenAPI 3.0 ignores a reference's siblings.
        let name = r.trim_start_matches("#/components/schemas/");
        return json!({ "$ref": format!("#/definitions/{}", escape_pointer(name)) });
    }
    let mut out = Map::new();
    for (key, value) in map {
        if DROPPED.contains(&key.as_str()) || key.starts_with("x-") || key == "nullable" {
            continue;
        }
        let translated = match key.as_str() {
            "properties" | "patternProperties" => match value {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), translate(v)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => translate(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(items) => Value::Array(items.iter().map(translate).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        json!({ "anyOf": [{ "type": "null" }, Value::Object(out)] })
    } else {
        Value::Object(out)
    }
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix("#/definitions/")
            {
                out.push(name.replace("~1", "/").replace("~0", "~"));
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
