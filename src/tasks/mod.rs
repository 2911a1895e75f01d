//! Stage 4, the tasks: what is asked of the model about each unit, and the rows its
//! answers become.
//!
//! - [`docs`]: a documentation comment per unit → `OUT/docs/`.
//! - [`review`]: findings as JSON, parsed → `OUT/reviews/`.
//! - embed: a pooled, normalised vector per unit → `OUT/embeddings/`.
//!
//! Every output row starts with the same columns (the unit's place, its `cache_key`,
//! `tokens_in`, the `energy_j` its steps drew, and `error` for a unit that failed), so
//! resume, incremental runs and readers treat the three folders alike.

pub mod docs;
pub mod house;
pub mod review;
mod units;

pub use house::{HouseStyle, HouseStyles};
pub use units::{read_doc_conventions, read_unit_keys, read_units, read_units_where, UnitKey, UnitRow, UnitStore};

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeListBuilder, Float32Builder, Float64Builder, ListBuilder, StringBuilder, StructBuilder, UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use serde::Serialize;

use crate::engine::{FinishReason, Output};
use crate::{Error, Result};

/// The three tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Documentation comments.
    Docs,
    /// Review findings.
    Review,
    /// Embedding vectors.
    Embed,
}

impl TaskKind {
    /// The name used in pipelines and summaries.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Docs => "docs",
            TaskKind::Review => "review",
            TaskKind::Embed => "embed",
        }
    }

    /// The output folder under `OUT/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            TaskKind::Docs => "docs",
            TaskKind::Review => "reviews",
            TaskKind::Embed => "embeddings",
        }
    }
}

/// A minijinja template over a unit's fields (plus `doc_style`: the docs convention of
/// its language and kind, of its repository's house style when it has one, and what is
/// wrong with the doc it has when that is stale).
#[derive(Debug)]
pub struct UnitTemplate {
    env: minijinja::Environment<'static>,
}

/// Compiles `source` as the one template of an environment where an undefined name is
/// an error (a typo in a template fails, instead of rendering as nothing); `what` names
/// it in errors.
fn strict_template(what: &str, source: &str) -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template_owned("template", source.to_string()).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    Ok(env)
}

impl UnitTemplate {
    /// Compiles `source`; `what` names it in errors.
    pub fn new(what: &str, source: &str) -> Result<UnitTemplate> {
        Ok(UnitTemplate { env: strict_template(what, source)? })
    }

    /// The text for `unit`, whose repository's docs name parameters in `house_style`;
    /// with `stale_note`, `doc_style` says why the doc it has is stale.
    pub fn render(&self, unit: &UnitRow, house_style: Option<HouseStyle>, stale_note: bool) -> std::result::Result<String, String> {
        let template = self.env.get_template("template").expect("added in new");
        let convention = docs::doc_style(&unit.language, &unit.kind);
        let mut doc_style = match house_style {
            Some(style) => format!("{convention}, {}, as this repository's docs are written", style.words()),
            None => convention.to_string(),
        };
        if let Some(why) = unit.stale_doc.as_deref().filter(|_| stale_note) {
            // A model shown the old doc in the code keeps its names unless told they are gone.
            doc_style += &format!(". The doc it has is stale ({why}): write the doc for the code as it is now");
        }
        let context = minijinja::context! { doc_style, ..minijinja::value::Serde(unit) };
        template.render(context).map_err(|e| format!("prompt template: {e}"))
    }
}

/// A search query's wrapping (`[tasks.embed] query_template`): a minijinja template
/// over `query`.
pub struct QueryTemplate {
    env: minijinja::Environment<'static>,
}

impl QueryTemplate {
    /// Compiles `source`; `what` names it in errors.
    pub fn new(what: &str, source: &str) -> Result<QueryTemplate> {
        Ok(QueryTemplate { env: strict_template(what, source)? })
    }

    /// The text embedded for `query`.
    pub fn render(&self, query: &str) -> std::result::Result<String, String> {
        let template = self.env.get_template("template").expect("added in new");
        template.render(minijinja::context! { query }).map_err(|e| format!("query template: {e}"))
    }
}

/// The unit's columns every task row repeats, typed as in `units.parquet`.
const UNIT_COLUMNS: [&str; 10] =
    ["unit_id", "repo", "path", "language", "kind", "name", "parent", "start_line", "end_line", "content_hash"];

