//! A finished run's rows, read from their part files: docs and reviews into plain
//! structs, any task's batch by batch.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, RecordBatch, StringArray, StructArray, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::engine::FinishReason;
use crate::sink::open_parquet;
use crate::tasks::{docs, read_units_where, review, UnitRow};
use crate::tasks::review::Finding;
use crate::{Error, Result};

/// Where a unit is, as every task row repeats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The unit's stable id.
    pub unit_id: String,
    /// The repository name.
    pub repo: String,
    /// The path inside the repository.
    pub path: String,
    /// The language's name.
    pub language: String,
    /// The unit's kind (function, method, class, …).
    pub kind: String,
    /// Its declared name.
    pub name: Option<String>,
    /// The definitions it is inside.
    pub parent: Option<String>,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, inclusive.
    pub end_line: u32,
}

/// A task row: where, and what the model made of it, or why there is nothing.
#[derive(Debug, Clone)]
pub struct Row<T> {
    /// The unit.
    pub place: Place,
    /// The parsed answer, or the error or parse failure the row records.
    pub outcome: std::result::Result<T, String>,
}

/// A docs row's answer.
#[derive(Debug, Clone)]
pub struct DocText {
    /// The documentation as the docs task parsed it.
    pub text: String,
    /// Why the model was stopped, when it was stopped short (by `max_new_tokens` or by
    /// the end of its context), so the text may end mid-sentence.
    pub cut_off: Option<FinishReason>,
}

/// The rows of a docs folder's `parts`: the documentation text of each unit. A text
/// the docs task would not keep now (written before it judged its answers as the patch
/// does: code, a comment cut off inside, parameters that are not the function's, held
/// to its signature and parameter names in the walk's `units_files`) is read as an
/// answer that did not parse, as the row would say had the task written it today. Such
/// a row stays in the output (its prompt, and so its greedy answer, is unchanged); the
/// pages, index and patch all read it so.
pub fn read_docs(parts: &[PathBuf], units_files: &[PathBuf]) -> Result<Vec<Row<DocText>>> {
    let mut rows = read(
        parts,
        |columns, row| Ok(DocText { text: columns.string("text")?.value(row).to_string(), cut_off: cut_off(columns, row)? }),
        |_, _| Ok(None),
    )?;
    let answered: HashSet<&str> = rows.iter().filter(|row| row.outcome.is_ok()).map(|row| row.place.unit_id.as_str()).collect();
    let mut units: HashMap<String, UnitRow> = HashMap::new();
    for path in units_files {
        units.extend(read_units_where(path, |unit| answered.contains(unit.unit_id.as_str()))?.into_iter().map(|unit| (unit.unit_id.clone(), unit)));
    }
    for row in &mut rows {
        if let Ok(doc) = &row.outcome {
            let cut_off = doc.cut_off.is_some();
            let judged = match units.get(&row.place.unit_id) {
                Some(unit) => docs::parse_about(&doc.text, unit, cut_off),
                None => docs::parse(&doc.text, row.place.name.as_deref(), cut_off),
            };
            if let Err(why) = judged {
                row.outcome = Err(unparsed(&why));
            }
        }
    }
    Ok(rows)
}

/// Why the model was stopped short on `row`, where it was (`finish_reason`; rows
/// written before it have none).
fn cut_off(columns: &Columns, row: usize) -> Result<Option<FinishReason>> {
    let finish = columns.optional_string("finish_reason")?;
    Ok(finish.filter(|finish| finish.is_valid(row)).and_then(|finish| FinishReason::from_name(finish.value(row))).filter(|reason| reason.cut_short()))
}

