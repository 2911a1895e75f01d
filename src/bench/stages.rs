//! The walk and pipeline suites: the source stage alone, and a whole `hearth run`
//! against the engine alone on the same prompts (the pipeline's overhead).

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};

use super::{BenchResult, Better};
use crate::engine::{BatchConfig, BatchEngine, LoadOptions, Model, ModelSource};
use crate::job::{self, WalkInput};
use crate::pipeline::{Overrides, Pipeline};
use crate::run::{self, GenerationPlan, RunOptions, RunProgress};
use crate::source::{Language, UnitKind, WalkConfig, WalkStats};
use crate::tasks::{self, TaskKind};
use crate::{Error, Result};

/// Writes a seeded tree of `files` Python modules of `functions` functions each under
/// `dir`: the same bytes every time, so walk figures compare across runs.
pub fn synthetic_tree(dir: &Path, files: usize, functions: usize) -> Result<()> {
    for n in 0..files {
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        let mut text = format!("\"\"\"Module {n} of the benchmark tree.\"\"\"\nimport math\n\n");
        for f in 0..functions {
            let (k, limit, lines) = (rng.random_range(2..97), rng.random_range(10..1000), rng.random_range(2..12));
            text.push_str(&format!("\ndef step_{n}_{f}(a, b):\n    total = 0\n    for i in range(a):\n        total += (i * {k}) % (b + 1)\n"));
            for l in 0..lines {
                text.push_str(&format!("    total = total * {} + {l} if total < {limit} else total - {}\n", rng.random_range(1..9), rng.random_range(1..50)));
            }
            text.push_str(&format!("    return math.sqrt(abs(total)) if total > {limit} else total\n\n"));
        }
        let path = dir.join(format!("pkg{}", n / 100)).join(format!("module_{n}.py"));
        std::fs::create_dir_all(path.parent().expect("in a package")).map_err(|e| Error::io(&path, e))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Walks `tree` (made by [`synthetic_tree`]) into a scratch folder: MB/s, files/s, units/s.
pub fn walk(tree: &Path) -> Result<BenchResult> {
    let out = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let summary = job::walk(&[WalkInput::Repos(vec![tree.to_path_buf()])], &WalkConfig::default(), out.path(), &WalkStats::default(), None)?;
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    Ok(BenchResult::new("walk", "synthetic python tree")
        .with("mb_per_s", summary.bytes as f64 / 1e6 / seconds, "MB/s", Better::Higher)
        .with("files_per_s", summary.files as f64 / seconds, "files/s", Better::Higher)
        .with("units_per_s", summary.units as f64 / seconds, "units/s", Better::Higher)
        .with("units", summary.units as f64, "", Better::Info))
}

/// Units of the pipeline suite's repository: 4 modules of 4 functions.
const PIPELINE_FILES: usize = 4;
const PIPELINE_FUNCTIONS: usize = 4;
/// Generated tokens per unit at most.
const PIPELINE_NEW_TOKENS: usize = 32;

/// A docs run over a small seeded repository, end to end through [`run::run`] (walk,
/// prompts, workers, sink, telemetry), then the same prompts straight through one
/// batching engine. The overhead ratio is end-to-end tokens/s over engine-only
/// tokens/s; model loading is left out of both.
pub fn pipeline(model: &str, devices: &str, requantize: &str) -> Result<BenchResult> {
    let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let repo = scratch.path().join("repo");
    synthetic_tree(&repo, PIPELINE_FILES, PIPELINE_FUNCTIONS)?;
    let file = scratch.path().join("pipeline.toml");
    let toml = format!("[model]\nrequantize = \"{requantize}\"\n[output]\ndir = \"out\"\n[tasks.docs]\nmax_new_tokens = {PIPELINE_NEW_TOKENS}\n");
    std::fs::write(&file, toml).map_err(|e| Error::io(&file, e))?;
    let overrides = Overrides { repos: vec![repo], model: Some(model.to_string()), devices: Some(devices.to_string()), ..Overrides::default() };
    let pipeline = Pipeline::load(&file, &overrides)?;

    let summary = run::run(&pipeline, &RunOptions::default(), &RunProgress::default())?;
    let docs = summary.tasks.first().ok_or_else(|| Error::Config("the benchmark pipeline ran no task".into()))?;
    if docs.failed > 0 {
        return Err(Error::Request(format!("{} benchmark units failed", docs.failed)));
    }
    let pipeline_tok_s = docs.tokens_out as f64 / (summary.seconds - docs.load_seconds).max(1e-9);

    // The same prompts, in the same order, straight into one engine.
    let placement = crate::workers::parse_devices(devices)?.swap_remove(0);
    let options = LoadOptions { requantize: requantize.parse().map_err(Error::Config)?, ..LoadOptions::on(&placement)? };
    let loaded = Model::load(&model.parse::<ModelSource>()?, &options)?;
    let spec = pipeline.tasks.docs.as_ref().expect("the benchmark pipeline has a docs task");
    let (_, house_styles) = tasks::read_unit_keys(&job::units_path(&pipeline.output.dir, None), pipeline.chosen_house_styles().map_err(Error::Config)?)?;
    let plan = GenerationPlan::new(TaskKind::Docs, spec, &std::sync::Arc::new(house_styles))?;
    // The units the run's docs task ran on.
    let mut units = tasks::read_units(&job::units_path(&pipeline.output.dir, None))?;
    units.retain(|unit| UnitKind::from_name(&unit.kind).zip(Language::from_name(&unit.language)).is_some_and(|(kind, language)| plan.runs_on(kind, language, unit.documented)));
    let requests = units
        .iter()
        .enumerate()
        .map(|(i, unit)| plan.request(i as u64, &loaded, unit, 0).map_err(Error::Request))
        .collect::<Result<Vec<_>>>()?;
    let mut engine = BatchEngine::new(&loaded, BatchConfig::sized(&loaded, pipeline.engine))?;
    let started = Instant::now();
    let mut engine_tokens = 0;
    engine.run(requests, |c| engine_tokens += c.result.map_or(0, |o| o.tokens.len()))?;
    let engine_tok_s = engine_tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);

    Ok(BenchResult::new("pipeline", format!("docs over {} units @ {model}", units.len()))
        .with("pipeline_tok_s", pipeline_tok_s, "tok/s", Better::Higher)
        .with("engine_tok_s", engine_tok_s, "tok/s", Better::Higher)
        .with("overhead_ratio", pipeline_tok_s / engine_tok_s.max(1e-9), "x", Better::Higher)
        .with("pipeline_tokens", docs.tokens_out as f64, "", Better::Info)
        .with("engine_tokens", engine_tokens as f64, "", Better::Info))
}
