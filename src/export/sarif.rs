//! Review findings as a SARIF 2.1.0 log, the OASIS format static-analysis results are
//! exchanged in: GitHub code scanning (`github/codeql-action/upload-sarif`), GitLab,
//! VS Code's SARIF viewer and DefectDojo load it, and track a finding across nightly
//! runs by its fingerprint. Written with serde_json: the log is a plain JSON tree, and
//! the SARIF crates generate thousands of types for the few fields used here.

use serde_json::{json, Value};

use super::{finding_lines, Lines};
use crate::finished::rows::{Place, Row, StaleDoc};
use crate::finished::{RepoFacts, TaskModel};
use crate::tasks::review::{Finding, CATEGORIES};

/// The URI base the locations are relative to: the repository's root.
const SRCROOT: &str = "SRCROOT";

/// The rule of the walk's own finding beside the model's categories: a doc that names
/// parameters its code no longer has, or leaves out one it has
/// ([`crate::source::Unit::stale_doc`]).
const STALE_DOC: &str = "stale-doc";

/// One run of hearth's review over one repository: the model's findings on the units it
/// reviewed, and the repository's `stale` docs.
pub fn log(repo: &str, rows: &[&Row<Vec<Finding>>], stale: &[&StaleDoc], model: &TaskModel, facts: &RepoFacts) -> Value {
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for row in rows {
        match &row.outcome {
            Ok(findings) => results.extend(findings.iter().map(|f| result(&row.place, f))),
            // The tool ran but has nothing to say about this unit: a notification, so a
            // viewer shows the gap rather than a clean bill.
            Err(why) => notifications.push(json!({
                "level": "warning",
                "message": { "text": format!("no review of this unit: {why}") },
                "locations": [location(&row.place, Lines::Span(row.place.start_line, row.place.end_line))],
            })),
        }
    }
    for doc in stale {
        let finding = Finding { severity: "medium".into(), line: Some(doc.place.start_line), category: STALE_DOC.into(), message: doc.why.clone() };
        let mut result = result(&doc.place, &finding);
        result["properties"]["found_by"] = json!("walk");
        results.push(result);
    }
    let rules: Vec<Value> = rule_ids()
        .map(|id| {
            json!({
                "id": id,
                "name": rule_name(id),
                "shortDescription": { "text": rule_description(id) },
                "defaultConfiguration": { "level": "warning" },
            })
        })
        .collect();
    let mut run = json!({
        "tool": { "driver": {
            "name": "hearth",
            "version": model.hearth_version,
            "rules": rules,
            "properties": { "model": model.model, "model_hash": model.model_hash },
        }},
        "automationDetails": { "id": format!("hearth-review/{repo}/") },
        "invocations": [{ "executionSuccessful": true, "toolExecutionNotifications": notifications }],
        "results": results,
        "properties": { "repo": repo, "units_reviewed": rows.len() },
    });
    if let Some(root) = facts.root.as_deref().filter(|r| r.starts_with('/')) {
        let uri = format!("file://{}/", super::uri_path(root.trim_end_matches('/')));
        run["originalUriBaseIds"] = json!({ SRCROOT: { "uri": uri } });
    }
    if let Some(commit) = &facts.git_commit {
        run["properties"]["git_commit"] = json!(commit);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

fn result(place: &Place, finding: &Finding) -> Value {
    let level = match finding.severity.as_str() {
        "high" => "error",
        "medium" => "warning",
        _ => "note",
    };
    let lines = finding_lines(place, finding);
    let mut properties = json!({ "severity": finding.severity, "unit_id": place.unit_id });
    if let (Lines::Span(..), Some(line)) = (lines, finding.line) {
        properties["line_given"] = json!(line);
    }
    let mut location = location(place, lines);
    if let Some(name) = &place.name {
        let qualified = place.parent.as_ref().map_or_else(|| name.clone(), |parent| format!("{parent}.{name}"));
        location["logicalLocations"] = json!([{ "name": name, "fullyQualifiedName": qualified, "kind": logical_kind(&place.kind) }]);
    }
    json!({
        "ruleId": finding.category,
        "ruleIndex": rule_ids().position(|id| id == finding.category),
        "level": level,
        "message": { "text": finding.message },
        "locations": [location],
        "partialFingerprints": { "hearthFinding/v1": fingerprint(place, finding) },
        "properties": properties,
    })
}

fn location(place: &Place, lines: Lines) -> Value {
    let region = match lines {
        Lines::One(line) => json!({ "startLine": line }),
        Lines::Span(start, end) => json!({ "startLine": start, "endLine": end }),
    };
    json!({ "physicalLocation": {
        "artifactLocation": { "uri": super::uri_path(&place.path), "uriBaseId": SRCROOT },
        "region": region,
    }})
}

/// What identifies a finding from one night to the next: where it is (file and
/// definition, not line, which moves with every edit above it) and what it says. An
/// unchanged unit keeps its answer (the run carries it), so its findings keep their
/// fingerprints; a changed one is reviewed again.
fn fingerprint(place: &Place, finding: &Finding) -> String {
    let parts = [&place.repo, &place.path, place.parent.as_deref().unwrap_or(""), place.name.as_deref().unwrap_or(""), &finding.category, &finding.message];
    let hash = blake3::hash(parts.join("\u{1f}").as_bytes());
    hash.to_hex()[..32].to_string()
}

/// SARIF's logical location kind of a [`UnitKind`](crate::source::UnitKind) name.
fn logical_kind(kind: &str) -> &'static str {
    match kind {
        "function" | "procedure" | "macro" => "function",
        "method" => "member",
        "class" | "struct" | "enum" | "interface" | "trait" | "impl" | "type" => "type",
        "module" => "module",
        _ => "declaration",
    }
}

/// The rules of a log, in the order results index them.
fn rule_ids() -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().copied().chain([STALE_DOC])
}

fn rule_name(category: &str) -> &'static str {
    match category {
        STALE_DOC => "StaleDoc",
        "bug" => "LikelyBug",
        "security" => "SecurityProblem",
        "performance" => "PerformanceProblem",
        "style" => "StyleProblem",
        _ => "HardToMaintain",
    }
}

fn rule_description(category: &str) -> &'static str {
    match category {
        STALE_DOC => "The doc names a parameter the code no longer has, or leaves out one it has.",
        "bug" => "The code likely does not do what it is meant to.",
        "security" => "The code opens a security problem.",
        "performance" => "The code does needless or slow work.",
        "style" => "The code departs from the language's usual style.",
        _ => "The code is hard to read or change.",
    }
}
