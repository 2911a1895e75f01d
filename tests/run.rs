//! `hearth run` end to end, through the binary: the three tasks over the sample
//! inputs with the real SmolLM2, incremental re-runs, and resume after kill -9.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).output().expect("the hearth binary runs")
}

fn run_ok(pipeline: &Path) -> serde_json::Value {
    let out = hearth(&["run", pipeline.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "hearth run failed: {}", String::from_utf8_lossy(&out.stderr));
    summary(pipeline)
}

/// The `_SUCCESS` summary of the run whose output folder the pipeline names `out`.
fn summary(pipeline: &Path) -> serde_json::Value {
    let success = pipeline.parent().unwrap().join("out/_SUCCESS");
    serde_json::from_str(&std::fs::read_to_string(&success).expect("_SUCCESS written")).unwrap()
}

/// `task → (units, carried, run, failed)` from a summary.
fn counts(summary: &serde_json::Value) -> BTreeMap<String, [u64; 4]> {
    summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_u64().unwrap();
            (t["task"].as_str().unwrap().to_string(), [n("units"), n("carried"), n("run"), n("failed")])
        })
        .collect()
}

/// Asserts each task's counts in `summary` are `expected` of the units it runs on, of
/// the run's `units` in all (see [`task_units`]).
fn assert_task_counts(summary: &serde_json::Value, out: &Path, units: u64, expected: impl Fn(u64) -> [u64; 4], what: &str) {
    for (task, c) in counts(summary) {
        let n = task_units(out, &task, units as usize) as u64;
        assert_eq!(c, expected(n), "{task}: {what}: {summary}");
    }
}

/// Every row of one Parquet file.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    reader.build().unwrap().map(|b| b.unwrap()).collect()
}

/// Every row of every part file in `dir`.
fn read_folder(dir: &Path) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    for part in parts {
        let name = part.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-") && name.ends_with(".parquet"), "only part files are left: {name}");
        batches.extend(read_parquet(&part));
    }
    batches
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i).to_string()))
        })
        .collect()
}

fn u32s(batches: &[RecordBatch], column: &str) -> Vec<Option<u32>> {
    batches.iter().flat_map(|b| b.column_by_name(column).unwrap().as_primitive::<arrow_array::types::UInt32Type>().iter().collect::<Vec<_>>()).collect()
}

/// The unit ids in a task folder, asserting each appears once.
fn unit_ids(dir: &Path) -> HashSet<String> {
    let ids: Vec<String> = strings(&read_folder(dir), "unit_id").into_iter().map(Option::unwrap).collect();
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "no unit is written twice in {}", dir.display());
    unique
}

const TASKS: [&str; 3] = ["docs", "reviews", "embeddings"];

fn write_pipeline(dir: &Path, sources: &str, model: &str, part_rows: usize, docs_tokens: usize, review_tokens: usize) -> PathBuf {
    let path = dir.join("pipeline.toml");
    let text = format!(
        "[source]\n{sources}\n[model]\nsource = \"{model}\"\n[output]\ndir = \"out\"\npart_rows = {part_rows}\n\
         [tasks.docs]\nmax_new_tokens = {docs_tokens}\n[tasks.review]\nmax_new_tokens = {review_tokens}\n\
         [tasks.embed]\npooling = \"mean\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `tmp/repo`: a small repository of `functions` Python functions, five to a file.
fn make_repo(tmp: &Path, functions: usize) -> PathBuf {
    let root = tmp.join("repo");
    std::fs::create_dir(&root).unwrap();
    for f in 0..functions.div_ceil(5) {
        let mut text = String::new();
        for i in f * 5..((f + 1) * 5).min(functions) {
            text.push_str(&format!("def step_{i}(x):\n    y = x * {i}\n    return y + {i}\n\n\n"));
        }
        std::fs::write(root.join(format!("mod_{f}.py")), text).unwrap();
    }
    root
}

/// The units of a run's units files (a sharded run's too) of `kind`.
fn units_of_kind(out: &Path, kind: &str) -> usize {
    count_units(out, |unit_kind, _, _| unit_kind == kind)
}

/// The units of a run's units files (a sharded run's too) `take` takes by kind, language
/// and whether the source documents them.
fn count_units(out: &Path, take: impl Fn(&str, &str, bool) -> bool) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("units") && name.ends_with(".parquet") {
            let batches = read_parquet(&path);
            let kinds = strings(&batches, "kind").into_iter().map(Option::unwrap);
            let documented = batches.iter().flat_map(|b| b.column_by_name("doc").unwrap().as_string::<i32>().iter().map(|doc| doc.is_some()).collect::<Vec<_>>());
            let units = kinds.zip(strings(&batches, "language").into_iter().map(Option::unwrap)).zip(documented);
            count += units.filter(|((kind, language), documented)| take(kind, language, *documented)).count();
        }
    }
    count
}

/// The units of a run of `units` in all that a task (by its name or its folder's) runs
/// on: docs leave top-level `code` units alone, files no comment can be written in, and
/// units the source documents; review leaves files' outlines alone.
fn task_units(out: &Path, task: &str, units: usize) -> usize {
    match task {
        "docs" => units - count_units(out, |kind, language, documented| documented || kind == "code" || (kind == "file" && ["markdown", "json"].contains(&language))),
        "review" | "reviews" => units - units_of_kind(out, "outline"),
        _ => units,
    }
}

/// pyarrow reads every output file and each task folder as one table.
fn assert_pyarrow_reads(out: &Path, units: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_outputs.py");
    let result = Command::new("python3").arg(&script).arg(out).output().expect("python3 runs");
    assert!(
        result.status.success(),
        "pyarrow could not read the outputs (scripts/test.sh installs pyarrow): {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let rows: BTreeMap<String, usize> = serde_json::from_slice(&result.stdout).unwrap();
    for task in TASKS {
        let units = task_units(out, task, units);
        assert_eq!(rows[task], units, "pyarrow reads {units} rows from {task}/");
    }
}

#[test]
fn smollm2_runs_docs_review_and_embed_over_the_sample_datasets() {
    let model = hearth::engine::default_model_path();
    assert!(model.is_file(), "{} is missing: run scripts/fetch-model.sh", model.display());
    let tmp = tempfile::tempdir().unwrap();
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let sources = format!(
        "repos = [{:?}]\ndatasets = [{{ file = {:?} }}]",
        datasets.join("sample-repo"),
        datasets.join("sample.jsonl")
    );
    // Short answers keep the test quick; the prompts (and so the prefill) are full size.
    let pipeline = write_pipeline(tmp.path(), &sources, model.to_str().unwrap(), 256, 12, 24);
    // A window longer than the run: its rate is still a number, over the whole run.
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, format!("{text}\n[telemetry]\nwindow_s = 3600\n")).unwrap();
    let run = hearth(&["run", pipeline.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    let rate = said.lines().find_map(|line| line.strip_prefix("tokens/s ")).unwrap_or_default();
    assert!(rate.split_whitespace().next().is_some_and(|r| r.parse::<f64>().is_ok_and(|r| r > 0.0)) && rate.contains("over the whole run"), "{said}");
    let summary = summary(&pipeline);
    let units = summary["units"].as_u64().unwrap() as usize;
    assert!(units >= 60, "the sample inputs have {units} units");
    let out = tmp.path().join("out");
    let code_units = units_of_kind(&out, "code");
    assert!(code_units > 0, "the sample inputs have top-level code");
    for (task, [total, carried, run, failed]) in counts(&summary) {
        let units = task_units(&out, &task, units) as u64;
        assert_eq!((total, carried, run, failed), (units, 0, units, 0), "{task}");
    }

    let docs = read_folder(&out.join("docs"));
    let texts = strings(&docs, "text");
    assert_eq!(texts.len(), task_units(&out, "docs", units), "docs leave top-level code alone, the README, and what is documented");
    assert!(count_units(&out, |kind, language, _| kind == "file" && language == "markdown") > 0, "the sample repository has a README");
    let documented = count_units(&out, |kind, language, documented| documented && kind != "code" && !["markdown", "json"].contains(&language));
    assert!(documented > 0, "the sample inputs have documented units");
    let docs_task = summary["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "docs").unwrap();
    assert_eq!(docs_task["documented_in_source"].as_u64(), Some(documented as u64));
    assert!(strings(&docs, "kind").iter().all(|kind| kind.as_deref() != Some("code")));
    // Twelve tokens cut most comments off inside: those rows say so, and keep the answer.
    let (parse_errors, raw) = (strings(&docs, "parse_error"), strings(&docs, "raw"));
    for ((text, parse_error), raw) in texts.iter().zip(&parse_errors).zip(&raw) {
        assert!(raw.is_some(), "the answer is kept");
        match (text, parse_error) {
            (Some(text), None) => assert!(!text.trim().is_empty()),
            (None, Some(why)) => assert!(!why.is_empty()),
            other => panic!("a doc, or why the answer holds none: {other:?}"),
        }
    }
    assert!(parse_errors.iter().flatten().any(|why| why.contains("cut off")), "{parse_errors:?}");

    let reviews = read_folder(&out.join("reviews"));
    assert_eq!(reviews.iter().map(|b| b.num_rows()).sum::<usize>(), task_units(&out, "review", units), "review leaves files' outlines alone");
    assert!(units_of_kind(&out, "outline") > 0, "the sample repository has files of several definitions");
    for b in &reviews {
        let findings = b.column_by_name("findings").unwrap();
        let parse_error = b.column_by_name("parse_error").unwrap();
        let raw = b.column_by_name("raw").unwrap();
        for i in 0..b.num_rows() {
            assert!(raw.is_valid(i), "the answer is kept");
            assert!(findings.is_valid(i) != parse_error.is_valid(i), "parsed findings, or the reason they did not parse");
        }
    }

    let embeddings = read_folder(&out.join("embeddings"));
    for b in &embeddings {
        let field = b.schema().field_with_name("embedding").unwrap().clone();
        assert_eq!(field.metadata()["hearth.dim"], "576", "SmolLM2's hidden size");
        let vectors = b.column_by_name("embedding").unwrap().as_fixed_size_list();
        assert_eq!(vectors.value_length(), 576);
        for i in 0..vectors.len() {
            let v = vectors.value(i);
            let norm: f32 = v.as_primitive::<Float32Type>().values().iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "unit {i} has norm {norm}");
        }
    }

    // Provenance on every file.
    for task in TASKS {
        for entry in std::fs::read_dir(out.join(task)).unwrap() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(entry.unwrap().path()).unwrap()).unwrap();
            let kv: BTreeMap<String, String> = reader
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .unwrap()
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect();
            for key in ["hearth.model", "hearth.model_hash", "hearth.prompt_hash", "hearth.params", "hearth.version", "hearth.config_hash"] {
                assert!(kv.get(key).is_some_and(|v| !v.is_empty()), "{task} has {key}");
            }
        }
    }
    assert_pyarrow_reads(&out, units);

    // Every answered docs row of the checkout is a comment in its docs.patch or left out
    // of it for a reason the index gives, and the patch applies to the checkout. The
    // dataset's repositories have no checkout to patch.
    export_ok(&out);
    let site = out.join("export/sample-repo");
    let (comments, left_out) = patch_counts(&site);
    let answered = texts.iter().zip(strings(&docs, "repo")).filter(|(text, repo)| text.is_some() && repo.as_deref() == Some("sample-repo")).count();
    assert_eq!(comments + left_out, answered, "{}", std::fs::read_to_string(site.join("index.md")).unwrap());
    assert_eq!(site.join("docs.patch").exists(), comments > 0);
    if comments > 0 {
        // The sample repository is a subfolder of hearth's checkout: git must not skip the patch's files there.
        let check = Command::new("git").args(["apply", "--check", "--verbose"]).arg(site.join("docs.patch")).current_dir(datasets.join("sample-repo")).output().unwrap();
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success() && said.contains("Checking patch") && !said.contains("Skipped"), "{said}");
    }
    let index = std::fs::read_to_string(out.join("export/shop-scripts/index.md")).unwrap();
    assert!(index.contains("## Documentation patch\n\nNone: its units came from a dataset's rows, not from a checkout."), "{index}");
}

