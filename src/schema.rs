//! The JSON schemas of herald's files, generated from the model types.
//!
//! The generated schemas are committed under `schemas/` so editors can use them through a
//! `# yaml-language-server: $schema=...` modeline; a test fails when they drift from the types.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::model::{PricingFile, Project, ResourceFile};

/// Where the schemas live, relative to the repository (and project) root.
pub const SCHEMA_DIR: &str = "schemas";
/// The resource-file schema's file name.
pub const RESOURCE_SCHEMA_FILE: &str = "herald.schema.json";
/// The herald.yaml schema's file name.
pub const PROJECT_SCHEMA_FILE: &str = "herald-project.schema.json";
/// The rate card's (`pricing.yaml`) schema's file name.
pub const PRICING_SCHEMA_FILE: &str = "herald-pricing.schema.json";

fn generate<T: JsonSchema>(id: &str) -> Value {
    let schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.insert("$id".to_owned(), Value::String(id.to_owned()));
    }
    value
}

/// The schema of resource files (`campaigns/**/*.yaml`).
pub fn resource_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| generate::<ResourceFile>("https://herald.dev/schemas/herald.schema.json"))
}

/// The schema of `herald.yaml`.
pub fn project_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        generate::<Project>("https://herald.dev/schemas/herald-project.schema.json")
    })
}

/// The schema of a rate card (`pricing:` of herald.yaml).
pub fn pricing_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        generate::<PricingFile>("https://herald.dev/schemas/herald-pricing.schema.json")
    })
}

/// Every schema with its file name, as written by `herald schema --write`.
pub fn files() -> [(&'static str, String); 3] {
    [
        (RESOURCE_SCHEMA_FILE, pretty(resource_schema())),
        (PROJECT_SCHEMA_FILE, pretty(project_schema())),
        (PRICING_SCHEMA_FILE, pretty(pricing_schema())),
    ]
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Writes every schema into `dir/schemas/`, returning the paths written.
pub fn write(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let out = dir.join(SCHEMA_DIR);
    std::fs::create_dir_all(&out)?;
    files()
        .into_iter()
        .map(|(name, text)| {
            let path = out.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}

/// The description the schema gives for the property `name` of the object schema that the
/// absolute keyword location `location` (a `#/...` fragment) lies in.
pub fn property_description(root: &Value, object_pointer: &str, name: &str) -> Option<String> {
    let object = root.pointer(object_pointer)?;
    let property = object.get("properties")?.get(name)?;
    let property = resolve(root, property);
    property
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The property names the object schema at `object_pointer` allows, sorted.
pub fn property_names(root: &Value, object_pointer: &str) -> Vec<String> {
    let mut names: Vec<String> = root
        .pointer(object_pointer)
        .and_then(|o| o.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The schema a property's schema stands for: the non-null branch of an `Option<T>`'s `anyOf`,
/// then one local `$ref` hop (all schemars generates).
pub fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    if let Some(Value::Array(branches)) = schema.get("anyOf")
        && let Some(b) = branches
            .iter()
            .find(|b| b.get("type") != Some(&"null".into()))
    {
        schema = b;
    }
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
        .unwrap_or(schema)
}
