//! The review task: findings per unit as JSON (severity, line, category, message),
//! parsed into rows. An answer that does not parse is kept raw with the reason.

use serde::{Deserialize, Serialize};

use crate::source::UnitKind;

/// The system message.
pub const SYSTEM: &str = "You are a careful senior engineer reviewing code. You answer with JSON only.";

/// The user message; the shared instruction first, for the prefix cache.
pub const TEMPLATE: &str = "Review the code below for bugs, security problems, performance problems and hard \
to maintain code. Answer with one JSON object and nothing else, of exactly this shape:
{\"findings\": [{\"severity\": \"low\" | \"medium\" | \"high\", \"line\": <line number in the file>, \
\"category\": \"bug\" | \"security\" | \"performance\" | \"style\" | \"maintainability\", \"message\": \"<one sentence>\"}]}
Report at most 4 findings, the most important first, each message one short sentence. \
Use an empty list when there is nothing worth reporting.

Language: {{ language }}
File: {{ path }} (lines {{ start_line }}-{{ end_line }})

```{{ language }}
{{ content }}
```";

/// Unit kinds the review task leaves alone unless `[tasks.review] skip_kinds` says
/// otherwise: a file's outline shows its definitions without their bodies, each of
/// which is reviewed as its own unit.
pub const SKIP_KINDS: &[UnitKind] = &[UnitKind::Outline];

/// Allowed severities.
pub const SEVERITIES: [&str; 3] = ["low", "medium", "high"];
/// Allowed categories.
pub const CATEGORIES: [&str; 5] = ["bug", "security", "performance", "style", "maintainability"];

/// Findings per unit at most, and characters per message: bounds that make every
/// constrained answer fit in a few hundred tokens, even from a model that rambles.
const MAX_FINDINGS: usize = 4;
const MAX_MESSAGE_CHARS: usize = 160;

/// The JSON schema of an answer, for constrained sampling: compact JSON (no free
/// whitespace, which a small model can repeat forever), known severities and
/// categories, bounded lengths.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "x-guidance": { "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": " },
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": MAX_FINDINGS,
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": { "enum": SEVERITIES },
                        "line": { "type": "integer", "minimum": 1, "maximum": 99_999_999 },
                        "category": { "enum": CATEGORIES },
                        "message": { "type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS }
                    },
                    "required": ["severity", "line", "category", "message"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["findings"],
        "additionalProperties": false
    })
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// `low`, `medium` or `high`.
    pub severity: String,
    /// The line in the file it is about, when the model gave one.
    pub line: Option<u32>,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    findings: Vec<Finding>,
}

/// The findings in the model's answer: the first JSON object in it (a code fence or
/// chatter around it is tolerated), checked against the shape the prompt asks for. A
/// finding that repeats an earlier one's line and message (small models say one thing
/// under two categories) is dropped: it is one finding, and a digest or a code-scanning
/// upload would show it twice.
///
/// An answer `cut_short` (by `max_new_tokens` or the end of the context) inside its JSON
/// keeps the findings it finished: each is one the model wrote whole, as a cut-off doc
/// keeps its whole paragraphs. One that finished none does not parse, and `retries` ask
/// again.
pub fn parse(answer: &str, cut_short: bool) -> Result<Vec<Finding>, String> {
    let start = answer.find('{').ok_or("no JSON object in the answer")?;
    let json = &answer[start..];
    let findings = match serde_json::Deserializer::from_str(json).into_iter::<Answer>().next() {
        Some(Ok(answer)) => answer.findings,
        Some(Err(e)) if e.is_eof() && cut_short => match finished_findings(json) {
            found if found.is_empty() => return Err(format!("the answer was cut off before its first finding ended: {e}")),
            found => found,
        },
        Some(Err(e)) => return Err(format!("not the findings JSON: {e}")),
        None => return Err("no JSON object in the answer".into()),
    };
    for f in &findings {
        if !SEVERITIES.contains(&f.severity.as_str()) {
            return Err(format!("unknown severity {:?}", f.severity));
        }
        if !CATEGORIES.contains(&f.category.as_str()) {
            return Err(format!("unknown category {:?}", f.category));
        }
    }
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        if !kept.iter().any(|seen| (seen.line, seen.message.trim()) == (f.line, f.message.trim())) {
            kept.push(f);
        }
    }
    Ok(kept)
}