#[test]
fn a_rerun_carries_everything_and_an_edit_reruns_only_its_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 12);
    let pipeline = write_pipeline(tmp.path(), "repos = [\"repo\"]", "synthetic:tiny", 4, 6, 6);
    let out = tmp.path().join("out");

    let first = run_ok(&pipeline);
    let units = first["units"].as_u64().unwrap();
    assert_eq!(units, 15, "12 functions, and the outline of each of their 3 files");
    assert_task_counts(&first, &out, units, |n| [n, 0, n, 0], "the first run runs all");
    let parts_before: Vec<_> = TASKS.iter().map(|t| read_dir_names(&out.join(t))).collect();

    let second = run_ok(&pipeline);
    assert_task_counts(&second, &out, units, |n| [n, n, 0, 0], "nothing runs again");
    let parts_after: Vec<_> = TASKS.iter().map(|t| read_dir_names(&out.join(t))).collect();
    assert_eq!(parts_before, parts_after, "carried rows stay where they are");

    let ids_before: Vec<HashSet<String>> = TASKS.iter().map(|t| unit_ids(&out.join(t))).collect();
    let file = repo.join("mod_1.py");
    let code = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, code.replace("y = x * 7", "y = x * 70")).unwrap();
    let third = run_ok(&pipeline);
    // The file's outline elides the body, so it is carried too.
    assert_task_counts(&third, &out, units, |n| [n, n - 1, 1, 0], "only the edited unit runs");
    for (t, task) in TASKS.iter().enumerate() {
        let ids = unit_ids(&out.join(task));
        let gone: Vec<_> = ids_before[t].difference(&ids).collect();
        let new: Vec<_> = ids.difference(&ids_before[t]).collect();
        assert_eq!((gone.len(), new.len(), ids.len()), (1, 1, task_units(&out, task, units as usize)), "{task}: one row replaced");
        let row = read_folder(&out.join(task))
            .iter()
            .flat_map(|b| {
                let id = b.column_by_name("unit_id").unwrap().as_string::<i32>().clone();
                let path = b.column_by_name("path").unwrap().as_string::<i32>().clone();
                let line = b.column_by_name("start_line").unwrap().as_primitive::<arrow_array::types::UInt32Type>().clone();
                (0..b.num_rows()).map(move |i| (id.value(i).to_string(), path.value(i).to_string(), line.value(i)))
            })
            .find(|(id, ..)| id == new[0])
            .unwrap();
        assert_eq!((row.1.as_str(), row.2), ("mod_1.py", 11), "{task}: the re-run unit is step_7");
    }
    assert_pyarrow_reads(&out, units as usize);

    // Another weight format computes other numbers: everything runs again.
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, text.replace("[model]\n", "[model]\nrequantize = \"f32\"\n")).unwrap();
    let fourth = run_ok(&pipeline);
    assert_task_counts(&fourth, &out, units, |n| [n, 0, n, 0], "a new weight format reruns every unit");

    // `dtype = "auto"` said outright is the default: nothing runs again. Another type
    // computes other numbers: everything does.
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, text.replace("[model]\n", "[model]\ndtype = \"auto\"\n")).unwrap();
    let fifth = run_ok(&pipeline);
    assert_task_counts(&fifth, &out, units, |n| [n, n, 0, 0], "auto is the default");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, text.replace("dtype = \"auto\"", "dtype = \"bf16\"")).unwrap();
    let sixth = run_ok(&pipeline);
    assert_task_counts(&sixth, &out, units, |n| [n, 0, n, 0], "bf16 reruns every unit");
}

#[test]
fn a_run_holds_the_units_in_flight_not_the_whole_walk() {
    let tmp = tempfile::tempdir().unwrap();
    make_repo(tmp.path(), 600);
    let pipeline = write_pipeline(tmp.path(), "repos = [\"repo\"]", "synthetic:tiny", 256, 2, 2);
    let text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, text.replace("[output]", "[engine]\nmax_seqs = 4\n[output]")).unwrap();
    let out = tmp.path().join("out");

    let first = run_ok(&pipeline);
    let units = first["units"].as_u64().unwrap() as usize;
    assert_eq!(units, 720, "600 functions in 120 files, and the files' outlines");
    assert_task_counts(&first, &out, units as u64, |n| [n, 0, n, 0], "the first run runs all");
    // A worker keeps twice max_seqs prompts (embed: 64 units) in flight; the store reads
    // 64 rows at a time. Twice their sum leaves room for results on their way to the sink.
    for task in first["tasks"].as_array().unwrap() {
        let in_flight = if task["task"] == "embed" { 64 } else { 2 * 4 };
        let peak = task["units_held_peak"].as_u64().unwrap();
        assert!(peak > 0 && peak <= 2 * (in_flight + 64), "{}: {peak} of {units} units held at once", task["task"]);
    }
    assert_pyarrow_reads(&out, units);

    // A re-run with nothing to do reads no code at all.
    let second = run_ok(&pipeline);
    assert_task_counts(&second, &out, units as u64, |n| [n, n, 0, 0], "nothing runs again");
    assert!(second["tasks"].as_array().unwrap().iter().all(|t| t["units_held_peak"] == 0), "{second}");
}

#[test]
fn a_run_that_writes_a_part_per_row_ends_with_full_parts() {
    let tmp = tempfile::tempdir().unwrap();
    make_repo(tmp.path(), 12);
    let pipeline = write_pipeline(tmp.path(), "repos = [\"repo\"]", "synthetic:tiny", 4, 2, 2);
    let text = std::fs::read_to_string(&pipeline).unwrap();
    // part_seconds = 0: every finished unit is flushed at once, as a slow device's would be.
    std::fs::write(&pipeline, text.replace("part_rows = 4", "part_rows = 4\npart_seconds = 0")).unwrap();
    let first = run_ok(&pipeline);
    let out = tmp.path().join("out");
    let units = first["units"].as_u64().unwrap() as usize;
    assert_eq!(units, 15, "12 functions and 3 outlines");
    for task in first["tasks"].as_array().unwrap() {
        let rows = task_units(&out, task["task"].as_str().unwrap(), units) as u64;
        assert_eq!((task["parts_written"].as_u64(), task["parts_merged"].as_u64()), (Some(rows), Some(rows)), "{task}");
    }
    for task in TASKS {
        let rows = task_units(&out, task, units);
        assert_eq!(read_dir_names(&out.join(task)).len(), rows.div_ceil(4), "{task}: {rows} rows in parts of 4");
    }
    assert_pyarrow_reads(&out, units);
    // Nothing is left to merge: a re-run leaves every file as it was.
    let before: Vec<_> = TASKS.iter().map(|t| snapshot(&out.join(t))).collect();
    let second = run_ok(&pipeline);
    assert!(second["tasks"].as_array().unwrap().iter().all(|t| t["parts_merged"] == 0), "{second}");
    assert!(before == TASKS.iter().map(|t| snapshot(&out.join(t))).collect::<Vec<_>>());
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn runs_killed_at_random_points_finish_with_every_unit_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 120);

    // The uninterrupted run, and how long it takes.
    let reference = tmp.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    let sources = format!("repos = [{repo:?}]");
    let reference_pipeline = write_pipeline(&reference, &sources, "synthetic:tiny", 3, 24, 24);
    let started = Instant::now();
    let expected = run_ok(&reference_pipeline);
    let duration = started.elapsed();
    let expected_ids: Vec<HashSet<String>> = TASKS.iter().map(|t| unit_ids(&reference.join("out").join(t))).collect();

    let resumed = tmp.path().join("resumed");
    std::fs::create_dir(&resumed).unwrap();
    let pipeline = write_pipeline(&resumed, &sources, "synthetic:tiny", 3, 24, 24);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut state = seed | 1;
    let mut killed_mid_run = 0;
    for _ in 0..6 {
        // xorshift: a different spread of kill points each time the test runs; the seed is printed.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Each kill lands 5–25% of a whole run in: resumed runs have less left to do, so
        // six of them together still fall short of finishing.
        let delay = duration.mul_f64(0.05 + (state % 1000) as f64 / 1000.0 * 0.2);
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["run", pipeline.to_str().unwrap(), "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs.
        child.wait().unwrap();
        eprintln!("seed {seed}: killed after {delay:?} of {duration:?}");
    }
    assert!(killed_mid_run >= 3, "seed {seed}: the kills must land mid-run ({killed_mid_run} did)");
    let last = run_ok(&pipeline);
    let units = expected["units"].as_u64().unwrap();
    assert_eq!(last["units"].as_u64().unwrap(), units);
    for (t, task) in TASKS.iter().enumerate() {
        assert_eq!(unit_ids(&resumed.join("out").join(task)), expected_ids[t], "seed {seed}: {task} equals the uninterrupted run");
    }
    assert_pyarrow_reads(&resumed.join("out"), units as usize);
}

/// `repo/huge.py`: one function longer than tiny's context (4096 byte-level tokens);
/// a pipeline over it needs `max_unit_bytes = 100000` to keep it whole.
fn add_unit_over_the_context(repo: &Path) {
    let body: String = (0..700).map(|i| format!("    v{i} = {i}\n")).collect();
    std::fs::write(repo.join("huge.py"), format!("def huge():\n{body}    return 0\n")).unwrap();
}

#[test]
fn a_unit_over_the_context_fails_alone_and_the_exit_status_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 3);
    add_unit_over_the_context(&repo);
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        "[source]\nrepos = [\"repo\"]\nmax_unit_bytes = 100000\n[model]\nsource = \"synthetic:tiny\"\n\
         [output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 4\n",
    )
    .unwrap();
    let out = hearth(&["run", pipeline.to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success(), "a failed unit makes the exit status non-zero");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 units failed"), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&pipeline);
    assert_eq!(counts(&s)["docs"], [5, 0, 5, 1], "three functions, their file's outline, and `huge`");
    let docs = read_folder(&tmp.path().join("out/docs"));
    let errors: Vec<String> = strings(&docs, "error").into_iter().flatten().collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("context"), "{errors:?}");
}

