//! Every SARIF document `hunkscan scan --format sarif` writes validates
//! against the SARIF 2.1.0 schema (`../shared/sarif/`), as a GitHub code
//! scanning upload requires: the shipped fixtures, and a change that makes
//! every analyzer report (a rule without references included, whose
//! `helpUri` used to be written as null).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn schema() -> Option<jsonschema::Validator> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/sarif/sarif-schema-2.1.0.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: {} is absent (a fresh clone without ../shared); SARIF was not validated against the schema",
            path.display()
        );
        return None;
    };
    let schema: Value = serde_json::from_str(&text).expect("the SARIF schema is JSON");
    Some(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&schema)
            .expect("the SARIF schema compiles"),
    )
}

fn sarif(base: &Path, head: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_hunkscan"))
        .args(["scan", "--format", "sarif", "--base-tree"])
        .arg(base)
        .arg("--head-tree")
        .arg(head)
        .output()
        .expect("hunkscan runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("SARIF is JSON")
}

fn assert_valid(validator: &jsonschema::Validator, document: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
    let results = document["runs"][0]["results"].as_array().expect("results");
    assert!(
        !results.is_empty(),
        "{what}: a document without results proves little"
    );
}

#[test]
fn the_fixtures_sarif_validates() {
    let Some(validator) = schema() else { return };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for fixture in ["sample-pr", "iac"] {
        let root = fixtures.join(fixture);
        let document = sarif(&root.join("base"), &root.join("head"));
        assert_valid(&validator, &document, fixture);
    }
}

#[test]
fn a_run_of_every_analyzer_validates() {
    let Some(validator) = schema() else { return };
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(head.join("deploy dir")).expect("head");
    let files = [
        (
            "app.py",
            "import os\nimport yaml\n\n\ndef run(cmd, s):\n    os.system(cmd)\n    return yaml.load(s)\n\n\ndb_password = \"Zx8kQ2mLp9wR4tYv\"\n",
        ),
        (
            "deploy dir/pod #1.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: nginx:latest\n      securityContext:\n        privileged: true\n",
        ),
        (
            "Dockerfile",
            "FROM python:3.12.4-slim\nENV API_TOKEN=Zx8kQ2mLp9wR4tYvB7nM\nRUN curl https://get.example.sh | sh\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(head.join(path), text).expect("write");
    }
    let document = sarif(&base, &head);
    assert_valid(&validator, &document, "every analyzer");
    let analyzers: std::collections::BTreeSet<&str> = document["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["properties"]["analyzer"].as_str())
        .collect();
    assert_eq!(
        analyzers.into_iter().collect::<Vec<_>>(),
        ["iac", "sast", "secrets"]
    );
    let rules = document["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(
        rules
            .iter()
            .any(|r| r["id"] == "secrets.generic-assignment"),
        "the rule without a reference URL is in the document"
    );
    for rule in rules {
        let text = rule["shortDescription"]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(!text.contains('$'), "raw metavariable in {text:?}");
    }
}

#[test]
fn a_taint_finding_carries_its_path_as_a_code_flow() {
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(head.join("web")).expect("head");
    std::fs::write(
        head.join("web/views.py"),
        "import os\nfrom flask import request\n\n\ndef run():\n    name = request.args[\"n\"]\n    line = \"ls \" + name\n    os.system(line)\n",
    )
    .expect("write");
    let document = sarif(&base, &head);
    if let Some(validator) = schema() {
        assert_valid(&validator, &document, "a taint flow");
    }
    let results = document["runs"][0]["results"].as_array().expect("results");
    let flow = results
        .iter()
        .find(|r| r["ruleId"] == "python.taint.command-injection")
        .expect("the flow is reported");
    let locations = flow["codeFlows"][0]["threadFlows"][0]["locations"]
        .as_array()
        .expect("a thread flow");
    let places: Vec<(u64, &str)> = locations
        .iter()
        .map(|l| {
            let location = &l["location"];
            (
                location["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap_or_default(),
                location["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or_default(),
            )
        })
        .collect();
    // Source, the two assignments, the sink: in order, in the file.
    assert_eq!(
        places,
        [
            (6, "web/views.py"),
            (6, "web/views.py"),
            (7, "web/views.py"),
            (8, "web/views.py")
        ]
    );
    let first = locations[0]["location"]["message"]["text"]
        .as_str()
        .unwrap_or_default();
    let last = locations[3]["location"]["message"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(first.starts_with("HTTP request data"), "{first}");
    assert!(last.starts_with("sink: os.system(line)"), "{last}");
}

#[test]
fn a_credential_on_a_flow_step_is_masked_in_the_code_flow() {
    let trees = tempfile::tempdir().expect("tempdir");
    let (base, head) = (trees.path().join("base"), trees.path().join("head"));
    std::fs::create_dir_all(&base).expect("base");
    std::fs::create_dir_all(&head).expect("head");
    std::fs::write(
        head.join("sync.py"),
        "import os\nfrom flask import request\n\n\ndef sync():\n    bucket = request.args[\"b\"]\n    line = \"aws --key AKIAZ7Q4XW2M9RT3LPKE s3 sync /srv s3://\" + bucket\n    os.system(line)\n",
    )
    .expect("write");
    let document = sarif(&base, &head);
    let results = document["runs"][0]["results"].as_array().expect("results");
    let flow = results
        .iter()
        .find(|r| r["ruleId"] == "python.taint.command-injection")
        .expect("the flow is reported");
    let steps = flow["codeFlows"][0]["threadFlows"][0]["locations"]
        .as_array()
        .expect("a thread flow");
    assert!(
        steps.iter().any(|s| s["location"]["message"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("aws --key"))),
        "the step with the credential is on the path: {steps:#?}"
    );
    let text = document.to_string();
    assert!(
        !text.contains("AKIAZ7Q4XW2M9RT3LPKE"),
        "the credential never leaves the process"
    );
}