/// The whole findings at the start of `json`'s `"findings"` list, which ends early: each
/// one read until the first that does not (the one cut off).
fn finished_findings(json: &str) -> Vec<Finding> {
    let Some(list) = json.strip_prefix('{').map(str::trim_start).and_then(|rest| rest.strip_prefix("\"findings\"")) else {
        return Vec::new();
    };
    let Some(mut rest) = list.trim_start().strip_prefix(':').map(str::trim_start).and_then(|rest| rest.strip_prefix('[')) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Finding>();
        match stream.next() {
            Some(Ok(finding)) => {
                found.push(finding);
                rest = &rest[stream.byte_offset()..];
            }
            _ => return found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_parse_from_json_with_chatter_around_it() {
        let answer = "Here you go:\n```json\n{\"findings\": [{\"severity\": \"high\", \"line\": 3, \
            \"category\": \"bug\", \"message\": \"Off by one.\"}]}\n```";
        let findings = parse(answer, false).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].line, findings[0].severity.as_str()), (Some(3), "high"));
        assert_eq!(parse("{\"findings\": []}", false).unwrap(), vec![]);
    }

    #[test]
    fn a_finding_said_twice_is_kept_once() {
        let answer = r#"{"findings": [
            {"severity": "high", "line": 3, "category": "bug", "message": "Off by one."},
            {"severity": "low", "line": 3, "category": "maintainability", "message": "Off by one. "},
            {"severity": "low", "line": 4, "category": "bug", "message": "Off by one."},
            {"severity": "low", "line": 3, "category": "style", "message": "Name it clearly."}]}"#;
        let kept: Vec<(Option<u32>, String)> = parse(answer, false).unwrap().into_iter().map(|f| (f.line, f.category)).collect();
        assert_eq!(kept, [(Some(3), "bug".to_string()), (Some(4), "bug".to_string()), (Some(3), "style".to_string())]);
    }

    #[test]
    fn malformed_answers_say_why() {
        assert!(parse("Looks fine to me.", false).unwrap_err().contains("no JSON"));
        assert!(parse("{\"findings\": [{\"severity\": \"huge\", \"line\": 1, \"category\": \"bug\", \"message\": \"x\"}]}", false)
            .unwrap_err()
            .contains("huge"));
        assert!(parse("{\"findings\": [", false).unwrap_err().contains("not the findings JSON"));
        assert!(parse("{\"issues\": []}", false).is_err());
    }

    #[test]
    fn a_cut_off_answer_keeps_the_findings_it_finished() {
        let whole = r#"{"findings": [{"severity": "high", "line": 3, "category": "bug", "message": "Off by one."}, "#.to_string()
            + r#"{"severity": "low", "line": 9, "category": "style", "message": "Name it clearly."}, "#;
        let cut = whole.clone() + r#"{"severity": "medium", "line": 12, "category": "perf"#;
        let kept: Vec<Option<u32>> = parse(&cut, true).unwrap().into_iter().map(|f| f.line).collect();
        assert_eq!(kept, [Some(3), Some(9)]);
        // Cut between two findings, or inside the first one's message.
        assert_eq!(parse(&whole, true).unwrap().len(), 2);
        let first_cut = r#"{"findings": [{"severity": "high", "line": 3, "category": "bug", "message": "Off by"#;
        assert!(parse(first_cut, true).unwrap_err().contains("cut off before its first finding ended"), "{:?}", parse(first_cut, true));
        // An answer that ended by itself, or is not the findings JSON, is no cut-off one.
        assert!(parse(&cut, false).unwrap_err().contains("not the findings JSON"));
        assert!(parse(r#"{"issues": [{"severity": "high""#, true).is_err());
        // A finished finding is still held to the schema.
        let unknown = r#"{"findings": [{"severity": "huge", "line": 3, "category": "bug", "message": "x"}, {"sev"#;
        assert!(parse(unknown, true).unwrap_err().contains("huge"));
    }
}