/// `hearth` whose standard output is a pipe that nobody reads any more, as under `| head -1`.
fn hearth_read_by_no_one(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hearth binary runs");
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// `hearth export OUT`, which must succeed.
fn export_ok(out: &Path) {
    let exported = hearth(&["export", out.to_str().unwrap()]);
    assert!(exported.status.success(), "hearth export failed: {}", String::from_utf8_lossy(&exported.stderr));
}

/// An exported repository's docs patch, from its index: (comments it adds, units left out).
fn patch_counts(site: &Path) -> (usize, usize) {
    let index = std::fs::read_to_string(site.join("index.md")).unwrap();
    let section = &index[index.find("## Documentation patch").expect("the index has a patch section")..];
    let count = |text: &str, noun: &str| text.split_once(noun).and_then(|(before, _)| before.rsplit(' ').next()?.parse::<usize>().ok());
    let comments = count(section, " comment").unwrap_or(0);
    let left_out = section.lines().filter_map(|line| line.strip_prefix("- ")).filter_map(|line| count(&format!(" {line}"), " unit")).sum();
    (comments, left_out)
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_finished_run_exports_its_docs_as_pages_and_its_findings_as_sarif() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 7);
    // Its docs and review rows hold only an error.
    add_unit_over_the_context(&repo);
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        "[source]\nrepos = [\"repo\"]\nmax_unit_bytes = 100000\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
         [tasks.docs]\nmax_new_tokens = 8\n[tasks.review]\nmax_new_tokens = 3000\nconstrained = true\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let early = hearth(&["export", out.to_str().unwrap()]);
    assert!(!early.status.success() && String::from_utf8_lossy(&early.stderr).contains("no finished run"), "{early:?}");

    let run = hearth(&["run", pipeline.to_str().unwrap(), "--quiet"]);
    assert!(!run.status.success(), "huge.py fails, and the exit status says so");
    export_ok(&out);
    let site = out.join("export/repo");
    let page = |path: &str| std::fs::read_to_string(site.join(format!("docs/{path}.md"))).unwrap();

    // Every docs row is on its file's page: the comment as written, or why there is none.
    let docs = read_folder(&out.join("docs"));
    let places = strings(&docs, "path").into_iter().zip(strings(&docs, "name"));
    let outcomes = strings(&docs, "text").into_iter().zip(strings(&docs, "error")).zip(strings(&docs, "parse_error"));
    let rows: Vec<_> = places.zip(outcomes).collect();
    assert_eq!(rows.len(), 10, "7 functions in 2 files, their outlines, and huge");
    for ((path, name), ((text, error), parse_error)) in rows {
        let path = path.unwrap();
        let page = page(&path);
        let (heading, name) = match name {
            Some(name) => (format!("## `{name}` · function, lines"), name),
            None => ("## The file · outline, lines 1–".to_string(), "the outline".to_string()),
        };
        assert!(page.contains(&heading), "{path}: {name} has a heading");
        match (text, error, parse_error) {
            (Some(text), None, None) => assert!(page.contains(&text), "{path}: {name}'s comment is on its page"),
            (None, Some(error), None) => {
                assert!(error.contains("context") && page.contains("*No documentation: ") && page.contains("context"), "{page}")
            }
            (None, None, Some(_)) => assert!(page.contains("*No documentation: the answer did not parse: "), "{page}"),
            other => panic!("a docs row has a text, an error or a parse error: {other:?}"),
        }
    }
    let mod_0 = page("mod_0.py");
    let headings: Vec<usize> = (0..5).map(|i| mod_0.find(&format!("`step_{i}`")).unwrap()).collect();
    assert!(headings.windows(2).all(|w| w[0] < w[1]), "units in line order");

    // Every finding is a SARIF result at a line of its own unit; the failed unit is a notification.
    let reviews = read_folder(&out.join("reviews"));
    let mut spans = BTreeMap::new();
    let mut findings = 0;
    for b in &reviews {
        let (ids, list) = (b.column_by_name("unit_id").unwrap().as_string::<i32>(), b.column_by_name("findings").unwrap().as_list::<i32>());
        let line = |c: &str| b.column_by_name(c).unwrap().as_primitive::<arrow_array::types::UInt32Type>().clone();
        let (start, end) = (line("start_line"), line("end_line"));
        for i in 0..b.num_rows() {
            spans.insert(ids.value(i).to_string(), (start.value(i) as u64, end.value(i) as u64));
            findings += if list.is_valid(i) { list.value(i).len() } else { 0 };
        }
    }
    assert!(findings > 0, "constrained answers from random weights still hold findings");
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(site.join("review.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let log = &sarif["runs"][0];
    let results = log["results"].as_array().unwrap();
    assert_eq!(results.len(), findings, "one result per finding");
    let rules: Vec<&str> = log["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for result in results {
        let rule = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(result["ruleId"], rules[rule]);
        let level = result["level"].as_str().unwrap();
        let severity = result["properties"]["severity"].as_str().unwrap();
        assert_eq!(level, match severity { "high" => "error", "medium" => "warning", _ => "note" });
        let (start, end) = spans[result["properties"]["unit_id"].as_str().unwrap()];
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri == "mod_0.py" || uri == "mod_1.py", "{uri}");
        let region = &location["region"];
        let first = region["startLine"].as_u64().unwrap();
        assert!((start..=end).contains(&first) && region["endLine"].as_u64().is_none_or(|e| e == end), "{region} in {start}-{end}");
    }
    let root = log["originalUriBaseIds"]["SRCROOT"]["uri"].as_str().unwrap();
    assert!(root.starts_with("file:///") && root.ends_with("/repo/"), "{root}");
    let notes = log["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "huge.py");
    let digest = std::fs::read_to_string(site.join("review.md")).unwrap();
    assert!(digest.contains(&format!("{findings} finding")) && digest.contains("1 unit without a usable answer"), "{digest}");

    // A reader that stops early does not cut the export short or fail it.
    let read_by_head = tmp.path().join("export-read-by-head");
    let exported = hearth_read_by_no_one(&["export", out.to_str().unwrap(), "--to", read_by_head.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    assert_eq!(files_under(&read_by_head), files_under(&out.join("export")));

    // A file deleted from the repository leaves the next export with the next run.
    std::fs::remove_file(repo.join("mod_1.py")).unwrap();
    hearth(&["run", pipeline.to_str().unwrap(), "--quiet"]);
    export_ok(&out);
    assert!(site.join("docs/mod_0.py.md").exists() && !site.join("docs/mod_1.py.md").exists());
}

#[test]
fn docs_leave_a_unit_the_source_documents_to_its_own_doc_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    // Each file has a header, so its outline is documented too.
    let python = "\"\"\"Adds and triples.\"\"\"\n\n\ndef bare(x):\n    return x + 1\n\n\ndef explained(x):\n    \"\"\"Triples x.\"\"\"\n    return 3 * x\n";
    std::fs::write(repo.join("a.py"), python).unwrap();
    std::fs::write(repo.join("b.rs"), "//! Halves and doubles.\n\n/// Doubles x.\npub fn double(x: i32) -> i32 {\n    2 * x\n}\n\npub fn half(x: i32) -> i32 {\n    x / 2\n}\n").unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    let write = |docs: &str| {
        let text = format!("[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 4\n{docs}");
        std::fs::write(&pipeline, text).unwrap();
    };
    let out = tmp.path().join("out");
    let docs_names = || {
        let mut names: Vec<String> = strings(&read_folder(&out.join("docs")), "name").into_iter().map(|name| name.unwrap_or("(outline)".into())).collect();
        names.sort();
        names
    };
    let docs_summary = |summary: &serde_json::Value| summary["tasks"][0].clone();

    // By default the model is asked about the undocumented units only.
    write("");
    let summary = docs_summary(&run_ok(&pipeline));
    assert_eq!((summary["units"].as_u64(), summary["run"].as_u64(), summary["documented_in_source"].as_u64()), (Some(2), Some(2), Some(4)), "{summary}");
    assert_eq!(docs_names(), ["bare", "half"]);
    // The export's pages still show every unit, the documented ones as such.
    export_ok(&out);
    let page = std::fs::read_to_string(out.join("export/repo/docs/b.rs.md")).unwrap();
    let (double, half) = (page.find("## `double`").unwrap(), page.find("## `half`").unwrap());
    assert!(double < half && page[double..half].contains("*Documented in the source:*\n\n```rust\n/// Doubles x.\n```") && !page[half..].contains("Documented in the source"), "{page}");
    let page = std::fs::read_to_string(out.join("export/repo/docs/a.py.md")).unwrap();
    assert!(page.contains("*Documented in the source:*\n\n```python\n\"\"\"Triples x.\"\"\"\n```"), "{page}");
    assert!(page.contains("3 units, 2 documented in the source"), "{page}");
    let index = std::fs::read_to_string(out.join("export/repo/index.md")).unwrap();
    assert!(index.contains("6 units in 2 files, 4 documented in the source"), "{index}");
    assert!(index.contains("(docs/a.py.md) — 3 units: Adds and triples.\n") && index.contains("(docs/b.rs.md) — 3 units: Halves and doubles.\n"), "each file by its header: {index}");

    // Told to, it documents them too: only they run.
    write("skip_documented = false\n");
    let summary = docs_summary(&run_ok(&pipeline));
    assert_eq!((summary["units"].as_u64(), summary["carried"].as_u64(), summary["run"].as_u64()), (Some(6), Some(2), Some(4)), "{summary}");
    assert!(summary.get("documented_in_source").is_none(), "{summary}");
    assert_eq!(docs_names(), ["(outline)", "(outline)", "bare", "double", "explained", "half"]);
    export_ok(&out);
    let page = std::fs::read_to_string(out.join("export/repo/docs/b.rs.md")).unwrap();
    assert!(!page.contains("Documented in the source"), "the model's doc is shown: {page}");

    // Back to the default: their rows go, nothing runs.
    write("");
    let summary = docs_summary(&run_ok(&pipeline));
    assert_eq!((summary["run"].as_u64(), summary["rows_dropped_stale"].as_u64()), (Some(0), Some(4)), "{summary}");
    assert_eq!(docs_names(), ["bare", "half"]);

    // A doc written into the code (a docs.patch applied) is the author's now: the
    // edited unit does not run again, and its row goes.
    std::fs::write(repo.join("a.py"), python.replace("def bare(x):\n", "def bare(x):\n    \"\"\"Adds one to x.\"\"\"\n")).unwrap();
    let summary = docs_summary(&run_ok(&pipeline));
    assert_eq!((summary["units"].as_u64(), summary["run"].as_u64(), summary["documented_in_source"].as_u64()), (Some(1), Some(0), Some(5)), "{summary}");
    assert_eq!(docs_names(), ["half"]);
}

#[test]
fn docs_run_on_a_unit_whose_doc_no_longer_names_its_parameters_and_the_review_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    // `load` took `path` once; `save` still takes what its doc names.
    let stale = "\"\"\"Reads and writes files.\"\"\"\n\n\ndef load(source):\n    \"\"\"Loads.\n\n    Args:\n        path: The file.\n    \"\"\"\n    return open(source).read()\n\n\ndef save(data, path):\n    \"\"\"Saves.\n\n    :param data: what\n    :param path: where\n    \"\"\"\n    open(path, 'w').write(data)\n";
    std::fs::write(repo.join("io.py"), stale).unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(&pipeline, "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 4\n[tasks.review]\nmax_new_tokens = 4\n").unwrap();
    let out = tmp.path().join("out");
    let sarif_results = || {
        let log: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("export/repo/review.sarif")).unwrap()).unwrap();
        log["runs"][0]["results"].as_array().unwrap().clone()
    };

    let summary = run_ok(&pipeline);
    assert_eq!(summary["stale_docs"].as_u64(), Some(1), "{summary}");
    let docs = &summary["tasks"][0];
    assert_eq!((docs["units"].as_u64(), docs["run"].as_u64(), docs["documented_in_source"].as_u64()), (Some(1), Some(1), Some(2)), "{docs}");
    assert_eq!(strings(&read_folder(&out.join("docs")), "name"), [Some("load".to_string())]);
    // The export shows the model's doc for it, not the stale one.
    export_ok(&out);
    let page = std::fs::read_to_string(out.join("export/repo/docs/io.py.md")).unwrap();
    assert!(page.contains("3 units, 2 documented in the source") && !page.contains("path: The file."), "{page}");
    let why = "its doc names parameters its code does not have: `path`; its doc does not name parameters its code has: `source`";
    assert!(page.contains("## `load`") && page.contains(&format!("*In place of the source's doc: {why}.*")), "{page}");
    // The review reports it beside the model's findings (the tiny model's answers are cut off: none).
    let digest = std::fs::read_to_string(out.join("export/repo/review.md")).unwrap();
    assert!(digest.contains("1 stale doc (found by the walk, not the model)") && digest.contains(&format!("## Stale docs (1)\n\n- `io.py:4` in `load`: {why}\n")), "{digest}");
    let index = std::fs::read_to_string(out.join("export/repo/index.md")).unwrap();
    assert!(index.contains("0 findings in 3 units, 1 stale doc"), "{index}");
    let results = sarif_results();
    assert_eq!(results.len(), 1, "{results:#?}");
    let result = &results[0];
    assert_eq!((result["ruleId"].as_str(), result["ruleIndex"].as_u64(), result["level"].as_str()), (Some("stale-doc"), Some(5), Some("warning")));
    assert_eq!(result["locations"][0]["physicalLocation"]["region"], serde_json::json!({ "startLine": 4 }));
    assert_eq!(result["locations"][0]["logicalLocations"][0]["name"], "load");
    assert_eq!(result["properties"]["found_by"], "walk");

    // Its doc mended, it is documented: its row goes, nothing runs.
    std::fs::write(repo.join("io.py"), stale.replace("path: The file.", "source: The file.")).unwrap();
    let summary = run_ok(&pipeline);
    let docs = &summary["tasks"][0];
    assert_eq!((summary["stale_docs"].as_u64(), docs["run"].as_u64(), docs["rows_dropped_stale"].as_u64(), docs["documented_in_source"].as_u64()), (Some(0), Some(0), Some(1), Some(3)), "{summary}");
    export_ok(&out);
    assert!(sarif_results().is_empty(), "the mended doc is no finding");

    // `save` gains a parameter its doc leaves out: its doc is stale, and docs run on it.
    let gained = stale.replace("path: The file.", "source: The file.").replace("def save(data, path):", "def save(data, path, mode='w'):").replace("open(path, 'w')", "open(path, mode)");
    std::fs::write(repo.join("io.py"), gained).unwrap();
    let summary = run_ok(&pipeline);
    let docs = &summary["tasks"][0];
    assert_eq!((summary["stale_docs"].as_u64(), docs["run"].as_u64(), docs["documented_in_source"].as_u64()), (Some(1), Some(1), Some(2)), "{summary}");
    assert_eq!(strings(&read_folder(&out.join("docs")), "name"), [Some("save".to_string())]);
    export_ok(&out);
    let digest = std::fs::read_to_string(out.join("export/repo/review.md")).unwrap();
    assert!(digest.contains("- `io.py:13` in `save`: its doc does not name parameters its code has: `mode`\n"), "{digest}");
}