/// The rows of a reviews folder's `parts`: the findings of each unit. A row a hearth
/// wrote before cut-off answers kept their finished findings (a `parse_error`, no
/// findings, a `finish_reason` of `length` or `context`) is read for them from its
/// `raw`, as the task reads the answer today.
pub fn read_reviews(parts: &[PathBuf]) -> Result<Vec<Row<Vec<Finding>>>> {
    let reread = |columns: &Columns, row: usize| -> Result<Option<Vec<Finding>>> {
        let raw = columns.optional_string("raw")?.filter(|raw| raw.is_valid(row));
        Ok(match (cut_off(columns, row)?, raw) {
            (Some(_), Some(raw)) => review::parse(raw.value(row), true).ok(),
            _ => None,
        })
    };
    read(parts, |columns, row| {
        let list = columns.column("findings")?.as_list_opt::<i32>().ok_or_else(|| columns.wrong_type("findings"))?;
        let items = list.value(row);
        let items: &StructArray = items.as_struct_opt().ok_or_else(|| columns.wrong_type("findings"))?;
        let field = |name: &str| items.column_by_name(name).ok_or_else(|| columns.missing(&format!("findings.{name}")));
        let (severity, line, category, message) = (field("severity")?, field("line")?, field("category")?, field("message")?);
        let string = |array: &dyn Array, name: &str| -> Result<StringArray> {
            array.as_string_opt::<i32>().cloned().ok_or_else(|| columns.wrong_type(&format!("findings.{name}")))
        };
        let (severity, category, message) = (string(severity, "severity")?, string(category, "category")?, string(message, "message")?);
        let line: &UInt32Array = line.as_primitive_opt::<UInt32Type>().ok_or_else(|| columns.wrong_type("findings.line"))?;
        Ok((0..items.len())
            .map(|i| Finding {
                severity: severity.value(i).to_string(),
                line: line.is_valid(i).then(|| line.value(i)),
                category: category.value(i).to_string(),
                message: message.value(i).to_string(),
            })
            .collect())
    }, reread)
}

/// The docs the source has, as the walk found them.
#[derive(Debug, Default)]
pub struct SourceDocs {
    /// Each unit whose doc the source has already, with that doc: the units a docs task
    /// that leaves them alone (`skip_documented`) has no row of. A stale doc is not one.
    pub documented: Vec<Row<DocText>>,
    /// Unit id → the unit whose doc is stale ([`crate::source::Unit::stale_doc`]): units
    /// the docs task ran on in place of the doc they have, and the review's findings.
    pub stale: HashMap<String, StaleDoc>,
}

/// A unit whose doc no longer names its code's parameters (one it lost, or one it
/// gained and the doc leaves out), as the walk found it.
#[derive(Debug, Clone)]
pub struct StaleDoc {
    /// The unit.
    pub place: Place,
    /// Why the doc is stale: the names it has that the code does not, and those it
    /// leaves out.
    pub why: String,
}

/// The docs the source has, from the walk's `units_files`. Reads the place and doc
/// columns only, not the code.
pub fn read_source_docs(units_files: &[PathBuf]) -> Result<SourceDocs> {
    let mut docs = SourceDocs::default();
    for path in units_files {
        let file = open_parquet(path)?;
        let wanted = ProjectionMask::columns(file.parquet_schema(), PLACE_COLUMNS.iter().copied().chain(["doc", "stale_doc"]));
        let file = file.with_projection(wanted);
        for_each_batch_of(path, file, |columns| {
            let doc = columns.string("doc")?;
            // A walk by a hearth before stale docs has no such column.
            let stale = columns.optional_string("stale_doc")?;
            for row in (0..columns.num_rows()).filter(|&row| doc.is_valid(row)) {
                match stale.filter(|stale| stale.is_valid(row)) {
                    Some(stale) => {
                        let place = columns.place(row)?;
                        docs.stale.insert(place.unit_id.clone(), StaleDoc { place, why: stale.value(row).to_string() });
                    }
                    None => docs.documented.push(Row { place: columns.place(row)?, outcome: Ok(DocText { text: doc.value(row).to_string(), cut_off: None }) }),
                }
            }
            Ok(())
        })?;
    }
    Ok(docs)
}

/// What a row whose answer did not parse has in place of it.
fn unparsed(reason: &str) -> String {
    format!("the answer did not parse: {reason}")
}