/// Columns every task's rows start with.
fn common_fields() -> Vec<Field> {
    let units = crate::source::unit_schema();
    let mut fields: Vec<Field> =
        UNIT_COLUMNS.iter().map(|name| units.field_with_name(name).expect("a unit column").clone()).collect();
    fields.extend([
        Field::new("cache_key", DataType::Utf8, false),
        Field::new("tokens_in", DataType::UInt32, false),
        // The unit's share of each engine step's energy (split by the step's tokens);
        // null where the device's power is not measured.
        Field::new("energy_j", DataType::Float64, true),
        Field::new("error", DataType::Utf8, true),
    ]);
    fields
}

fn finding_fields() -> Fields {
    Fields::from(vec![
        Field::new("severity", DataType::Utf8, false),
        Field::new("line", DataType::UInt32, true),
        Field::new("category", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
    ])
}

fn finding_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(finding_fields()), false))
}

fn embedding_item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, false))
}

/// The Arrow schema of a task's rows. `embedding` is `(dimension, field metadata)`
/// for the embed task.
///
/// | task | columns after the common ones |
/// |---|---|
/// | docs | `text` utf8?, then the generation columns |
/// | review | `findings` list<struct<severity, line?, category, message>>?, then the generation columns |
/// | generation columns | `raw` utf8? (the answer as generated), `parse_error` utf8? (why it did not parse; kept, never dropped), `tokens_out` u32 (of every answer asked for), `finish_reason` utf8?, `attempts` u32? (answers asked for: more than 1 where `retries` asked again; null in rows written before it) |
/// | embed | `embedding` `fixed_size_list<f32>[dim]`? (metadata: model, dim, pooling) |
pub fn schema(task: TaskKind, embedding: Option<(usize, HashMap<String, String>)>) -> SchemaRef {
    let mut fields = common_fields();
    let parsed = match task {
        TaskKind::Docs => Field::new("text", DataType::Utf8, true),
        TaskKind::Review => Field::new("findings", DataType::List(finding_item()), true),
        TaskKind::Embed => {
            let (dim, metadata) = embedding.expect("the embed schema needs its dimension");
            let field = Field::new("embedding", DataType::FixedSizeList(embedding_item(), dim as i32), true);
            fields.push(field.with_metadata(metadata));
            return Arc::new(Schema::new(fields));
        }
    };
    fields.extend([
        parsed,
        Field::new("raw", DataType::Utf8, true),
        Field::new("parse_error", DataType::Utf8, true),
        Field::new("tokens_out", DataType::UInt32, false),
        Field::new("finish_reason", DataType::Utf8, true),
        Field::new("attempts", DataType::UInt32, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// The answers asked for before the one a row keeps: those a task's `retries` asked
/// again for, as they did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earlier {
    /// How many.
    pub answers: u32,
    /// The tokens they generated.
    pub tokens: usize,
}

impl Earlier {
    /// None: the first answer is the row's.
    pub const NONE: Earlier = Earlier { answers: 0, tokens: 0 };
}

/// What one unit came to.
pub enum Answer {
    /// A docs or review generation, or why it failed.
    Generation(std::result::Result<Output, String>),
    /// An embedding, or why it failed.
    Embedding(std::result::Result<Vec<f32>, String>),
}

/// Accumulates a task's rows into `RecordBatch`es of its [`schema`].
pub struct RowsBuilder {
    task: TaskKind,
    schema: SchemaRef,
    unit_id: StringBuilder,
    repo: StringBuilder,
    path: StringBuilder,
    language: StringBuilder,
    kind: StringBuilder,
    name: StringBuilder,
    parent: StringBuilder,
    start_line: UInt32Builder,
    end_line: UInt32Builder,
    content_hash: StringBuilder,
    cache_key: StringBuilder,
    tokens_in: UInt32Builder,
    energy_j: Float64Builder,
    error: StringBuilder,
    text: StringBuilder,
    raw: StringBuilder,
    tokens_out: UInt32Builder,
    finish_reason: StringBuilder,
    attempts: UInt32Builder,
    findings: ListBuilder<StructBuilder>,
    parse_error: StringBuilder,
    embedding: FixedSizeListBuilder<Float32Builder>,
    dim: usize,
    rows: usize,
}

impl RowsBuilder {
    /// A builder for rows of `schema` (from [`schema`]) of `task`.
    pub fn new(task: TaskKind, schema: SchemaRef) -> RowsBuilder {
        let dim = match schema.field_with_name("embedding").map(|f| f.data_type().clone()) {
            Ok(DataType::FixedSizeList(_, dim)) => dim as usize,
            _ => 0,
        };
        let finding_builder = StructBuilder::from_fields(finding_fields(), 0);
        RowsBuilder {
            task,
            schema,
            unit_id: StringBuilder::new(),
            repo: StringBuilder::new(),
            path: StringBuilder::new(),
            language: StringBuilder::new(),
            kind: StringBuilder::new(),
            name: StringBuilder::new(),
            parent: StringBuilder::new(),
            start_line: UInt32Builder::new(),
            end_line: UInt32Builder::new(),
            content_hash: StringBuilder::new(),
            cache_key: StringBuilder::new(),
            tokens_in: UInt32Builder::new(),
            energy_j: Float64Builder::new(),
            error: StringBuilder::new(),
            text: StringBuilder::new(),
            raw: StringBuilder::new(),
            tokens_out: UInt32Builder::new(),
            finish_reason: StringBuilder::new(),
            attempts: UInt32Builder::new(),
            findings: ListBuilder::new(finding_builder).with_field(finding_item()),
            parse_error: StringBuilder::new(),
            embedding: FixedSizeListBuilder::new(Float32Builder::new(), dim as i32).with_field(embedding_item()),
            dim,
            rows: 0,
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds `unit`'s row: its answer, parsed for the task, or its error, the energy
    /// attributed to it, and the `earlier` answers asked for before it. Returns whether
    /// it holds an answer the task could not read (its `parse_error` says why).
    pub fn push(&mut self, unit: &UnitRow, cache_key: &str, tokens_in: usize, energy_j: Option<f64>, answer: Answer, earlier: Earlier) -> bool {
        self.unit_id.append_value(&unit.unit_id);
        self.repo.append_value(&unit.repo);
        self.path.append_value(&unit.path);
        self.language.append_value(&unit.language);
        self.kind.append_value(&unit.kind);
        self.name.append_option(unit.name.as_deref());
        self.parent.append_option(unit.parent.as_deref());
        self.start_line.append_value(unit.start_line);
        self.end_line.append_value(unit.end_line);
        self.content_hash.append_value(&unit.content_hash);
        self.cache_key.append_value(cache_key);
        self.tokens_in.append_value(tokens_in as u32);
        self.energy_j.append_option(energy_j);
        self.rows += 1;
        match (self.task, answer) {
            (TaskKind::Docs | TaskKind::Review, Answer::Generation(result)) => {
                let (output, error) = split(result);
                self.error.append_option(error);
                self.raw.append_option(output.as_ref().map(|o| o.text.as_str()));
                let parse_error = match &output {
                    Some(o) => self.append_parsed(unit, o).err(),
                    None => {
                        self.append_parsed_null();
                        None
                    }
                };
                let unread = parse_error.is_some();
                self.parse_error.append_option(parse_error);
                self.generated(output.map(|o| (o.tokens.len(), o.finish)), earlier);
                unread
            }
            (TaskKind::Embed, Answer::Embedding(result)) => match result {
                Ok(vector) => {
                    assert_eq!(vector.len(), self.dim, "the embedding has the schema's dimension");
                    self.embedding.values().append_slice(&vector);
                    self.embedding.append(true);
                    self.error.append_null();
                    false
                }
                Err(e) => {
                    self.embedding.values().append_slice(&vec![0.0; self.dim]);
                    self.embedding.append(false);
                    self.error.append_value(e);
                    false
                }
            },
            (task, _) => unreachable!("{task:?} rows get their own kind of answer"),
        }
    }

    /// Appends the parsed column (docs `text`, review `findings`) for `answer`; when
    /// it does not parse, a null and the reason.
    fn append_parsed(&mut self, unit: &UnitRow, output: &Output) -> std::result::Result<(), String> {
        match parse(self.task, unit, output) {
            Ok(Parsed::Doc(text)) => self.text.append_value(text),
            Ok(Parsed::Findings(findings)) => self.append_findings(&findings),
            Err(e) => {
                self.append_parsed_null();
                return Err(e);
            }
        }
        Ok(())
    }

    fn append_parsed_null(&mut self) {
        match self.task {
            TaskKind::Docs => self.text.append_null(),
            _ => self.findings.append(false),
        }
    }

    fn generated(&mut self, output: Option<(usize, FinishReason)>, earlier: Earlier) {
        self.tokens_out.append_value((output.map_or(0, |(n, _)| n) + earlier.tokens) as u32);
        self.finish_reason.append_option(output.map(|(_, f)| f.as_str()));
        self.attempts.append_value(earlier.answers + 1);
    }

    fn append_findings(&mut self, findings: &[review::Finding]) {
        let items = self.findings.values();
        for f in findings {
            items.field_builder::<StringBuilder>(0).expect("severity").append_value(&f.severity);
            items.field_builder::<UInt32Builder>(1).expect("line").append_option(f.line);
            items.field_builder::<StringBuilder>(2).expect("category").append_value(&f.category);
            items.field_builder::<StringBuilder>(3).expect("message").append_value(&f.message);
            items.append(true);
        }
        self.findings.append(true);
    }

    /// Takes the rows held as one batch.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.unit_id.finish()),
            Arc::new(self.repo.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.language.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.parent.finish()),
            Arc::new(self.start_line.finish()),
            Arc::new(self.end_line.finish()),
            Arc::new(self.content_hash.finish()),
            Arc::new(self.cache_key.finish()),
            Arc::new(self.tokens_in.finish()),
            Arc::new(self.energy_j.finish()),
            Arc::new(self.error.finish()),
        ];
        if self.task == TaskKind::Embed {
            columns.push(Arc::new(self.embedding.finish()));
        } else {
            match self.task {
                TaskKind::Docs => columns.push(Arc::new(self.text.finish())),
                _ => columns.push(Arc::new(self.findings.finish())),
            }
            columns.push(Arc::new(self.raw.finish()));
            columns.push(Arc::new(self.parse_error.finish()));
            columns.push(Arc::new(self.tokens_out.finish()));
            columns.push(Arc::new(self.finish_reason.finish()));
            columns.push(Arc::new(self.attempts.finish()));
        }
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// What a docs or review answer is read as.
pub enum Parsed {
    /// A doc comment.
    Doc(String),
    /// Review findings.
    Findings(Vec<review::Finding>),
}

/// `output`, the answer of `task` (docs or review) about `unit`, as the task reads it, or
/// why it cannot: what a row keeps, and what `retries` ask again for.
pub fn parse(task: TaskKind, unit: &UnitRow, output: &Output) -> std::result::Result<Parsed, String> {
    match task {
        TaskKind::Docs => docs::parse_about(&output.text, unit, output.finish.cut_short()).map(Parsed::Doc),
        _ => review::parse(&output.text, output.finish.cut_short()).map(Parsed::Findings),
    }
}

fn split(result: std::result::Result<Output, String>) -> (Option<Output>, Option<String>) {
    match result {
        Ok(output) => (Some(output), None),
        Err(e) => (None, Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use std::time::Duration;

    fn unit() -> UnitRow {
        UnitRow {
            unit_id: "u1".into(),
            repo: "r".into(),
            path: "a.py".into(),
            language: "python".into(),
            kind: "function".into(),
            name: Some("f".into()),
            parent: None,
            start_line: 1,
            end_line: 2,
            content_hash: "h".into(),
            content: "def f():\n    return 1".into(),
            documented: false,
            stale_doc: None,
            signature: Some("def f():".into()),
            parameters: Some(Vec::new()),
        }
    }

    fn output(text: &str) -> Output {
        Output {
            tokens: vec![1, 2, 3],
            text: text.into(),
            finish: FinishReason::Eos,
            prompt_tokens: 10,
            time_to_first_token: Duration::ZERO,
            total_time: Duration::ZERO,
            energy_j: None,
        }
    }

    #[test]
    fn review_rows_keep_unparsable_answers_raw() {
        let mut rows = RowsBuilder::new(TaskKind::Review, schema(TaskKind::Review, None));
        let good = "{\"findings\": [{\"severity\": \"low\", \"line\": 2, \"category\": \"style\", \"message\": \"m\"}]}";
        rows.push(&unit(), "k1", 10, Some(2.5), Answer::Generation(Ok(output(good))), Earlier::NONE);
        rows.push(&unit(), "k2", 10, None, Answer::Generation(Ok(output("no json here"))), Earlier::NONE);
        rows.push(&unit(), "k3", 10, None, Answer::Generation(Err("over the context".into())), Earlier::NONE);
        // Cut off by max_new_tokens in its second finding: the first is kept, and the row
        // says how the answer ended.
        let cut = Output { finish: FinishReason::Length, ..output(&(good.trim_end_matches("]}").to_string() + ", {\"severity\": \"hi")) };
        rows.push(&unit(), "k4", 10, None, Answer::Generation(Ok(cut)), Earlier::NONE);
        let batch = rows.finish().unwrap();
        assert_eq!(batch.num_rows(), 4);
        let findings = batch.column_by_name("findings").unwrap().as_list::<i32>();
        assert_eq!((findings.value(0).len(), findings.is_null(1), findings.is_null(2)), (1, true, true));
        assert_eq!(&findings.value(3), &findings.value(0), "the finished finding of the cut-off answer");
        let finish = batch.column_by_name("finish_reason").unwrap().as_string::<i32>();
        assert_eq!(finish.value(3), "length");
        let raw = batch.column_by_name("raw").unwrap().as_string::<i32>();
        assert_eq!(raw.value(1), "no json here");
        let parse_error = batch.column_by_name("parse_error").unwrap().as_string::<i32>();
        assert!(parse_error.is_null(0) && parse_error.value(1).contains("no JSON") && parse_error.is_null(3));
        let error = batch.column_by_name("error").unwrap().as_string::<i32>();
        assert!(error.is_null(1) && error.value(2) == "over the context");
        let energy = batch.column_by_name("energy_j").unwrap().as_primitive::<arrow_array::types::Float64Type>();
        assert_eq!((energy.value(0), energy.is_null(1)), (2.5, true));
    }

    #[test]
    fn docs_rows_hold_a_comment_or_why_the_answer_is_none() {
        let mut rows = RowsBuilder::new(TaskKind::Docs, schema(TaskKind::Docs, None));
        let cut = |text: &str, finish: FinishReason| Output { finish, ..output(text) };
        rows.push(&unit(), "k1", 10, None, Answer::Generation(Ok(output("```python\n\"\"\"Returns the one.\"\"\"\n```"))), Earlier::NONE);
        rows.push(&unit(), "k2", 10, None, Answer::Generation(Ok(output("```python\nreturn 1\n```"))), Earlier::NONE);
        rows.push(&unit(), "k3", 10, None, Answer::Generation(Ok(cut("\"\"\"Returns the one, which", FinishReason::Context))), Earlier::NONE);
        rows.push(&unit(), "k4", 10, None, Answer::Generation(Ok(cut("\"\"\"Returns the one.\"\"\"\nreturn", FinishReason::Length))), Earlier::NONE);
        // `count` is a word of the code, but no parameter: the signature is what counts.
        let counts = UnitRow { content: "def f():\n    count = 1\n    return count".into(), ..unit() };
        rows.push(&counts, "k5", 10, None, Answer::Generation(Ok(output("\"\"\"Returns the one.\n\nArgs:\n    count: how many\n\"\"\""))), Earlier::NONE);
        let batch = rows.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>();
        assert_eq!(column("text"), [Some("\"\"\"Returns the one.\"\"\"".to_string()), None, None, Some("\"\"\"Returns the one.\"\"\"\nreturn".to_string()), None]);
        let parse_error = column("parse_error");
        assert_eq!(parse_error[1].as_deref(), Some("the answer's first line is code, not a sentence"));
        assert!(parse_error[2].as_deref().is_some_and(|why| why.contains("cut off")), "{parse_error:?}");
        assert_eq!((&parse_error[0], &parse_error[3]), (&None, &None), "a whole comment, then whatever the limit cut");
        assert_eq!(column("raw")[1].as_deref(), Some("```python\nreturn 1\n```"), "the answer is kept raw");
        assert_eq!(column("finish_reason")[2].as_deref(), Some("context"));
        assert_eq!(parse_error[4].as_deref(), Some("the answer names parameters the code does not have: `count`"), "`f` takes none");
        let unsigned = UnitRow { signature: None, ..counts };
        let mut rows = RowsBuilder::new(TaskKind::Docs, schema(TaskKind::Docs, None));
        rows.push(&unsigned, "k6", 10, None, Answer::Generation(Ok(output("\"\"\"Returns the one.\n\nArgs:\n    count: how many\n\"\"\""))), Earlier::NONE);
        let batch = rows.finish().unwrap();
        assert!(batch.column_by_name("parse_error").unwrap().is_null(0), "without a signature, the unit's words stand in");

        // An answer that documents parameters documents them all; one in prose need not.
        let names = |list: &[&str]| Some(list.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        let takes_two = UnitRow { signature: Some("def f(path, timeout):".into()), parameters: names(&["path", "timeout"]), ..unit() };
        let mut rows = RowsBuilder::new(TaskKind::Docs, schema(TaskKind::Docs, None));
        rows.push(&takes_two, "k7", 10, None, Answer::Generation(Ok(output("\"\"\"Opens the file it is given.\n\nArgs:\n    path: the file.\n\"\"\""))), Earlier::NONE);
        rows.push(&takes_two, "k8", 10, None, Answer::Generation(Ok(output("\"\"\"Opens the file at path, waiting timeout seconds.\"\"\""))), Earlier::NONE);
        rows.push(&takes_two, "k9", 10, None, Answer::Generation(Ok(output("\"\"\"Opens the file it is given.\n\nArgs:\n    path: the file.\n    timeout: seconds.\n\"\"\""))), Earlier::NONE);
        // Cut off inside its `Args:`: the paragraph before it is what the patch writes.
        rows.push(&takes_two, "k10", 10, None, Answer::Generation(Ok(cut("\"\"\"Opens the file it is given.\n\nArgs:\n    path: the file.\n    tim", FinishReason::Length))), Earlier::NONE);
        let batch = rows.finish().unwrap();
        let parse_error = batch.column_by_name("parse_error").unwrap().as_string::<i32>();
        assert_eq!(parse_error.value(0), "the answer documents parameters but leaves out some the code has: `timeout`");
        assert!(parse_error.is_null(1) && parse_error.is_null(2) && parse_error.is_null(3), "{parse_error:?}");
    }

    #[test]
    fn embedding_rows_are_fixed_size_lists_with_nulls_for_errors() {
        let metadata = HashMap::from([("hearth.dim".to_string(), "3".to_string())]);
        let mut rows = RowsBuilder::new(TaskKind::Embed, schema(TaskKind::Embed, Some((3, metadata))));
        rows.push(&unit(), "k1", 4, Some(0.5), Answer::Embedding(Ok(vec![0.6, 0.8, 0.0])), Earlier::NONE);
        rows.push(&unit(), "k2", 0, None, Answer::Embedding(Err("empty".into())), Earlier::NONE);
        let batch = rows.finish().unwrap();
        let vectors = batch.column_by_name("embedding").unwrap().as_fixed_size_list();
        assert_eq!((vectors.value_length(), vectors.is_null(1)), (3, true));
        assert_eq!(batch.schema().field_with_name("embedding").unwrap().metadata()["hearth.dim"], "3");
    }

    #[test]
    fn templates_see_the_unit_and_fail_on_unknown_names() {
        let t = UnitTemplate::new("docs", docs::TEMPLATE).unwrap();
        let prompt = t.render(&unit(), None, true).unwrap();
        assert!(prompt.contains("Convention: a Python docstring (\"\"\"...\"\"\")\n") && prompt.contains("def f()") && prompt.contains("File: a.py"), "{prompt}");
        let house = t.render(&unit(), Some(HouseStyle::Names(crate::source::ParamConvention::NumPy)), true).unwrap();
        assert!(house.contains("Convention: a Python docstring (\"\"\"...\"\"\"), with a NumPy-style `Parameters` section over a line of dashes where its parameters need explaining, as this repository's docs are written\n"), "{house}");
        let bad = UnitTemplate::new("docs", "{{ nonsense }}").unwrap();
        let stale = UnitRow { stale_doc: Some("its doc names parameters its code does not have: `path`".into()), ..unit() };
        let noted = t.render(&stale, None, true).unwrap();
        assert!(noted.contains("a Python docstring (\"\"\"...\"\"\"). The doc it has is stale (its doc names parameters its code does not have: `path`): write the doc for the code as it is now\n"), "{noted}");
        assert_eq!(t.render(&stale, None, false).unwrap(), prompt, "only where asked");
        let err = bad.render(&unit(), None, false).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
        assert!(UnitTemplate::new("docs", "{% if %}").unwrap_err().to_string().contains("docs"));
    }
}