#[test]
fn docs_prompts_name_parameters_as_the_repositorys_docs_do() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let documented = |style: &dyn Fn(usize) -> String| {
        let mut src = String::from("\"\"\"Arithmetic.\"\"\"\n");
        for i in 0..6 {
            src += &format!("\n\ndef add{i}(a, b):\n    \"\"\"Adds.\n\n{}\n    \"\"\"\n    return a + b + {i}\n", style(i));
        }
        src + "\n\ndef undocumented(a, b):\n    return a * b\n"
    };
    let google = |_: usize| "    Args:\n        a: the first\n        b: the second".to_string();
    let plain = |i: usize| format!("    The sum of both, plus {i}.");
    std::fs::write(repo.join("lib.py"), documented(&google)).unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(&pipeline, "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 2\n").unwrap();
    let tokens_in = || {
        let batches = read_folder(&tmp.path().join("out/docs"));
        assert_eq!(strings(&batches, "name"), [Some("undocumented".to_string())]);
        batches[0].column_by_name("tokens_in").unwrap().as_primitive::<arrow_array::types::UInt32Type>().value(0)
    };
    let dry_run = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap(), "--dry-run"]).stdout).into_owned();
    assert!(dry_run.contains("docs in repo's python functions: with a Google-style `Args:` section where its parameters need explaining\n"), "{dry_run}");
    let json = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap(), "--dry-run", "--json"]).stdout).into_owned();
    assert!(json.contains(r#"{"house_style":{"repo":"repo","language":"python","style":"google","chosen":false}}"#), "for scripts: {json}");
    let marker = run_ok(&pipeline);
    assert_eq!(marker["tasks"][0]["run"].as_u64(), Some(1));
    // The marker says the prompts followed house styles (none chosen), which the export
    // reads with the walk's counts to check each answer against what it was asked.
    assert_eq!(marker["tasks"][0]["house_styles_chosen"], serde_json::json!({}));
    export_ok(&tmp.path().join("out"));
    let in_google = tokens_in();

    // The same function in a repository whose docs are prose: its prompt says so, and
    // its key changed with it, so it runs again though its code did not change.
    std::fs::write(repo.join("lib.py"), documented(&plain)).unwrap();
    let preview = hearth(&["run", pipeline.to_str().unwrap(), "--dry-run", "--json"]);
    let preview = String::from_utf8_lossy(&preview.stdout).into_owned();
    assert!(preview.contains(r#""task":"docs","units":1,"carried":0,"run":1"#), "{preview}");
    assert_eq!(run_ok(&pipeline)["tasks"][0]["run"].as_u64(), Some(1));
    let in_prose = tokens_in();
    assert_ne!(in_google, in_prose, "the prompts differ by the house style's words");
    assert_eq!(run_ok(&pipeline)["tasks"][0]["run"].as_u64(), Some(0), "an unchanged repository runs nothing");
    // Turned off, the prompt names the language's convention alone.
    std::fs::write(&pipeline, "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 2\nhouse_style = false\n").unwrap();
    let marker = run_ok(&pipeline);
    assert_eq!(marker["tasks"][0]["run"].as_u64(), Some(1));
    assert!(marker["tasks"][0].get("house_styles_chosen").is_none(), "no style asked, none to check");
    assert!(tokens_in() < in_prose.min(in_google));
    // Chosen by the pipeline, a style outranks the docs: the prose repository's function
    // is asked for exactly the prompt its Google docs gave it.
    std::fs::write(&pipeline, "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 2\nhouse_style = { Python = \"GOOGLE\" }\n").unwrap();
    let dry_run = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap(), "--dry-run"]).stdout).into_owned();
    assert!(dry_run.contains("docs in every python function: with a Google-style `Args:` section where its parameters need explaining (the pipeline's choice)\n"), "{dry_run}");
    assert!(!dry_run.contains("repo's python functions"), "{dry_run}");
    let marker = run_ok(&pipeline);
    assert_eq!(marker["tasks"][0]["run"].as_u64(), Some(1));
    assert_eq!(marker["tasks"][0]["house_styles_chosen"], serde_json::json!({ "python": "google" }));
    assert_eq!(tokens_in(), in_google);
    assert_eq!(run_ok(&pipeline)["tasks"][0]["run"].as_u64(), Some(0));
}