/// The columns [`Columns::place`] reads.
const PLACE_COLUMNS: [&str; 9] = ["unit_id", "repo", "path", "language", "kind", "name", "parent", "start_line", "end_line"];

/// Every row of `parts`, its answer taken by `answer` where the row has one, or by
/// `reread` where the row says its answer did not parse and a task would read it now.
fn read<T>(parts: &[PathBuf], answer: impl Fn(&Columns, usize) -> Result<T>, reread: impl Fn(&Columns, usize) -> Result<Option<T>>) -> Result<Vec<Row<T>>> {
    let mut rows = Vec::new();
    for_each_batch(parts, |columns| {
        let (error, parse_error) = (columns.string("error")?, columns.optional_string("parse_error")?);
        for row in 0..columns.batch.num_rows() {
            let outcome = match (optional(error, row), parse_error.and_then(|p| optional(p, row))) {
                (Some(error), _) => Err(error),
                (None, Some(reason)) => reread(columns, row)?.ok_or_else(|| unparsed(&reason)),
                (None, None) => Ok(answer(columns, row)?),
            };
            rows.push(Row { place: columns.place(row)?, outcome });
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Calls `visit` with each record batch of `parts`, in order, one at a time: what reads
/// a whole task folder without holding it (a search over millions of embeddings).
pub fn for_each_batch(parts: &[PathBuf], mut visit: impl FnMut(&Columns) -> Result<()>) -> Result<()> {
    for part in parts {
        for_each_batch_of(part, open_parquet(part)?, &mut visit)?;
    }
    Ok(())
}

/// [`for_each_batch`] over one part already opened (its footer read, say to check its
/// metadata first).
pub fn for_each_batch_of(part: &Path, file: ParquetRecordBatchReaderBuilder<File>, mut visit: impl FnMut(&Columns) -> Result<()>) -> Result<()> {
    for batch in file.build().map_err(|e| Error::parquet(part, e))? {
        visit(&Columns { part, batch: batch? })?;
    }
    Ok(())
}

fn optional(array: &StringArray, row: usize) -> Option<String> {
    array.is_valid(row).then(|| array.value(row).to_string())
}

/// One batch of a part file, its columns looked up by name with errors naming the file.
pub struct Columns<'a> {
    part: &'a Path,
    batch: RecordBatch,
}

impl Columns<'_> {
    /// Rows in the batch.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Where row `row`'s unit is.
    pub fn place(&self, row: usize) -> Result<Place> {
        let strings = ["unit_id", "repo", "path", "language", "kind", "name", "parent"].map(|name| self.string(name));
        let [unit_id, repo, path, language, kind, name, parent] = strings;
        Ok(Place {
            unit_id: unit_id?.value(row).to_string(),
            repo: repo?.value(row).to_string(),
            path: path?.value(row).to_string(),
            language: language?.value(row).to_string(),
            kind: kind?.value(row).to_string(),
            name: optional(name?, row),
            parent: optional(parent?, row),
            start_line: self.u32("start_line")?.value(row),
            end_line: self.u32("end_line")?.value(row),
        })
    }

    /// A column by name, an error naming the file when it is missing.
    pub fn column(&self, name: &str) -> Result<&dyn Array> {
        self.batch.column_by_name(name).map(|c| c.as_ref()).ok_or_else(|| self.missing(name))
    }

    /// A string column by name.
    pub fn string(&self, name: &str) -> Result<&StringArray> {
        self.column(name)?.as_string_opt::<i32>().ok_or_else(|| self.wrong_type(name))
    }

    /// A column only generation tasks have.
    fn optional_string(&self, name: &str) -> Result<Option<&StringArray>> {
        match self.batch.column_by_name(name) {
            None => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    fn u32(&self, name: &str) -> Result<&UInt32Array> {
        self.column(name)?.as_primitive_opt::<UInt32Type>().ok_or_else(|| self.wrong_type(name))
    }

    /// The error of a column the file lacks.
    pub fn missing(&self, name: &str) -> Error {
        Error::dataset(self.part, format!("a hearth part file has a `{name}` column"))
    }

    /// The error of a column not of the type hearth writes.
    pub fn wrong_type(&self, name: &str) -> Error {
        Error::dataset(self.part, format!("column `{name}` is not of the type hearth writes"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow_array::ArrayRef;

    use super::*;
    use crate::engine::Output;
    use crate::tasks::{schema, Answer, Earlier, RowsBuilder, TaskKind};

    /// A docs part as a hearth before the docs task judged its answers wrote it: each
    /// answer's text kept, whatever it holds.
    fn written_before_judging(dir: &Path, answers: &[(&str, FinishReason)]) -> PathBuf {
        let units: Vec<UnitRow> = (0..answers.len()).map(unit).collect();
        written_for(dir, &units.iter().zip(answers).map(|(unit, &(text, finish))| (unit, text, finish)).collect::<Vec<_>>())
    }

    /// Unit `i` of a Python file, whose signature the walk did not record.
    fn unit(i: usize) -> UnitRow {
        UnitRow {
                unit_id: format!("u{i}"),
                repo: "r".into(),
                path: "a.py".into(),
                language: "python".into(),
                kind: "function".into(),
                name: Some(format!("f{i}")),
                parent: None,
                start_line: 1 + 3 * i as u32,
                end_line: 2 + 3 * i as u32,
                content_hash: "h".into(),
                content: "def f():\n    return 1".into(),
                documented: false,
                stale_doc: None,
                signature: None,
                parameters: None,
            }
    }

    /// A docs part holding each answer as its unit's text, unjudged.
    fn written_for(dir: &Path, answers: &[(&UnitRow, &str, FinishReason)]) -> PathBuf {
        let mut rows = RowsBuilder::new(TaskKind::Docs, schema(TaskKind::Docs, None));
        for (unit, _, finish) in answers {
            let output = Output {
                tokens: vec![1],
                text: "\"\"\"Returns the number one.\"\"\"".into(),
                finish: *finish,
                prompt_tokens: 10,
                time_to_first_token: Duration::ZERO,
                total_time: Duration::ZERO,
                energy_j: None,
            };
            rows.push(unit, "k", 10, None, Answer::Generation(Ok(output)), Earlier::NONE);
        }
        let batch = rows.finish().unwrap();
        let text: ArrayRef = Arc::new(StringArray::from(answers.iter().map(|(_, text, _)| Some(*text)).collect::<Vec<_>>()));
        let columns = batch.schema().fields().iter().zip(batch.columns()).map(|(field, column)| if field.name() == "text" { text.clone() } else { column.clone() }).collect();
        let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let part = dir.join("part-0.parquet");
        let mut writer = parquet::arrow::ArrowWriter::try_new(File::create(&part).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        part
    }

    #[test]
    fn a_doc_written_before_answers_were_judged_reads_as_the_task_would_judge_it_now() {
        let dir = tempfile::tempdir().unwrap();
        let part = written_before_judging(
            dir.path(),
            &[
                ("\"\"\"Returns the number one.\"\"\"", FinishReason::Eos),
                ("def f():\n    return 1", FinishReason::Eos),
                ("\"\"\"Returns the number", FinishReason::Context),
                ("\"\"\"Returns the number one.\"\"\"\ndef f(", FinishReason::Length),
            ],
        );
        let rows = read_docs(&[part], &[]).unwrap();
        let outcomes: Vec<std::result::Result<Option<FinishReason>, String>> = rows.iter().map(|row| row.outcome.as_ref().map(|doc| doc.cut_off).map_err(String::clone)).collect();
        assert_eq!(outcomes[0], Ok(None));
        assert_eq!(outcomes[1], Err("the answer did not parse: the answer's first line is code, not a sentence".to_string()));
        assert!(outcomes[2].as_ref().is_err_and(|why| why.starts_with("the answer did not parse: the answer was cut off")), "{outcomes:?}");
        assert_eq!(outcomes[3], Ok(Some(FinishReason::Length)), "the comment is whole; the limit cut what followed it");
    }

    #[test]
    fn a_cut_off_review_written_before_findings_were_kept_reads_the_findings_it_finished() {
        let dir = tempfile::tempdir().unwrap();
        let first = r#"{"findings": [{"severity": "high", "line": 2, "category": "bug", "message": "Off by one."}"#;
        let answers = [(format!("{first}, {{\"sev"), "length"), (format!("{first}, {{\"sev"), "eos"), (r#"{"findings": [{"severity": "hi"#.to_string(), "length")];
        // Each row as the review wrote it before: ended by itself, so with a parse_error
        // and no findings; then the finish reason each answer had.
        let mut rows = RowsBuilder::new(TaskKind::Review, schema(TaskKind::Review, None));
        for (i, (text, _)) in answers.iter().enumerate() {
            let output = Output { tokens: vec![1], text: text.clone(), finish: FinishReason::Eos, prompt_tokens: 10, time_to_first_token: Duration::ZERO, total_time: Duration::ZERO, energy_j: None };
            rows.push(&unit(i), "k", 10, None, Answer::Generation(Ok(output)), Earlier::NONE);
        }
        let batch = rows.finish().unwrap();
        assert_eq!(batch.column_by_name("parse_error").unwrap().null_count(), 0);
        let finish: ArrayRef = Arc::new(StringArray::from(answers.iter().map(|(_, finish)| Some(*finish)).collect::<Vec<_>>()));
        let columns = batch.schema().fields().iter().zip(batch.columns()).map(|(field, column)| if field.name() == "finish_reason" { finish.clone() } else { column.clone() }).collect();
        let batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let part = dir.path().join("part-0.parquet");
        let mut writer = parquet::arrow::ArrowWriter::try_new(File::create(&part).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let rows = read_reviews(&[part]).unwrap();
        let found: Vec<Option<u32>> = rows[0].outcome.as_ref().unwrap().iter().map(|f| f.line).collect();
        assert_eq!(found, [Some(2)], "cut off by the limit: its finished finding");
        assert!(rows[1].outcome.as_ref().is_err_and(|why| why.contains("not the findings JSON")), "it ended by itself: {:?}", rows[1].outcome);
        assert!(rows[2].outcome.is_err(), "cut off inside its first finding");
    }

    #[test]
    fn a_doc_written_before_parameters_were_read_is_held_to_them_as_the_walk_found_them() {
        use crate::source::{Splitter, UnitBatchBuilder};
        let dir = tempfile::tempdir().unwrap();
        let code = "def load(path, timeout=5):\n    return open(path)\n\n\ndef save(data):\n    pass\n";
        let mut builder = UnitBatchBuilder::default();
        builder.push_file("r", "io.py", crate::source::Language::Python, &Splitter::new(4096).split(crate::source::Language::Python, "io.py", code));
        let units_file = dir.path().join("units.parquet");
        let mut writer = crate::sink::AtomicParquetWriter::create(&units_file, crate::source::unit_schema()).unwrap();
        writer.write(&builder.finish().unwrap()).unwrap();
        writer.finish(&[]).unwrap();
        let units = read_units_where(&units_file, |unit| unit.kind == "function").unwrap();
        let (load, save) = (&units[0], &units[1]);
        assert_eq!(load.parameters, Some(vec!["path".to_string(), "timeout".to_string()]));
        let partial = "\"\"\"Opens the file to read it.\n\nArgs:\n    path: the file.\n\"\"\"";
        let part = written_for(dir.path(), &[(load, partial, FinishReason::Eos), (save, "\"\"\"Saves the data it is given.\"\"\"", FinishReason::Eos)]);
        let rows = read_docs(&[part.clone()], &[units_file]).unwrap();
        assert_eq!(rows[0].outcome.as_ref().unwrap_err(), "the answer did not parse: the answer documents parameters but leaves out some the code has: `timeout`");
        assert!(rows[1].outcome.is_ok());
        // Without the walk's units, only what the text shows is judged.
        assert!(read_docs(&[part], &[]).unwrap()[0].outcome.is_ok());
    }
}