#[test]
fn a_dry_run_shows_what_each_task_would_give_the_units_at_a_place() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let code = "import os\n\n\ndef add(a, b):\n    \"\"\"Adds.\"\"\"\n    return a + b\n\n\ndef scale(x, by):\n    return x * by\n\n\nclass Box:\n    def area(self):\n        if self.w:\n            return self.w * self.h\n";
    std::fs::write(repo.join("lib.py"), code).unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
         [tasks.docs]\nmax_new_tokens = 2\n[tasks.review]\nmax_new_tokens = 2\nconstrained = false\n[tasks.embed]\n",
    )
    .unwrap();
    let dry_run = |args: &[&str]| {
        let out = hearth(&[&["run", pipeline.to_str().unwrap(), "--dry-run"], args].concat());
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, shown, err) = dry_run(&["--prompt", "lib.py:10"]);
    assert!(ok, "{err}");
    for task in ["docs", "review"] {
        let (_, prompt) = shown.split_once(&format!("── {task} of repo/lib.py:9-10 function scale (")).unwrap_or_else(|| panic!("{task}: {shown}"));
        let (tokens, prompt) = prompt.split_once(" ──\n").unwrap();
        assert!(tokens.ends_with(" tokens of a 4096-token context)"), "{tokens}");
        assert!(prompt.starts_with("system: You are ") && prompt.contains("\nuser:\n"), "{prompt}");
        assert!(prompt.contains("def scale(x, by):\n    return x * by"), "{prompt}");
    }
    assert!(shown.contains(" tokens of a 4096-token context) ──\npython lib.py\ndef scale(x, by):"), "{shown}");
    assert_eq!(shown.matches("\nassistant (begun for the model): \"\"\"\n").count(), 1, "docs only: {shown}");
    assert!(!shown.contains("def add"), "only the innermost unit holding the line, not the file's outline: {shown}");

    // A method is shown at the margin with its nesting as written, not with its body
    // indented past its first line, which reads as an indentation error.
    let (ok, shown, err) = dry_run(&["--prompt", "lib.py:15"]);
    assert!(ok, "{err}");
    assert_eq!(shown.matches("def area(self):\n    if self.w:\n        return self.w * self.h\n").count(), 3, "docs, review, embed: {shown}");

    // A whole file: what each task leaves alone, and why.
    let (ok, shown, err) = dry_run(&["--prompt", "repo/lib.py"]);
    assert!(ok, "{err}");
    assert!(shown.contains("── docs leaves repo/lib.py:4-6 function add alone: the source documents it already (skip_documented)\n"), "{shown}");
    assert!(shown.contains("── review of repo/lib.py:4-6 function add ("), "{shown}");
    assert!(shown.contains(" code alone: its kind is in skip_kinds\n"), "docs skip top-level statements: {shown}");

    // For scripts: a JSON object a line, the prompts after the tasks.
    let (ok, shown, err) = dry_run(&["--json", "--prompt", "./lib.py:9"]);
    assert!(ok, "{err}");
    let prompts: Vec<serde_json::Value> = shown.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap().get("prompt").cloned()).collect();
    assert_eq!(prompts.iter().map(|p| p["task"].as_str().unwrap()).collect::<Vec<_>>(), ["docs", "review", "embed"]);
    assert!(prompts.iter().all(|p| p["name"] == "scale" && p["passed_over"].is_null() && p["text"].as_str().unwrap().contains("return x * by")));
    assert!(prompts[2]["system"].is_null() && prompts[0]["system"].is_string());
    // A docs answer is begun with the comment's opening, which the prompt ends with.
    assert_eq!(prompts.iter().map(|p| p["answer_opening"].as_str()).collect::<Vec<_>>(), [Some("\"\"\""), None, None]);
    assert!(prompts.iter().all(|p| p["prompt_tokens"].as_u64().unwrap() > 0 && p["max_context"].as_u64().unwrap() > 0));

    // A place no unit is at is an error naming it.
    for place in ["lib.py:99", "other.py"] {
        let (ok, _, err) = dry_run(&["--prompt", place]);
        assert!(!ok && err.contains(&format!("--prompt {place}: no unit of the")), "{err}");
    }
    assert!(!tmp.path().join("out").exists(), "a dry run writes nothing");

    // The tokens it counts are the ones a run reads, through the model's chat template.
    run_ok(&pipeline);
    for (task, prompt) in [("docs", &prompts[0]), ("reviews", &prompts[1]), ("embeddings", &prompts[2])] {
        let rows = read_folder(&tmp.path().join("out").join(task));
        let names = strings(&rows, "name");
        let tokens_in = u32s(&rows, "tokens_in");
        let scale = names.iter().zip(tokens_in).find(|(name, _)| name.as_deref() == Some("scale")).and_then(|(_, tokens)| tokens);
        assert_eq!(scale.map(u64::from), prompt["prompt_tokens"].as_u64(), "{task}");
    }

    // An answer the context has no room for is cut off, and the preview says so.
    let pipeline_text = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, pipeline_text.replacen("max_new_tokens = 2", "max_new_tokens = 4000", 1)).unwrap();
    let (ok, shown, err) = dry_run(&["--prompt", "lib.py:10"]);
    assert!(ok, "{err}");
    let docs_tokens = prompts[0]["prompt_tokens"].as_u64().unwrap();
    let room = format!(" ({docs_tokens} tokens of a 4096-token context: room for {} of its answer's max_new_tokens = 4000, so a longer answer is cut off) ──", 4096 - docs_tokens);
    assert!(shown.contains(&format!("── docs of repo/lib.py:9-10 function scale{room}")), "{shown}");
    assert_eq!(shown.matches("room for").count(), 1, "review's two tokens fit: {shown}");

    // Each docs answer begins with its opening; not opened, every docs unit runs again.
    let docs = read_folder(&tmp.path().join("out").join("docs"));
    let raw = strings(&docs, "raw");
    assert!(!raw.is_empty() && raw.iter().all(|raw| raw.as_deref().is_some_and(|raw| raw.starts_with("\"\"\""))), "{raw:?}");
    std::fs::write(&pipeline, pipeline_text.replacen("[tasks.docs]\n", "[tasks.docs]\nopen_comment = false\n", 1)).unwrap();
    let (ok, shown, err) = dry_run(&["--json"]);
    assert!(ok, "{err}");
    let docs_task = shown.lines().find(|line| line.contains(r#""task":"docs""#)).unwrap();
    assert!(docs_task.contains(&format!(r#""carried":0,"run":{}"#, raw.len())), "{docs_task}");
}

#[test]
fn every_shard_asks_for_the_house_style_of_the_whole_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    // Six documented functions show the style; a shard holds a third of them, too few
    // to show it alone.
    let mut src = String::new();
    for i in 0..6 {
        src += &format!("def add{i}(a, b):\n    \"\"\"Adds.\n\n    Args:\n        a: the first\n        b: the second\n    \"\"\"\n    return a + b + {i}\n\n\n");
        src += &format!("def mul{i}(a, b):\n    return a * b * {i}\n\n\n");
    }
    std::fs::write(repo.join("lib.py"), src).unwrap();
    let pipeline = tmp.path().join("pipeline.toml");
    std::fs::write(&pipeline, "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = 2\n").unwrap();
    let whole = tmp.path().join("whole");
    let sharded = tmp.path().join("sharded");
    let run = |out: &Path, shard: Option<&str>| {
        let mut args = vec!["run", pipeline.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        args.extend(shard.map(|shard| ["--shard", shard]).into_iter().flatten());
        let done = hearth(&args);
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    };
    run(&whole, None);
    for shard in ["0/3", "1/3", "2/3"] {
        let dry_run = hearth(&["run", pipeline.to_str().unwrap(), "--out", sharded.to_str().unwrap(), "--dry-run", "--shard", shard]);
        let dry_run = String::from_utf8_lossy(&dry_run.stdout).into_owned();
        assert!(dry_run.contains("docs in repo's python functions: with a Google-style `Args:` section"), "{shard}: {dry_run}");
        run(&sharded, Some(shard));
    }
    let keys = |out: &Path| -> std::collections::BTreeSet<String> { strings(&read_folder(&out.join("docs")), "cache_key").into_iter().flatten().collect() };
    assert_eq!(keys(&whole).len(), 7, "the undocumented functions and the file's outline");
    assert_eq!(keys(&sharded), keys(&whole), "the shards' prompts and keys are the whole run's");
}

/// Review rows of a run over `units` Python functions with the random tiny model:
/// (rows whose findings parsed, rows kept raw with a parse error).
fn tiny_reviews(constrained: bool, units: usize) -> (usize, usize) {
    let tmp = tempfile::tempdir().unwrap();
    make_repo(tmp.path(), units);
    let pipeline = tmp.path().join("pipeline.toml");
    // The schema bounds an answer (4 findings of 160 characters) under 3,000 byte-level tokens.
    std::fs::write(
        &pipeline,
        format!(
            "[source]\nrepos = [\"repo\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
             [tasks.review]\nmax_new_tokens = 3000\nconstrained = {constrained}\n"
        ),
    )
    .unwrap();
    run_ok(&pipeline);
    let reviews = read_folder(&tmp.path().join("out/reviews"));
    let parsed = reviews.iter().map(|b| b.num_rows() - b.column_by_name("findings").unwrap().null_count()).sum();
    let raw = reviews.iter().map(|b| b.num_rows() - b.column_by_name("parse_error").unwrap().null_count()).sum();
    (parsed, raw)
}

#[test]
fn constrained_sampling_makes_every_review_parse_even_from_random_weights() {
    assert_eq!(tiny_reviews(true, 6), (6, 0), "the JSON schema constraint admits only answers that parse");
    let (parsed, raw) = tiny_reviews(false, 6);
    assert_eq!((parsed, raw), (0, 6), "unconstrained, random weights write no JSON; every answer is kept raw");
}

#[test]
fn bad_pipelines_are_refused_with_the_file_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = tmp.path().join("bad.toml");
    std::fs::write(&pipeline, "[source]\nrepos = [\"r\"]\n[output]\ndir = \"o\"\n[tasks.docs]\ntemprature = 0.5\n").unwrap();
    let out = hearth(&["run", pipeline.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("bad.toml") && stderr.contains("temprature"), "{stderr}");
    // A docs-only key under review.
    std::fs::write(&pipeline, "[source]\nrepos = [\"r\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"o\"\n[tasks.review]\nskip_documented = true\n").unwrap();
    let out = hearth(&["run", pipeline.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("[tasks.review] skip_documented: only the docs task reads it"), "{stderr}");
    std::fs::write(&pipeline, "[source]\nrepos = [\"r\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"o\"\n[tasks.review]\nhouse_style = false\n").unwrap();
    let stderr = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("[tasks.review] house_style: only the docs task reads it"), "{stderr}");
    std::fs::write(&pipeline, "[source]\nrepos = [\"r\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"o\"\n[tasks.review]\nopen_comment = true\n").unwrap();
    let stderr = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("[tasks.review] open_comment: only the docs task reads it"), "{stderr}");
    std::fs::write(&pipeline, "[source]\nrepos = [\"r\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"o\"\n[tasks.docs]\nfrequency_penalty = 2.5\n").unwrap();
    let stderr = String::from_utf8_lossy(&hearth(&["run", pipeline.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("bad.toml") && stderr.contains("[tasks.docs]: request: frequency_penalty 2.5 must be from -2 to 2"), "{stderr}");
}

/// A pipeline over the sample datasets with the random tiny model: all three tasks,
/// few tokens, small batches (so every worker runs many steps).
fn tiny_pipeline(dir: &Path) -> PathBuf {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let path = dir.join("pipeline.toml");
    let text = format!(
        "[source]\nrepos = [\"{repo}\"]\ndatasets = [{{ file = \"{jsonl}\" }}]\n[model]\nsource = \"synthetic:tiny\"\n\
         [engine]\nmax_seqs = 4\n[output]\ndir = \"out\"\npart_rows = 16\n\
         [tasks.docs]\nmax_new_tokens = 4\n[tasks.review]\nmax_new_tokens = 4\nconstrained = false\n[tasks.embed]\n",
        repo = datasets.join("sample-repo").display(),
        jsonl = datasets.join("sample.jsonl").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `hearth run` with extra arguments and environment, not waited for.
fn spawn_run(pipeline: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("run")
        .arg(pipeline)
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hearth binary starts")
}

fn wait_ok(child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hearth run failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Each file's name and bytes in `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn three_shards_side_by_side_make_exactly_the_unsharded_output() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = tiny_pipeline(tmp.path());
    let whole = tmp.path().join("whole");
    wait_ok(spawn_run(&pipeline, &["--out", whole.to_str().unwrap()], &[]));

    // The three shards at once, each told its place the way its scheduler tells it.
    let sharded = tmp.path().join("sharded");
    let out = ["--out", sharded.to_str().unwrap()];
    let shards = [
        spawn_run(&pipeline, &[&out[..], &["--shard", "0/3"]].concat(), &[]),
        spawn_run(&pipeline, &[&out[..], &["--num-shards", "3"]].concat(), &[("JOB_COMPLETION_INDEX", "1")]),
        spawn_run(&pipeline, &out, &[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "3")]),
    ];
    shards.into_iter().for_each(wait_ok);

    let whole_summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(whole.join("_SUCCESS")).unwrap()).unwrap();
    let units = whole_summary["units"].as_u64().unwrap();
    let mut shard_units = 0;
    for i in 0..3 {
        let marker: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sharded.join(format!("_SUCCESS-{i}-of-3"))).unwrap()).unwrap();
        assert_eq!(marker["shard"], format!("{i}/3"));
        shard_units += marker["units"].as_u64().unwrap();
        assert!(marker["units"].as_u64().unwrap() > 0, "every shard got work");
    }
    assert_eq!(shard_units, units, "the shards' units add up to the whole");
    for task in TASKS {
        assert_eq!(unit_ids(&sharded.join(task)), unit_ids(&whole.join(task)), "{task}: the union of the shards is the whole, once each");
    }
    assert_pyarrow_reads(&sharded, units as usize);

    // A completed shard run again does nothing: no unit runs, no file changes.
    let before: Vec<_> = TASKS.iter().map(|t| snapshot(&sharded.join(t))).collect();
    let rerun = hearth(&["run", pipeline.to_str().unwrap(), "--out", sharded.to_str().unwrap(), "--shard", "1/3", "--quiet"]);
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    let marker: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sharded.join("_SUCCESS-1-of-3")).unwrap()).unwrap();
    assert!(counts(&marker).values().all(|c| c[2] == 0 && c[1] == c[0]), "{marker}");
    let after: Vec<_> = TASKS.iter().map(|t| snapshot(&sharded.join(t))).collect();
    assert!(before == after, "a re-run of a completed shard leaves every part file as it was");

    // The shards' export is the whole run's, file for file.
    export_ok(&whole);
    export_ok(&sharded);
    assert_eq!(files_under(&sharded.join("export")), files_under(&whole.join("export")));

    // Another sharding of the same folder is refused, naming the clash.
    let clash = hearth(&["run", pipeline.to_str().unwrap(), "--out", sharded.to_str().unwrap(), "--shard", "0/2", "--quiet"]);
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(!clash.status.success() && err.contains("one sharding"), "{err}");
}

#[test]
fn the_pipelines_attention_reads_the_cache_and_one_that_cannot_run_is_refused_up_front() {
    // The real small model (a random one's answers barely depend on the attention),
    // with dense f32 matrices: a quantized matmul re-quantizes its input, which turns
    // the attentions' last-bit differences into logit differences of up to ~0.5.
    let model = hearth::engine::default_model_path();
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 6);
    // A pipeline in its own folder, `name`.
    let write = |name: &str, devices: &str, attention: &str, tasks: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let text = format!(
            "[source]\nrepos = [{repo:?}]\n[model]\nsource = {model:?}\nrequantize = \"f32\"\ndevices = {devices:?}\n\
             [engine]\nattention = \"{attention}\"\n[output]\ndir = \"out\"\n{tasks}"
        );
        std::fs::write(dir.join("pipeline.toml"), text).unwrap();
        dir.join("pipeline.toml")
    };
    let both = "[tasks.docs]\nmax_new_tokens = 24\n[tasks.embed]\n";
    // The gathered attention (what a GPU runs without flash-attn), here on the CPU's
    // kernels: the same generated text as the host attention, unit for unit, and the
    // same embeddings. So does the model split across two devices (CPU ones here, as a
    // pair of cards would be), whose gathered attention reads each stage's KV layers.
    run_ok(&write("host", "cpu", "host", both));
    run_ok(&write("gathered", "cpu", "gathered", both));
    let split = run_ok(&write("split", "cpu+cpu", "gathered", both));
    for task in split["tasks"].as_array().unwrap() {
        let workers: Vec<&str> = task["workers"].as_array().unwrap().iter().map(|w| w["device"].as_str().unwrap()).collect();
        assert_eq!(workers, ["cpu+cpu"], "one worker over both devices: {task}");
    }
    let folder = |name: &str, task: &str| read_folder(&tmp.path().join(name).join("out").join(task));
    let docs = |name: &str| {
        let batches = folder(name, "docs");
        let mut rows: Vec<_> = strings(&batches, "unit_id").into_iter().zip(strings(&batches, "raw")).collect();
        rows.sort();
        rows
    };
    let host = docs("host");
    assert_eq!(host.len(), 7, "six functions and the outline of the file of five");
    assert_eq!(host, docs("gathered"));
    assert_eq!(host, docs("split"));
    let embeddings = |name: &str| -> BTreeMap<String, Vec<f32>> {
        let batches = folder(name, "embeddings");
        let vectors = batches.iter().flat_map(|b| {
            let list = b.column_by_name("embedding").unwrap().as_fixed_size_list().clone();
            (0..b.num_rows()).map(move |i| list.value(i).as_primitive::<Float32Type>().values().to_vec())
        });
        strings(&batches, "unit_id").into_iter().map(Option::unwrap).zip(vectors).collect()
    };
    let host = embeddings("host");
    assert_eq!(host.len(), 7, "six functions and the outline of the file of five");
    for other in ["gathered", "split"] {
        let other_vectors = embeddings(other);
        for (unit, vector) in &host {
            let gap = vector.iter().zip(&other_vectors[unit]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(gap < 1e-4, "{other}, {unit}: embeddings differ by {gap}");
        }
    }
    // Flash cannot run here (no GPU, nor the feature in this build): the run stops
    // before its first unit, naming the key, instead of writing an error row per unit.
    // The embed task reads the same key.
    for (name, tasks, first) in [("flash", both, "docs"), ("flash-embed", "[tasks.embed]\n", "embeddings")] {
        let pipeline = write(name, "cpu", "flash", tasks);
        let out = hearth(&["run", pipeline.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("[engine] attention = \"flash\""), "{stderr}");
        let rows = pipeline.parent().unwrap().join("out").join(first);
        assert!(!rows.exists() || read_folder(&rows).is_empty(), "no unit ran");
    }
}

#[test]
fn a_worker_that_fails_mid_batch_loses_no_unit() {
    for fault in ["worker=1,after=2,kind=panic", "worker=0,after=3,kind=error", "worker=1,after=1,kind=oom"] {
        let tmp = tempfile::tempdir().unwrap();
        let pipeline = tiny_pipeline(tmp.path());
        // Retries in flight when a worker fails are asked for again from the start.
        let text = std::fs::read_to_string(&pipeline).unwrap().replace("[tasks.docs]\nmax_new_tokens = 4\n", "[tasks.docs]\nmax_new_tokens = 4\nretries = 1\n");
        std::fs::write(&pipeline, text).unwrap();
        wait_ok(spawn_run(&pipeline, &["--devices", "cpu,cpu"], &[("HEARTH_FAULT", fault)]));
        let s = summary(&pipeline);
        let units = s["units"].as_u64().unwrap();
        for (task, c) in counts(&s) {
            let units = task_units(&tmp.path().join("out"), &task, units as usize) as u64;
            assert_eq!(c, [units, 0, units, 0], "{fault}: {task} ran every unit and none failed");
        }
        for task in TASKS {
            let folder = read_folder(&tmp.path().join("out").join(task));
            let units = task_units(&tmp.path().join("out"), task, units as usize);
            assert_eq!(unit_ids(&tmp.path().join("out").join(task)).len(), units, "{fault}: {task} has every unit once");
            assert!(strings(&folder, "error").iter().all(Option::is_none), "{fault}: no error rows");
        }
        let docs = read_folder(&tmp.path().join("out/docs"));
        let attempts = u32s(&docs, "attempts");
        for (text, attempts) in strings(&docs, "text").iter().zip(&attempts) {
            assert!(text.is_some() || *attempts == Some(2), "{fault}: a docs row without a doc was asked for twice: {attempts:?}");
        }
        for t in s["tasks"].as_array().unwrap() {
            let workers = t["workers"].as_array().unwrap();
            assert_eq!(workers.len(), 2);
            let done: u64 = workers.iter().map(|w| w["units"].as_u64().unwrap()).sum();
            assert_eq!(done, task_units(&tmp.path().join("out"), t["task"].as_str().unwrap(), units as usize) as u64, "{fault}: {t}");
            let (failures, shrinks): (u64, u64) = workers.iter().fold((0, 0), |(f, s), w| (f + w["failures"].as_u64().unwrap(), s + w["shrinks"].as_u64().unwrap()));
            // Embedding takes 64 units a step, so a worker may finish before its fault's step.
            if t["task"] == "embed" {
                continue;
            }
            match fault.ends_with("oom") {
                true => assert!(failures == 0 && shrinks == 1, "{fault}: running out of memory shrinks the batch: {t}"),
                false => assert!(failures >= 1, "{fault}: the planted fault struck: {t}"),
            }
        }
    }
}

/// `tiny_pipeline` plus a `[telemetry]` section whose sensor plays `temperatures` at 100 W.
fn sensed_pipeline(dir: &Path, temperatures: &[f64], telemetry: &str) -> PathBuf {
    let readings: String = temperatures.iter().map(|t| format!("{{\"temperature_c\": {t}, \"power_w\": 100}}\n")).collect();
    with_sensor(dir, &readings, telemetry)
}

/// `tiny_pipeline` plus a `[telemetry]` section whose sensor plays `readings` (JSON lines).
fn with_sensor(dir: &Path, readings: &str, telemetry: &str) -> PathBuf {
    let pipeline = tiny_pipeline(dir);
    std::fs::write(dir.join("sensor.jsonl"), readings).unwrap();
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    text.push_str(&format!("[telemetry]\ntest_sensor = \"sensor.jsonl\"\n{telemetry}\n"));
    std::fs::write(&pipeline, text).unwrap();
    pipeline
}

#[test]
fn a_hot_device_pauses_admission_until_it_cools_and_the_run_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Hot from the first sample, before any work is admitted, for 20 samples (a second
    // at 0.05 s); then cool.
    let temps: Vec<f64> = std::iter::repeat_n(95.0, 20).chain([60.0]).collect();
    let pipeline = sensed_pipeline(tmp.path(), &temps, "interval_s = 0.05\nmax_temp_c = 90\nresume_temp_c = 70");
    let s = run_ok(&pipeline);
    let device = &s["telemetry"]["devices"][0];
    assert_eq!(device["guard_pauses"], 1, "{device}");
    assert!(device["paused_s"].as_f64().unwrap() >= 0.5, "{device}");
    assert_eq!(device["temperature_c"]["max"], 95.0);
    assert!(counts(&s).values().all(|c| c[3] == 0 && c[2] == c[0]), "every unit ran once the device cooled");

    // telemetry.parquet: a row per sample, the pause marked, the tokens counted up.
    let file = std::fs::File::open(tmp.path().join("out/telemetry.parquet")).unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().map(|b| b.unwrap()).collect();
    let paused: Vec<bool> = batches.iter().flat_map(|b| b.column_by_name("paused").unwrap().as_boolean().iter().flatten().collect::<Vec<_>>()).collect();
    assert!(paused[..20].iter().all(|&p| p) && !paused[20], "{paused:?}");
    let tokens: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column_by_name("tokens").unwrap().as_primitive::<arrow_array::types::UInt64Type>().values().to_vec())
        .collect();
    assert_eq!(tokens[..20].iter().max(), Some(&0), "nothing is done while the device is hot: {tokens:?}");
    assert!(tokens.windows(2).all(|w| w[0] <= w[1]) && *tokens.last().unwrap() > 0);
}

#[test]
fn a_soak_with_a_planted_violation_fails_with_that_reason_and_writes_its_report() {
    let tmp = tempfile::tempdir().unwrap();
    // A card heating from 60 °C by 1 °C a sample.
    let temps: Vec<f64> = (0..400).map(|i| 60.0 + i as f64).collect();
    let pipeline = sensed_pipeline(tmp.path(), &temps, "interval_s = 0.05\nwarmup_s = 0\nwindow_s = 0.5");
    let soak = |gate: &str, out: &str| {
        hearth(&["soak", pipeline.to_str().unwrap(), "--duration", "3s", "--gate", gate, "--out", tmp.path().join(out).to_str().unwrap(), "--quiet"])
    };
    let failed = soak("max_temp=80,max_tput_cv=100", "hot");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("FAIL max_temp") && stderr.contains("> 80") && stderr.contains("pass max_tput_cv"), "{stderr}");
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("hot/soak.json")).unwrap()).unwrap();
    assert_eq!(verdict["pass"], false);
    assert!(verdict["passes"].as_u64().unwrap() >= 1);
    assert!(verdict["telemetry"]["devices"][0]["drift_c_per_h"].as_f64().unwrap() > 1000.0, "a steep ramp: {verdict}");
    for file in ["index.html", "temperature.png", "power.png", "throughput.png"] {
        assert!(tmp.path().join("hot/report").join(file).is_file(), "report/{file}");
    }
    let html = std::fs::read_to_string(tmp.path().join("hot/report/index.html")).unwrap();
    assert!(html.contains("FAIL") && html.contains("max_temp"), "the report gives the verdict");

    // The same load under limits it meets passes.
    let passed = soak("max_temp=1000,max_throttle=1", "cool");
    let stderr = String::from_utf8_lossy(&passed.stderr);
    assert!(!passed.status.success() && stderr.contains("max_throttle") && stderr.contains("not measured"), "no throttle readings: not measured fails: {stderr}");
    let passed = soak("max_temp=1000", "cool2");
    assert!(passed.status.success(), "{}", String::from_utf8_lossy(&passed.stderr));
}

#[test]
fn a_soak_loads_its_models_in_the_first_pass_only() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 5);
    let pipeline = write_pipeline(tmp.path(), &format!("repos = [\"{}\"]", repo.display()), "synthetic:tiny", 16, 2, 2);
    std::fs::write(tmp.path().join("sensor.jsonl"), "{\"temperature_c\": 50, \"power_w\": 100}\n").unwrap();
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    text.push_str("[telemetry]\ntest_sensor = \"sensor.jsonl\"\ninterval_s = 0.05\n");
    std::fs::write(&pipeline, text).unwrap();
    let out = tmp.path().join("soak");
    let soak = hearth(&["soak", pipeline.to_str().unwrap(), "--duration", "2s", "--gate", "max_temp=1000", "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(soak.status.success(), "{}", String::from_utf8_lossy(&soak.stderr));
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("soak.json")).unwrap()).unwrap();
    let loads: Vec<f64> = verdict["load_seconds_per_pass"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    assert!(loads.len() >= 2 && loads.len() as u64 == verdict["passes"].as_u64().unwrap(), "{verdict}");
    assert!(loads[0] > 0.0 && loads[1..].iter().all(|&s| s == 0.0), "{loads:?}");
    // Five functions and their file's outline, which review leaves alone.
    assert_eq!(verdict["units_run"].as_u64().unwrap(), (6 + 5 + 6) * loads.len() as u64, "every pass runs every unit of each task: {verdict}");
}

/// Each row's `energy_j` in a task folder.
fn energies(dir: &Path) -> Vec<Option<f64>> {
    read_folder(dir)
        .iter()
        .flat_map(|b| b.column_by_name("energy_j").unwrap().as_primitive::<arrow_array::types::Float64Type>().iter().collect::<Vec<_>>())
        .collect()
}

#[test]
fn each_row_carries_its_share_of_the_energy_its_steps_drew() {
    let tmp = tempfile::tempdir().unwrap();
    // A device drawing a steady 100 W (the planted sensor's power).
    let pipeline = sensed_pipeline(tmp.path(), &[50.0], "interval_s = 0.05");
    let s = run_ok(&pipeline);
    for (task, folder) in s["tasks"].as_array().unwrap().iter().zip(TASKS) {
        let rows = energies(&tmp.path().join("out").join(folder));
        assert!(rows.iter().all(|e| e.is_some_and(|j| j > 0.0)), "{folder}: every row has its energy: {rows:?}");
        let attributed: f64 = rows.iter().flatten().sum();
        let worker = &task["workers"][0];
        // Every step's energy goes to the units in it, so the rows add up to the power
        // times the time the worker spent in steps (less what a step does after its
        // energy is read: handing results over).
        let drawn = 100.0 * worker["busy_s"].as_f64().unwrap();
        assert!(attributed <= drawn * 1.0001 && attributed >= 0.9 * drawn, "{folder}: rows {attributed} J, steps {drawn} J");
        assert!((worker["energy_j"].as_f64().unwrap() - attributed).abs() < 1e-6 * drawn, "{folder}: {worker}");
    }

    // A sensor with no power reading: no energy is invented.
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = with_sensor(tmp.path(), "{\"temperature_c\": 50}\n", "interval_s = 0.05");
    let s = run_ok(&pipeline);
    for (task, folder) in s["tasks"].as_array().unwrap().iter().zip(TASKS) {
        assert!(energies(&tmp.path().join("out").join(folder)).iter().all(Option::is_none), "{folder}");
        assert!(task["workers"][0]["energy_j"].is_null(), "{task}");
    }
}

#[test]
fn a_second_run_into_a_busy_output_folder_stops_at_once_and_the_first_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = tiny_pipeline(tmp.path());
    let lock = tmp.path().join("out").join(".hearth-lock");
    // The first run's steps are slowed so that it is still writing when the second comes.
    let first = spawn_run(&pipeline, &[], &[("HEARTH_SLOW_STEP_MS", "50")]);
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(&lock).unwrap_or_default().starts_with("pid") {
        assert!(waited.elapsed() < std::time::Duration::from_secs(60), "the first run took its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = hearth(&["run", pipeline.to_str().unwrap(), "--quiet"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second run was refused");
    assert!(err.contains(&format!("another hearth run (pid {}", first.id())) && err.contains("wait for it to finish"), "{err}");
    // The first run is unharmed: every unit once in every task.
    wait_ok(first);
    let s = summary(&pipeline);
    let units = s["units"].as_u64().unwrap() as usize;
    for task in TASKS {
        let out = tmp.path().join("out");
        assert_eq!(unit_ids(&out.join(task)).len(), task_units(&out, task, units), "{task}");
    }
    // Its lock went with it: the next run carries everything.
    let next = run_ok(&pipeline);
    assert!(counts(&next).values().all(|c| c[1] == c[0] && c[2] == 0), "{next}");
}

/// `hearth search` and what it prints, not asserted successful.
fn search(out: &Path, query: &str, args: &[&str]) -> Output {
    let mut all = vec!["search", out.to_str().unwrap(), query, "--device", "cpu"];
    all.extend_from_slice(args);
    hearth(&all)
}

#[test]
fn search_finds_the_unit_whose_code_the_query_is_with_the_model_that_embedded_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 12);
    // Units embedded as their code alone, and queries wrapped in the first line of
    // step_7: a query that is the rest of step_7's code is step_7's own text, so its
    // vector is that unit's.
    let pipeline = tmp.path().join("pipeline.toml");
    let text = format!(
        "[source]\nrepos = [\"{}\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
         [tasks.embed]\ntemplate = \"{{{{ content }}}}\"\nquery_template = \"def step_7(x):\\n{{{{ query }}}}\"\n",
        repo.display()
    );
    std::fs::write(&pipeline, text).unwrap();
    run_ok(&pipeline);
    let out = tmp.path().join("out");

    let units = read_parquet(&out.join("units.parquet"));
    let names = strings(&units, "name");
    let contents = strings(&units, "content");
    let step_7 = names.iter().position(|n| n.as_deref() == Some("step_7")).expect("step_7 is a unit");
    let code = contents[step_7].clone().unwrap();
    let (first_line, rest) = code.split_once('\n').unwrap();
    assert_eq!(first_line, "def step_7(x):");

    let found = search(&out, rest, &["--top", "5", "--json"]);
    assert!(found.status.success(), "{}", String::from_utf8_lossy(&found.stderr));
    let hits: Vec<serde_json::Value> = String::from_utf8(found.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0]["name"], "step_7", "{hits:?}");
    assert_eq!((hits[0]["path"].as_str(), hits[0]["start_line"].as_u64()), (Some("mod_1.py"), Some(11)));
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores[0] > 0.9999, "the same text, the same vector: {scores:?}");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    assert!(scores[1] < scores[0], "another unit's code is another vector: {scores:?}");
    let stderr = String::from_utf8_lossy(&found.stderr);
    assert!(stderr.contains("15 units searched (0 without a vector) with synthetic:tiny"), "12 functions and 3 outlines: {stderr}");

    // The table, and the filters.
    let table = search(&out, rest, &["--top", "2", "--language", "python"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.lines().next().unwrap().contains("repo/mod_1.py:11-13  function step_7"), "{table}");
    let read_by_head = hearth_read_by_no_one(&["search", out.to_str().unwrap(), rest]);
    assert!(read_by_head.status.success(), "a reader that stops early is no failure: {}", String::from_utf8_lossy(&read_by_head.stderr));
    let elsewhere = search(&out, rest, &["--repo", "other"]);
    assert!(elsewhere.status.success() && elsewhere.stdout.is_empty());
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("0 units searched"));

    // Another model's vectors are not compared with these; nor is a folder with no run.
    let other = search(&out, rest, &["--model", "synthetic:tiny-llama"]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && stderr.contains("synthetic:tiny-llama") && stderr.contains("content hash"), "{stderr}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let stderr = String::from_utf8_lossy(&search(&empty, rest, &[]).stderr).into_owned();
    assert!(stderr.contains("no finished run") && stderr.contains("empty"), "{stderr}");
    assert!(String::from_utf8_lossy(&search(&out, "  ", &[]).stderr).contains("the query is empty"));
}

#[test]
fn a_task_leaves_the_kinds_it_skips_alone_and_a_changed_choice_runs_or_drops_only_those() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 5);
    // Top-level code beside a definition is a `code` unit (a file of nothing else would be a `file`).
    std::fs::write(repo.join("settings.py"), "import os\n\nROOT = os.getcwd()\n\n\ndef root():\n    return ROOT\n").unwrap();
    let write = |docs: &str| {
        let text = format!(
            "[source]\nrepos = [\"{}\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
             [tasks.docs]\nmax_new_tokens = 4\n{docs}\n[tasks.review]\nmax_new_tokens = 4\nconstrained = false\nskip_kinds = [\"function\"]\n",
            repo.display()
        );
        std::fs::write(tmp.path().join("pipeline.toml"), text).unwrap();
        tmp.path().join("pipeline.toml")
    };
    let kinds = |task: &str| {
        let mut kinds = strings(&read_folder(&tmp.path().join("out").join(task)), "kind").into_iter().map(Option::unwrap).collect::<Vec<_>>();
        kinds.sort();
        kinds
    };

    // By default docs leave the top-level code alone; review skips what it is told to,
    // in place of its default (outlines), which it then reviews.
    let summary = run_ok(&write(""));
    assert_eq!(summary["units"], 8, "six functions, a code unit, the outline of the file of five");
    assert_eq!(counts(&summary)["docs"], [7, 0, 7, 0]);
    assert_eq!(kinds("docs"), [vec!["function"; 6], vec!["outline"]].concat());
    assert_eq!(counts(&summary)["review"], [2, 0, 2, 0]);
    assert_eq!(kinds("reviews"), vec!["code", "outline"]);

    // Asked for every kind, the next run runs the code unit only and carries the rest.
    let summary = run_ok(&write("skip_kinds = []"));
    assert_eq!(counts(&summary)["docs"], [8, 7, 1, 0]);
    assert_eq!(kinds("docs").iter().filter(|k| *k == "code").count(), 1);

    // Skipping more drops those rows, and runs nothing.
    let summary = run_ok(&write("skip_kinds = [\"code\", \"function\"]"));
    assert_eq!(counts(&summary)["docs"], [1, 1, 0, 0]);
    assert_eq!(kinds("docs"), ["outline"]);

    // A kind hearth does not have is refused, naming the key.
    let out = hearth(&["run", write("skip_kinds = [\"functions\"]").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("functions") && stderr.contains("skip_kinds"), "{stderr}");
}

#[test]
fn an_answer_that_does_not_parse_is_asked_for_again_as_often_as_retries_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 5);
    let write = |docs: &str| {
        let text = format!(
            "[source]\nrepos = [\"{}\"]\n[model]\nsource = \"synthetic:tiny\"\n[output]\ndir = \"out\"\n\
             [tasks.docs]\nmax_new_tokens = 4\n{docs}\n[tasks.review]\nmax_new_tokens = 4\n",
            repo.display()
        );
        std::fs::write(tmp.path().join("pipeline.toml"), text).unwrap();
        tmp.path().join("pipeline.toml")
    };
    let column = |task: &str, name: &str| u32s(&read_folder(&tmp.path().join("out").join(task)), name);

    // Random weights write no doc in four tokens; without retries each row keeps its
    // first answer and says why it could not be read.
    let summary = run_ok(&write(""));
    assert_eq!(counts(&summary)["docs"], [6, 0, 6, 0]);
    assert!(strings(&read_folder(&tmp.path().join("out/docs")), "parse_error").iter().all(Option::is_some));
    assert!(column("docs", "attempts").iter().all(|a| *a == Some(1)));
    let once = column("docs", "tokens_out");

    // Asked for two retries, the next run runs those units again (and only those: the
    // review is carried), each answer asked for three times, its row counting the
    // tokens of all three.
    let summary = run_ok(&write("retries = 2"));
    assert_eq!(counts(&summary)["docs"], [6, 0, 6, 0]);
    assert_eq!(counts(&summary)["review"], [5, 5, 0, 0], "the review is carried");
    let texts = strings(&read_folder(&tmp.path().join("out/docs")), "text");
    let (attempts, tokens) = (column("docs", "attempts"), column("docs", "tokens_out"));
    assert_eq!(attempts.len(), 6, "one row a unit: the retried rows supersede the first");
    for ((text, attempts), tokens) in texts.iter().zip(&attempts).zip(&tokens) {
        assert!(text.is_some() || *attempts == Some(3), "a row without a doc was asked for three times: {attempts:?}");
        assert!(tokens.unwrap() >= attempts.unwrap(), "every answer has a token at least");
    }
    assert!(attempts.contains(&Some(3)), "{attempts:?}");
    assert!(tokens.iter().flatten().sum::<u32>() > once.iter().flatten().sum::<u32>(), "{tokens:?} vs {once:?}");
    let docs_summary = summary["tasks"].as_array().unwrap().iter().find(|t| t["task"] == "docs").unwrap();
    assert_eq!(docs_summary["tokens_out"].as_u64().unwrap(), tokens.iter().map(|t| t.unwrap() as u64).sum::<u64>());
    let unread = texts.iter().filter(|t| t.is_none()).count() as u64;
    assert_eq!((docs_summary["retried"].as_u64(), docs_summary["unread"].as_u64()), (Some(6), Some(unread)), "{docs_summary}");
    assert_eq!(docs_summary["read_on_retry"].as_u64(), Some(6 - unread), "{docs_summary}");
    // A task that asks for no retries takes each first answer.
    assert!(column("reviews", "attempts").iter().all(|a| *a == Some(1)));
    // The part the retries wrote says so in its provenance.
    let retried = std::fs::read_dir(tmp.path().join("out/docs")).unwrap().map(|e| e.unwrap().path()).any(|part| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part).unwrap()).unwrap();
        let kv = reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
        kv.iter().any(|kv| kv.key == "hearth.retries" && kv.value.as_deref() == Some("2 at temperature 0.7"))
    });
    assert!(retried, "hearth.retries in a docs part's metadata");

    // Answers asked for as often as the retries allow are carried, and with fewer
    // retries too: a row once asked for stands.
    assert_eq!(counts(&run_ok(&write("retries = 2")))["docs"], [6, 6, 0, 0]);
    assert_eq!(counts(&run_ok(&write("")))["docs"], [6, 6, 0, 0]);
    assert_eq!(column("docs", "attempts"), attempts);
    // The dry run reads the rows as the run does: a third retry would ask again for
    // each unit still without a doc, and only those.
    assert_eq!(dry_run(&write("retries = 3"))["docs"][..3], [6, 6 - unread, unread]);

    // Retries that would write the same answer again, or too many, are refused by key.
    for (bad, says) in [("retries = 1\nretry_temperature = 0.0", "retry_temperature 0 must be finite and > 0"), ("retries = 9", "retries = 9: at most 8")] {
        let out = hearth(&["run", write(bad).to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(&format!("[tasks.docs] {says}")), "{stderr}");
    }
}

/// `hearth run --dry-run --json`: task → [units, carried, run, dropped, run_bytes]; the
/// same figures as the table a person reads.
fn dry_run(pipeline: &Path) -> BTreeMap<String, [u64; 5]> {
    let run = |json: &[&str]| {
        let run = hearth(&[&["run", pipeline.to_str().unwrap(), "--dry-run"], json].concat());
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        String::from_utf8(run.stdout).unwrap()
    };
    let previews: BTreeMap<String, [u64; 5]> = run(&["--json"])
        .lines()
        .map(|line| {
            let task: serde_json::Value = serde_json::from_str(line).unwrap();
            let n = |key: &str| task[key].as_u64().unwrap();
            (task["task"].as_str().unwrap().to_string(), [n("units"), n("carried"), n("run"), n("dropped"), n("run_bytes")])
        })
        .collect();
    let table = run(&[]);
    for (task, [units, carried, run, dropped, _]) in &previews {
        assert!(table.contains(&format!("{task:>6} {units:>7} {carried:>7} {run:>7} {dropped:>7}")), "{table}");
    }
    previews
}

#[test]
fn a_dry_run_says_what_the_run_will_do_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path(), 12);
    let pipeline = write_pipeline(tmp.path(), "repos = [\"repo\"]", "synthetic:tiny", 4, 2, 2);
    let out = tmp.path().join("out");
    // The run's folder, whole: its files and each task's (but the lock's note of who
    // held it last).
    let folder = || {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(".hearth-lock") {
                continue;
            } else if path.is_dir() {
                files.extend(snapshot(&path).into_iter().map(|(file, bytes)| (format!("{name}/{file}"), bytes)));
            } else {
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
        files
    };

    // Before any run all would run, and the output folder is not made.
    let before = dry_run(&pipeline);
    assert!(!out.exists());
    let first = run_ok(&pipeline);
    for (task, [units, carried, run, failed]) in counts(&first) {
        assert_eq!(before[&task][..4], [units, 0, run, 0], "{task}");
        assert_eq!((carried, failed), (0, 0));
    }

    // An edited function and a deleted file: said, and nothing in the folder changes.
    let file = repo.join("mod_1.py");
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("y = x * 7", "y = x * 70")).unwrap();
    std::fs::remove_file(repo.join("mod_2.py")).unwrap();
    let untouched = folder();
    let preview = dry_run(&pipeline);
    assert!(untouched == folder(), "a dry run writes nothing");
    // mod_2.py's two functions and its outline go; step_7 runs under a new key, its old row goes.
    assert_eq!(preview["docs"][..4], [12, 11, 1, 4], "{preview:?}");
    assert_eq!(preview["review"][..4], [10, 9, 1, 3], "outlines are not reviewed: {preview:?}");
    let next = run_ok(&pipeline);
    for task in next["tasks"].as_array().unwrap() {
        let n = |key: &str| task[key].as_u64().unwrap();
        assert_eq!(preview[task["task"].as_str().unwrap()][..4], [n("units"), n("carried"), n("run"), n("rows_dropped_stale")], "the run does what the dry run said: {task}");
    }
    // The code it would read is step_7's.
    let units = read_parquet(&out.join("units.parquet"));
    let names = strings(&units, "name");
    let bytes: Vec<u32> = units.iter().flat_map(|b| b.column_by_name("bytes").unwrap().as_primitive::<arrow_array::types::UInt32Type>().values().to_vec()).collect();
    let step_7 = names.iter().position(|name| name.as_deref() == Some("step_7")).unwrap();
    assert_eq!(preview["docs"][4], u64::from(bytes[step_7]), "{preview:?}");

    // A run going holds the folder: the dry run waits for nothing and says so.
    let lock = hearth::sink::OutputLock::acquire(&out, None).unwrap();
    let busy = hearth(&["run", pipeline.to_str().unwrap(), "--dry-run"]);
    assert!(!busy.status.success() && String::from_utf8_lossy(&busy.stderr).contains("another hearth run"), "{}", String::from_utf8_lossy(&busy.stderr));
    drop(lock);
}
