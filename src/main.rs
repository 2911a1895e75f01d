//! The `hearth` command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hearth::engine::{Limit, LoadOptions, Message, Model, ModelSource, Requantize, SamplingParams};
use hearth::job::{self, WalkInput, WalkSummary};
use hearth::pipeline::{Overrides, Pipeline};
use hearth::run::{RunOptions, RunProgress};
use hearth::shard::Shard;
use hearth::telemetry::{Telemetry, TelemetryStats};
use hearth::workers::Fault;
use hearth::source::{DatasetColumns, WalkConfig, WalkStats};
use indicatif::{ProgressBar, ProgressStyle};

/// A line to standard output or standard error. A reader that stops early (`hearth export
/// OUT | head -1`) closes its pipe, which is no failure of the command: its work is done or
/// goes on, and it exits as it would have, so the line goes nowhere. (`println!` panics
/// there.) Any other write error is the command's.
macro_rules! out {
    ($($arg:tt)*) => { line(std::io::stdout().lock(), format_args!($($arg)*)) };
}

/// [`out!`] for standard error: summaries and progress lines.
macro_rules! note {
    ($($arg:tt)*) => { line(std::io::stderr().lock(), format_args!($($arg)*)) };
}

fn line(mut to: impl Write, text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    match writeln!(to, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

#[derive(Parser)]
#[command(name = "hearth", version, about = "Local-LLM batch pipeline over whole codebases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: units through the docs, review and embed tasks into Parquet;
    /// resumable and incremental.
    Run(RunArgs),
    /// Walk repositories (or read a dataset) into code units: OUT/units.parquet and OUT/skipped.parquet.
    Walk(WalkArgs),
    /// Generate text from one prompt, for a quick look at a model; prints tokens/s.
    Generate(GenerateArgs),
    /// Throughput benchmarks: fixed workloads, JSON results with a fingerprint, a
    /// comparison with a baseline (exit 1 on a regression), llama.cpp side by side.
    Bench(BenchArgs),
    /// Run a pipeline again and again at full load for a duration, then judge the
    /// hardware by gates (temperature, drift, throttling, throughput stability).
    Soak(SoakArgs),
    /// Write OUT/report/index.html with PNG plots from a run's or soak's telemetry.
    Report(ReportArgs),
    /// Whether a model fits GPUs before they are bought or the model moved to them: each
    /// card's layers, weights and KV pool, the batch the engine would run and how many
    /// sequences fit at once. Reads headers only; exit 1 when it does not fit.
    Plan(PlanArgs),
    /// Write a finished run's documentation as Markdown pages and as a patch that adds the
    /// comments to the checkout, and its review findings as SARIF (GitHub code scanning,
    /// VS Code) and a Markdown digest, per repository.
    Export(ExportArgs),
    /// Find the units of a finished run nearest a question, by the embeddings its embed
    /// task wrote: the query is embedded by the same model, locally.
    Search(SearchArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// The pipeline whose work is the load.
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// How long: e.g. 90s, 2m, 12h (the run going at the end finishes).
    #[arg(long, value_parser = parse_duration)]
    duration: Duration,
    /// Pass/fail limits: max_temp=°C, max_drift=°C/h, max_throttle=share, max_tput_cv=ratio.
    /// A gate on a reading this machine cannot take fails as not measured.
    #[arg(long, default_value = "max_temp=85,max_drift=2,max_throttle=0.01,max_tput_cv=0.1")]
    gate: String,
    /// Print nothing but the verdict and errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// The output folder of a run or a soak.
    out: PathBuf,
}

#[derive(Args)]
struct PlanArgs {
    /// Take the model ([model] source, requantize, dtype), the [engine] limits and the
    /// longest answer (the generating tasks' max_new_tokens) from this pipeline; the
    /// flags given beside it win.
    #[arg(long, value_name = "FILE")]
    pipeline: Option<PathBuf>,
    /// A .gguf file, a Hugging Face directory, smollm2, or synthetic:<preset>
    /// [default: the pipeline's, else synthetic:qwen2.5-coder-32b].
    #[arg(long, value_name = "SRC")]
    model: Option<String>,
    /// The cards, in layer order, comma-separated: names (rtx3090, p40, h100…) or sizes
    /// (24GiB, 11GiB@7.5 with the compute capability), each optionally repeated (2xrtx3090);
    /// cpu once among them for the host's memory beside the cards, a card's layers then
    /// fixed as --devices fixes them (rtx3060=40,cpu).
    #[arg(long, value_name = "CARDS")]
    gpu: String,
    /// Weight matrices: auto (as stored, on a GPU), keep, q8_0, q4_0, q4k, q6k, f16 or f32;
    /// a checkpoint's or synthetic preset's floats are quantized to the block formats
    /// among these [default: the pipeline's, else auto].
    #[arg(long)]
    requantize: Option<Requantize>,
    /// Activations and dense weights: auto (bf16, f16 before Ampere, f32 on P40-class
    /// cards), f32, bf16 or f16; f32 also keeps the host's KV cache in f32, else f16
    /// [default: the pipeline's, else auto].
    #[arg(long)]
    dtype: Option<hearth::engine::Precision>,
    /// Tokens of a prompt.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens generated for it [default: the pipeline's longest, else 256].
    #[arg(long)]
    new_tokens: Option<usize>,
    /// Sequences one step carries at most: a number or auto [default: the pipeline's, else auto].
    #[arg(long)]
    max_seqs: Option<Limit>,
    /// Tokens one step carries at most: a number or auto [default: the pipeline's, else auto].
    #[arg(long)]
    max_batched_tokens: Option<Limit>,
    /// The KV pool in MiB, or auto [default: the pipeline's, else auto].
    #[arg(long, value_name = "MIB")]
    kv_memory: Option<Limit>,
}

#[derive(Args)]
struct ExportArgs {
    /// The output folder of a finished run.
    out: PathBuf,
    /// Where to write (replaced whole, so new, empty, or an earlier export) [default: OUT/export].
    #[arg(long)]
    to: Option<PathBuf>,
}

#[derive(Args)]
struct SearchArgs {
    /// The output folder of a finished run with an embed task.
    out: PathBuf,
    /// What to look for, in words or code.
    query: String,
    /// How many units to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Only units of this repository.
    #[arg(long)]
    repo: Option<String>,
    /// Only units of this language (rust, python, …).
    #[arg(long)]
    language: Option<String>,
    /// The model that made the embeddings, where it is now [default: the one the run recorded].
    #[arg(long)]
    model: Option<String>,
    /// Where the query is embedded: auto (the first CUDA GPU, else the CPU), cpu, cuda:0.
    #[arg(long, default_value = "auto")]
    device: String,
    /// One JSON object a line instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len()));
    let n: f64 = number.parse().map_err(|_| format!("`{text}`: expected a number and s, m or h, e.g. 12h"))?;
    let seconds = match unit {
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{text}`: the unit is s, m or h")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SuiteArg {
    /// engine, walk and pipeline.
    All,
    /// Engine workloads (prefill-heavy, decode-heavy, shared-prefix, ragged; or a
    /// --concurrency sweep) on each model.
    Engine,
    /// The source stage over a seeded tree.
    Walk,
    /// A whole docs run against the engine alone on the same prompts (the overhead), on
    /// the first model.
    Pipeline,
}

#[derive(Args)]
struct BenchArgs {
    /// Which suite.
    #[arg(value_enum, default_value = "all")]
    suite: SuiteArg,
    /// Model sources (comma-separated): a .gguf, a Hugging Face directory, smollm2, or
    /// synthetic:<preset>[:layers=N].
    #[arg(long, value_delimiter = ',', default_value = "smollm2,synthetic:qwen2.5-coder-0.5b:layers=4")]
    model: Vec<String>,
    /// Instead of the standard engine workloads, N requests all at once for each N here.
    #[arg(long, value_delimiter = ',')]
    concurrency: Option<Vec<usize>>,
    /// Prompt tokens per request of a --concurrency sweep.
    #[arg(long, default_value_t = 50)]
    prompt_tokens: usize,
    /// Generated tokens per request of a --concurrency sweep (EOS ignored).
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// Runs of each workload; each figure is the median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// cpu, or cuda:N with the `cuda` feature; cuda:0+cuda:1 splits the model's layers
    /// across both cards, cuda:0+cpu holds on the host those the card leaves (cuda:0=40+cpu:
    /// the card's 40).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Weight matrices: auto, keep, q8_0, q4_0, q4k, q6k, f16 or f32; a checkpoint's or
    /// synthetic preset's floats are quantized to the block formats among these.
    #[arg(long, default_value = "auto")]
    requantize: String,
    /// The engine suite's attention: auto, host, gathered or flash (see `generate --help`).
    #[arg(long, default_value = "auto")]
    attention: hearth::engine::AttentionBackend,
    /// Activations and dense weights: auto (f32 on CPU; on a GPU bf16, f16 before
    /// Ampere, f32 on P40-class cards), f32, bf16 or f16; f32 also keeps the host's KV
    /// cache in f32, else f16.
    #[arg(long, default_value = "auto")]
    dtype: hearth::engine::Precision,
    /// Tokens one engine step carries at most, for every workload (both engines)
    /// [default: each workload's own; a sweep's is all its prompts at once].
    #[arg(long, value_name = "N")]
    max_batched_tokens: Option<usize>,
    /// KV pool in MiB, or `auto`: on a GPU as much as its free memory allows, on the
    /// CPU 1024.
    #[arg(long, value_name = "MIB", default_value_t = Limit::Auto)]
    kv_memory: Limit,
    /// Run the engine workloads through a peer too, with the same prompts, and report
    /// hearth/peer: llama.cpp (on GGUF models: the same file) or transformers (on
    /// synthetic presets and Hugging Face directories: the same shapes, device and dtype).
    #[arg(long)]
    peer: Option<hearth::bench::peer::Peer>,
    /// The peer's Python [default: for llama.cpp <cache>/peer-venv/bin/python, which
    /// scripts/bench.sh makes; for transformers python3].
    #[arg(long)]
    peer_python: Option<PathBuf>,
    /// Write the results (JSON, with the fingerprint) here.
    #[arg(long, visible_alias = "json", value_name = "FILE")]
    save: Option<PathBuf>,
    /// Sample the device's sensors (NVML on a GPU; sysfs/RAPL on the CPU) every second
    /// while the benchmark runs, write the samples here (Parquet, as a run's
    /// telemetry.parquet) and print their summary.
    #[arg(long, value_name = "FILE")]
    telemetry: Option<PathBuf>,
    /// Compare with this earlier --save; exit 1 when a figure is worse by more than
    /// --tolerance, and (where both were repeated) every run worse than every baseline run.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// How much worse a figure may get, in percent, before it counts as a regression:
    /// 10 lets a throughput fall to old/1.1 and a latency rise to old×1.1.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    tolerance: f64,
    /// Files in the walk suite's tree.
    #[arg(long, default_value_t = 2000)]
    walk_files: usize,
}

#[derive(Args)]
struct GenerateArgs {
    /// A Hugging Face model directory, a .gguf file, or synthetic:<preset>[:layers=N].
    #[arg(long, value_name = "SRC")]
    model: String,
    /// The user message (wrapped in the model's chat template unless --raw).
    #[arg(long)]
    prompt: String,
    /// A system message to put before the prompt.
    #[arg(long)]
    system: Option<String>,
    /// Feed the prompt to the model as is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// Generated tokens at most.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// 0 samples greedily.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample among the most likely tokens covering this probability.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Subtract this from the logits of the tokens the text has produced (−2 to 2; 0 = off).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    presence_penalty: f32,
    /// Subtract this from a produced token's logits once for each time it came (−2 to 2; 0 = off).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    frequency_penalty: f32,
    /// Divide the positive logits of the tokens the prompt holds or the text has produced
    /// by this, and multiply the negative ones (> 0; 1 = off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the text contains this (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Only generate JSON that this JSON schema (a file) allows.
    #[arg(long, value_name = "FILE")]
    json_schema: Option<PathBuf>,
    /// cpu, or cuda:N with the `cuda` feature; cuda:0+cuda:1 splits the model's layers
    /// across both cards, cuda:0+cpu holds on the host those the card leaves (cuda:0=40+cpu:
    /// the card's 40).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// What reads the KV cache: auto (host on the CPU; on a GPU flash where the build,
    /// card and dtype allow it, else gathered), host, gathered or flash.
    #[arg(long, default_value = "auto")]
    attention: hearth::engine::AttentionBackend,
    /// Weight matrices: auto (a GGUF's on CPU: Q4_0/Q4_1, and Q4_K where the CPU has VNNI,
    /// on hearth's batched 4-bit kernel, Q8_0/Q5_x and other K-quants up to 4B parameters
    /// on its Q8_0 one), keep, q8_0, q4_0, q4k,
    /// q6k, f16 or f32; a checkpoint's or synthetic preset's floats are quantized to the
    /// block formats among these.
    #[arg(long, default_value = "auto")]
    requantize: Requantize,
    /// Activations and dense weights: auto (f32 on CPU; on a GPU bf16, f16 before Ampere,
    /// f32 on P40-class cards), f32, bf16 or f16. f32 on both devices (the host's KV
    /// cache too, else f16) is how a GPU run is checked against the CPU's.
    #[arg(long, default_value = "auto")]
    dtype: hearth::engine::Precision,
    /// Print the generated token ids, one line, instead of the text (for comparing runs).
    #[arg(long)]
    ids: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Run only shard i of N (units split by unit-id hash) [default: from
    /// SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --num-shards].
    #[arg(long, value_name = "i/N")]
    shard: Option<hearth::shard::Shard>,
    /// Shards of a Kubernetes indexed job (its completions); the index is JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N")]
    num_shards: Option<usize>,
    /// Print nothing but errors (for cron).
    #[arg(long, short)]
    quiet: bool,
    /// Walk the sources and hold each task's units against the output folder's rows:
    /// print what a run would run, carry and drop, and stop. Loads no model and writes
    /// nothing to the output folder.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: one JSON object a line, a task's each, for scripts (a nightly
    /// job that wakes its GPUs only when there is work).
    #[arg(long, requires = "dry_run")]
    json: bool,
    /// With --dry-run: print what each task would give the units at PATH (the file's path
    /// in its repository, or a tail of it) or PATH:LINE (those holding the line): the
    /// system and user messages, before the model's chat template, or the text embedded.
    #[arg(long, requires = "dry_run", value_name = "PATH[:LINE]")]
    prompt: Option<hearth::run::UnitPlace>,
}

/// A pipeline file and what the command line replaces in it.
#[derive(Args)]
struct PipelineArgs {
    /// The pipeline file (TOML), e.g. pipelines/docs.toml.
    pipeline: PathBuf,
    /// Walk this repository instead of the pipeline's sources (repeatable).
    #[arg(long, value_name = "PATH")]
    repo: Vec<PathBuf>,
    /// Read this dataset instead of the pipeline's sources (repeatable).
    #[arg(long, value_name = "FILE")]
    dataset: Vec<PathBuf>,
    /// Output folder instead of the pipeline's.
    #[arg(long, short, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Model instead of the pipeline's [model] source.
    #[arg(long, value_name = "SRC")]
    model: Option<String>,
    /// Workers, one per entry: auto (every CUDA GPU, else the CPU), cuda:0,cuda:1, cpu,
    /// cpu,cpu (CPU workers splitting the cores), cuda:0+cuda:1 (one worker, the model's
    /// layers split across both cards), or cuda:0+cpu (the layers the card leaves on the
    /// host; cuda:0=40+cpu: the card's 40) [default: the pipeline's, else auto].
    #[arg(long, value_name = "LIST")]
    devices: Option<String>,
}

impl PipelineArgs {
    fn load(&self) -> anyhow::Result<Pipeline> {
        let overrides = Overrides {
            repos: self.repo.clone(),
            datasets: self.dataset.clone(),
            out: self.out.clone(),
            model: self.model.clone(),
            devices: self.devices.clone(),
        };
        Ok(Pipeline::load(&self.pipeline, &overrides)?)
    }
}

#[derive(Args)]
struct WalkArgs {
    /// Repository roots to walk.
    #[arg(required_unless_present = "dataset", conflicts_with = "dataset")]
    paths: Vec<PathBuf>,
    /// Read a Parquet or JSONL dataset of code instead of walking repositories.
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Dataset column holding the file path [default: `path`, or The Stack's `max_stars_repo_path`].
    #[arg(long, default_value = "path", hide_default_value = true, requires = "dataset")]
    path_column: String,
    /// Dataset column holding the file content [default: `content`, or github-code's `code`].
    #[arg(long, default_value = "content", hide_default_value = true, requires = "dataset")]
    content_column: String,
    /// Dataset column holding the repository name [default: `repo`, `repo_name` or `max_stars_repo_name` if present, else the file stem].
    #[arg(long, requires = "dataset")]
    repo_column: Option<String>,
    /// Dataset column holding the language [default: `language` or `lang` if present, else detected].
    #[arg(long, requires = "dataset")]
    language_column: Option<String>,
    /// Only use paths matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Skip paths matching this glob (repeatable); they are recorded as excluded.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Skip files larger than this many bytes.
    #[arg(long, default_value_t = WalkConfig::default().max_file_bytes)]
    max_file_bytes: u64,
    /// Split units larger than this many bytes at line boundaries.
    #[arg(long, default_value_t = WalkConfig::default().max_unit_bytes)]
    max_unit_bytes: usize,
    /// Follow symbolic links, also out of the repository (loop-safe).
    #[arg(long)]
    follow_links: bool,
    /// Walk hidden files and directories too.
    #[arg(long)]
    hidden: bool,
    /// Ignore .gitignore, .ignore and git's exclude files.
    #[arg(long)]
    no_ignore: bool,
    /// Keep files a tool wrote (lock files, generators' output, minified bundles),
    /// dependencies (vendor/, node_modules/, …) and what .gitattributes marks
    /// linguist-generated or linguist-vendored.
    #[arg(long)]
    keep_generated: bool,
    /// Worker threads [default: one per core].
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print nothing but errors (for cron).
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEARTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Walk(args) => walk(args),
        Command::Generate(args) => generate(args),
        Command::Bench(args) => bench(args),
        Command::Soak(args) => soak(args),
        Command::Report(args) => report(args),
        Command::Export(args) => export(args),
        Command::Search(args) => search(args),
        Command::Plan(args) => match plan(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Nowhere left to say it if standard error is closed too; the exit status still does.
            let _ = note!("hearth: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let pipeline = args.pipeline.load()?;
    let options = RunOptions {
        shard: Shard::resolve(args.shard, args.num_shards, |name| std::env::var(name).ok())?,
        fault: Fault::from_env()?,
        ..RunOptions::default()
    };
    if args.dry_run {
        let preview = hearth::run::preview(&pipeline, options.shard, args.prompt.as_ref()).with_context(|| format!("dry run of {} failed", args.pipeline.pipeline.display()))?;
        let (walk, tasks, house_styles) = (&preview.walk, &preview.tasks, &preview.house_styles);
        if args.json {
            for task in tasks {
                out!("{}", serde_json::to_string(task).expect("plain struct"))?;
            }
            for (language, style) in house_styles.chosen() {
                out!("{}", serde_json::json!({ "house_style": { "repo": null, "language": language.name(), "style": style.name(), "chosen": true } }))?;
            }
            for (repo, language, style) in house_styles.all() {
                out!("{}", serde_json::json!({ "house_style": { "repo": repo, "language": language.name(), "style": style.name(), "chosen": false } }))?;
            }
            for prompt in &preview.prompts {
                out!("{}", serde_json::json!({ "prompt": prompt }))?;
            }
            return Ok(());
        }
        let stale = match walk.stale_docs {
            0 => String::new(),
            n => format!(", {n} whose doc's parameters no longer match their code's"),
        };
        out!("{} units of {} ({} files skipped{stale}) in the sources; a run into {} would:", walk.units, repositories(walk.repositories), walk.skipped, pipeline.output.dir.display())?;
        out!("{:>6} {:>7} {:>7} {:>7} {:>7} {:>10}", "task", "units", "carry", "run", "drop", "code run")?;
        for t in tasks {
            out!("{:>6} {:>7} {:>7} {:>7} {:>7} {:>10}", t.task, t.units, t.carried, t.run, t.dropped, format!("{:.1} KiB", t.run_bytes as f64 / 1024.0))?;
        }
        for (language, style) in house_styles.chosen() {
            out!("docs in every {} function: {} (the pipeline's choice)", language.name(), style.words())?;
        }
        for (repo, language, style) in house_styles.all() {
            out!("docs in {repo}'s {} functions: {}", language.name(), style.words())?;
        }
        for p in &preview.prompts {
            let unit = format!("{}/{}:{}-{} {}{}", p.repo, p.path, p.start_line, p.end_line, p.kind, p.name.as_deref().map(|name| format!(" {name}")).unwrap_or_default());
            if let Some(why) = &p.passed_over {
                out!("\n── {} leaves {unit} alone: {why}", p.task)?;
                continue;
            }
            let room = match (p.answer_room(), p.max_new_tokens) {
                (Some(room), Some(wanted)) => format!(": room for {room} of its answer's max_new_tokens = {wanted}, so a longer answer is cut off"),
                _ => String::new(),
            };
            let tokens = match (p.prompt_tokens, p.max_context) {
                (Some(tokens), Some(context)) => format!(" ({tokens} tokens of a {context}-token context{room})"),
                _ => String::new(),
            };
            out!("\n── {} of {unit}{tokens} ──", p.task)?;
            if let Some(system) = &p.system {
                out!("system: {system}\nuser:")?;
            }
            out!("{}", p.text.as_deref().unwrap_or_default())?;
            if let Some(opening) = &p.answer_opening {
                out!("assistant (begun for the model): {opening}")?;
            }
        }
        return Ok(());
    }
    let progress = RunProgress::default();
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        let style = "{prefix:>6} [{elapsed_precise}] {wide_bar} {pos}/{len} units, {msg}, ETA {eta}";
        bar.set_style(ProgressStyle::with_template(style).expect("a valid template"));
        bar
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let summary = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut task_started = (String::new(), std::time::Instant::now());
            while !done.load(Ordering::Relaxed) {
                let task = progress.task.lock().map(|t| t.to_string()).unwrap_or_default();
                if task != task_started.0 {
                    task_started = (task.clone(), std::time::Instant::now());
                    bar.reset();
                }
                let tokens = progress.tokens.load(Ordering::Relaxed) as f64;
                bar.set_prefix(task);
                bar.set_length(progress.units_total.load(Ordering::Relaxed));
                bar.set_position(progress.units_done.load(Ordering::Relaxed));
                bar.set_message(format!("{:.0} tok/s", tokens / task_started.1.elapsed().as_secs_f64().max(1e-3)));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let summary = hearth::run::run(&pipeline, &options, &progress);
        done.store(true, Ordering::Relaxed);
        summary
    });
    bar.finish_and_clear();
    let summary = summary.with_context(|| format!("run of {} failed", args.pipeline.pipeline.display()))?;
    let out = &pipeline.output.dir;
    if !args.quiet {
        note!("{} units of {} ({} files skipped), walked in {:.2}s", summary.units, repositories(summary.repositories), summary.skipped, summary.walk_seconds)?;
        note!("{:>6} {:>7} {:>7} {:>7} {:>7} {:>10} {:>10} {:>8}", "task", "units", "carried", "run", "failed", "tokens in", "tokens out", "seconds")?;
        for t in &summary.tasks {
            note!(
                "{:>6} {:>7} {:>7} {:>7} {:>7} {:>10} {:>10} {:>8.2}",
                t.task, t.units, t.carried, t.run, t.failed, t.tokens_in, t.tokens_out, t.seconds
            )?;
        }
        for t in &summary.tasks {
            if let Some(n) = t.documented_in_source.filter(|&n| n > 0) {
                note!("{:>6} left {n} units alone: the source documents them (skip_documented = false documents them again)", t.task)?;
            }
            if t.unread > 0 || t.retried > 0 {
                let (what, answered) = (if t.task == "docs" { "docs" } else { "findings" }, t.run - t.failed);
                let retried = if t.retried > 0 { format!(" ({} on a retry, of {} units asked again)", t.read_on_retry, t.retried) } else { String::new() };
                note!("{:>6} read {} of {answered} answers as {what}{retried}; {} could not be (their rows' parse_error says why)", t.task, answered - t.unread, t.unread)?;
            }
            if t.task == "docs" && summary.stale_docs > 0 {
                note!("{:>6} ran on the {} units whose doc's parameters no longer match their code's: `hearth export` writes their new docs in place of the old", t.task, summary.stale_docs)?;
            }
        }
        for t in summary.tasks.iter().filter(|t| t.workers.len() > 1 || t.workers.iter().any(|w| w.failures > 0 || w.shrinks > 0)) {
            note!("{:>6} {:>8} {:>7} {:>10} {:>8} {:>6} {:>10} {:>8} {:>7}", t.task, "device", "units", "tokens", "tok/s", "busy", "energy", "failures", "shrinks")?;
            for w in &t.workers {
                note!(
                    "{:>6} {:>8} {:>7} {:>10} {:>8.1} {:>5.0}% {:>10} {:>8} {:>7}{}",
                    "", w.device, w.units, w.tokens, w.tokens_per_s, 100.0 * w.busy_fraction, w.energy_j.map_or("-".to_string(), |j| format!("{j:.1} J")), w.failures, w.shrinks,
                    w.retired.as_ref().map(|r| format!("  retired: {r}")).unwrap_or_default()
                )?;
            }
        }
        print_telemetry(&summary.telemetry)?;
        note!("wrote {} in {:.1}s", out.display(), summary.seconds)?;
    }
    let failed = summary.failed();
    if failed > 0 {
        anyhow::bail!("{failed} units failed; their error rows are in {}", out.display());
    }
    Ok(())
}

/// A statistic with its unit, or "not measured" where no sample had the reading.
fn measured(v: Option<f64>, unit: &str) -> String {
    v.map_or("not measured".to_string(), |v| format!("{v:.2}{unit}"))
}

/// What one device's sensors showed, on one line: a run's, a soak's and a benchmark's.
fn device_summary(d: &hearth::telemetry::stats::DeviceStats) -> String {
    let temp = d.temperature_c.map_or("temperature not measured".to_string(), |s| {
        format!("{:.1}–{:.1} °C (mean {:.1}, p95 {:.1})", s.min, s.max, s.mean, s.p95)
    });
    let power = d.power_w.map_or("not measured".to_string(), |p| format!("mean {:.1} W, max {:.1} W", p.mean, p.max));
    format!(
        "{temp}; drift {}; throttled {}; power {power}; energy {}; utilisation {}; guard pauses {}",
        measured(d.drift_c_per_h, " °C/h"),
        measured(d.throttled_share.map(|s| 100.0 * s), " %"),
        measured(d.energy_j, " J"),
        measured(d.utilization.map(|u| 100.0 * u), " %"),
        d.guard_pauses
    )
}

fn print_telemetry(t: &TelemetryStats) -> std::io::Result<()> {
    for d in &t.devices {
        note!("{:>6}: {}", d.device, device_summary(d))?;
    }
    // A run shorter than the warm-up and one window has no windowed rate; its whole
    // span still has one, which a short run (the README's main job) should show.
    let rate = match t.tokens_per_s {
        Some(rate) => format!("{:.2} (CV {})", rate.mean, measured(t.tokens_per_s_cv, "")),
        None if t.tokens > 0 && t.seconds > 0.0 => format!("{:.2} over the whole run, too short for a window after the warm-up (no CV)", t.tokens as f64 / t.seconds),
        None => "not measured (CV not measured)".to_string(),
    };
    note!(
        "tokens/s {rate}; {} J/token; {} per million tokens",
        measured(t.joules_per_token, ""),
        measured(t.cost_per_million_tokens, ""),
    )
}

fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let gates = hearth::telemetry::stats::parse_gates(&args.gate)?;
    let pipeline = args.pipeline.load()?;
    let out = pipeline.output.dir.clone();
    let devices = hearth::workers::parse_devices(&pipeline.model.devices)?;
    let telemetry = Telemetry::new(&devices, pipeline.telemetry.clone());
    let progress = RunProgress::default();
    let started = std::time::Instant::now();
    let (mut iterations, mut units_run, mut units_failed) = (0u64, 0u64, 0u64);
    let mut load_seconds = Vec::new();
    let models = hearth::run::ModelCache::default();
    let outcome = telemetry.while_sampling(|| -> anyhow::Result<()> {
        while iterations == 0 || started.elapsed() < args.duration {
            let options = RunOptions { rerun: true, telemetry: Some(&telemetry), models: Some(&models), fault: Fault::from_env()?, ..RunOptions::default() };
            let summary = hearth::run::run(&pipeline, &options, &progress)?;
            iterations += 1;
            units_run += summary.tasks.iter().map(|t| t.run).sum::<u64>();
            units_failed += summary.failed();
            load_seconds.push(summary.tasks.iter().map(|t| t.load_seconds).sum::<f64>());
            if !args.quiet {
                note!("soak: pass {iterations} done at {:.0}s of {:.0}s", started.elapsed().as_secs_f64(), args.duration.as_secs_f64())?;
            }
        }
        Ok(())
    })?;
    let stats = telemetry.stats();
    let mut results = hearth::telemetry::stats::judge(&stats, &gates);
    if let Err(e) = &outcome {
        results.push(hearth::telemetry::stats::GateResult { gate: "run".into(), limit: 0.0, value: None, pass: false, reason: format!("the workload failed: {e:#}") });
    } else if units_failed > 0 {
        results.push(hearth::telemetry::stats::GateResult { gate: "units".into(), limit: 0.0, value: Some(units_failed as f64), pass: false, reason: format!("{units_failed} of {units_run} units failed") });
    }
    let pass = results.iter().all(|r| r.pass);
    telemetry.write(&out.join(hearth::telemetry::TELEMETRY_FILE), &[])?;
    let report = serde_json::json!({
        "pass": pass,
        "gates": results,
        "duration_s": started.elapsed().as_secs_f64(),
        "passes": iterations,
        "load_seconds_per_pass": load_seconds,
        "units_run": units_run,
        "units_failed": units_failed,
        "telemetry": stats,
    });
    let soak_file = out.join(SOAK_FILE);
    std::fs::write(&soak_file, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", soak_file.display()))?;
    let index = hearth::telemetry::report::write(&out, Some(stats.clone()), &results)?;
    if !args.quiet {
        print_telemetry(&stats)?;
    }
    for r in &results {
        note!("{} {}: {}", if r.pass { "pass" } else { "FAIL" }, r.gate, r.reason)?;
    }
    note!("soak {}: {} and {}", if pass { "PASSED" } else { "FAILED" }, soak_file.display(), index.display())?;
    if !pass {
        anyhow::bail!("the soak failed its gates");
    }
    Ok(())
}

/// Where `hearth soak` writes its verdict.
const SOAK_FILE: &str = "soak.json";

fn report(args: ReportArgs) -> anyhow::Result<()> {
    // A soak's verdict if there is one, else the run's summary, else the samples alone.
    let read = |name: &str| -> Option<serde_json::Value> { serde_json::from_str(&std::fs::read_to_string(args.out.join(name)).ok()?).ok() };
    let (stats, gates) = match read(SOAK_FILE).or_else(|| read(hearth::run::SUCCESS_FILE)) {
        Some(v) => (
            serde_json::from_value(v["telemetry"].clone()).ok(),
            serde_json::from_value(v["gates"].clone()).unwrap_or_default(),
        ),
        None => (None, Vec::new()),
    };
    let index = hearth::telemetry::report::write(&args.out, stats, &gates)?;
    out!("{}", index.display())?;
    Ok(())
}

/// Prints the plan; whether the model fits.
fn plan(args: PlanArgs) -> anyhow::Result<bool> {
    let pipeline = args.pipeline.as_deref().map(|p| Pipeline::load(p, &Overrides::default())).transpose()?;
    let model = pipeline.as_ref().map(|p| &p.model);
    let source: ModelSource = match (&args.model, model) {
        (Some(given), _) => given.parse()?,
        (None, Some(model)) => model.source.parse()?,
        (None, None) => "synthetic:qwen2.5-coder-32b".parse()?,
    };
    // The pipeline validated these when it loaded.
    let requantize = args.requantize.or_else(|| model.and_then(|m| m.requantize.parse().ok())).unwrap_or_default();
    let dtype = args.dtype.or_else(|| model.and_then(|m| m.dtype.parse().ok())).unwrap_or_default();
    let engine = pipeline.as_ref().map(|p| p.engine).unwrap_or_default();
    let options = hearth::engine::EngineOptions {
        max_seqs: args.max_seqs.unwrap_or(engine.max_seqs),
        max_batched_tokens: args.max_batched_tokens.unwrap_or(engine.max_batched_tokens),
        kv_memory_mib: args.kv_memory.unwrap_or(engine.kv_memory_mib),
        attention: hearth::engine::AttentionBackend::Gathered,
    };
    let longest_answer = pipeline.as_ref().and_then(|p| [&p.tasks.docs, &p.tasks.review].into_iter().flatten().map(|t| t.max_new_tokens).max());
    let sequence = args.prompt_tokens + args.new_tokens.or(longest_answer).unwrap_or(256);
    let cards = hearth::engine::fit::Card::parse_list(&args.gpu)?;
    let fit = hearth::engine::fit::fit(&source, requantize, dtype, &cards, options, sequence)?;
    out!("{source} on {}\n{fit}", args.gpu)?;
    Ok(fit.fits())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let to = args.to.unwrap_or_else(|| args.out.join("export"));
    let summary = hearth::export::export(&args.out, &to)?;
    out!(
        "repositories: {}, documentation pages: {}, comments in docs.patch: {}, findings: {}, stale docs: {}, units without a usable answer: {}, docs naming parameters otherwise than asked: {}",
        summary.repos, summary.doc_pages, summary.doc_comments, summary.findings, summary.stale_docs, summary.unanswered, summary.off_house_style
    )?;
    out!("{}", to.join("index.md").display())?;
    Ok(())
}

fn search(args: SearchArgs) -> anyhow::Result<()> {
    let device = hearth::workers::parse_devices(&args.device)?.into_iter().next().context("--device names no device")?;
    let options = hearth::search::SearchOptions { top: args.top, model: args.model, device, repo: args.repo, language: args.language };
    let found = hearth::search::search(&args.out, &args.query, &options)?;
    for (rank, hit) in found.hits.iter().enumerate() {
        let p = &hit.place;
        if args.json {
            let line = serde_json::json!({
                "rank": rank + 1, "score": hit.score, "unit_id": p.unit_id, "repo": p.repo, "path": p.path,
                "language": p.language, "kind": p.kind, "name": p.name, "parent": p.parent,
                "start_line": p.start_line, "end_line": p.end_line,
            });
            out!("{line}")?;
        } else {
            // The parent is in the language's own notation, so it is named, not joined.
            let name = match (&p.name, &p.parent) {
                (Some(name), Some(parent)) => format!(" {name} in {parent}"),
                (Some(name), None) => format!(" {name}"),
                _ => String::new(),
            };
            out!("{:>3}  {:.4}  {}  {}{name}", rank + 1, hit.score, hearth::search::location(p), p.kind)?;
        }
    }
    note!(
        "{} units searched ({} without a vector) with {} (loaded in {:.1}s)",
        found.searched,
        found.without_vector,
        found.model,
        found.load.as_secs_f64()
    )?;
    Ok(())
}

fn walk(args: WalkArgs) -> anyhow::Result<()> {
    let config = WalkConfig {
        max_file_bytes: args.max_file_bytes,
        max_unit_bytes: args.max_unit_bytes,
        include: args.include,
        exclude: args.exclude,
        follow_links: args.follow_links,
        hidden: args.hidden,
        respect_ignore_files: !args.no_ignore,
        threads: args.threads,
        keep_generated: args.keep_generated,
    };
    let input = match args.dataset {
        Some(file) => WalkInput::Dataset {
            file,
            columns: DatasetColumns {
                path: args.path_column,
                content: args.content_column,
                repo: args.repo_column,
                language: args.language_column,
            },
        },
        None => WalkInput::Repos(args.paths),
    };
    let stats = WalkStats::default();
    let progress = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").expect("a valid template"));
        bar
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let _lock = hearth::sink::OutputLock::acquire(&args.out, None)?;
    let summary = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                progress.set_message(format!(
                    "{} files, {:.1} MiB, {} units, {} skipped",
                    stats.files.load(Ordering::Relaxed),
                    stats.bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
                    stats.units.load(Ordering::Relaxed),
                    stats.skipped.load(Ordering::Relaxed),
                ));
                progress.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let summary = job::walk(std::slice::from_ref(&input), &config, &args.out, &stats, None);
        done.store(true, Ordering::Relaxed);
        summary
    });
    progress.finish_and_clear();
    let summary = summary.with_context(|| format!("walk into {} failed", args.out.display()))?;
    if !args.quiet {
        print_summary(&summary, &args.out)?;
    }
    Ok(())
}

/// `n repositories`, or `1 repository`.
fn repositories(n: u64) -> String {
    match n {
        1 => "1 repository".to_string(),
        n => format!("{n} repositories"),
    }
}

fn print_summary(summary: &WalkSummary, out: &std::path::Path) -> std::io::Result<()> {
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    note!(
        "{} units of {} ({} documented in the source{}) from {} files ({:.1} MiB) in {:.2}s: {:.1} MB/s, {:.0} units/s",
        summary.units,
        repositories(summary.repositories),
        summary.documented,
        match summary.stale_docs {
            0 => String::new(),
            n => format!(", {n} of those docs no longer match their code's parameters"),
        },
        summary.files,
        summary.bytes as f64 / (1024.0 * 1024.0),
        seconds,
        summary.bytes as f64 / 1e6 / seconds,
        summary.units as f64 / seconds,
    )?;
    if summary.skipped > 0 {
        let reasons: Vec<String> = summary.skipped_by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
        note!("{} skipped: {}", summary.skipped, reasons.join(", "))?;
    }
    note!("wrote {} and {}", out.join(job::UNITS_FILE).display(), out.join(job::SKIPPED_FILE).display())
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let source: ModelSource = args.model.parse()?;
    let options = LoadOptions { requantize: args.requantize, dtype: args.dtype.dtype(), ..LoadOptions::on(&args.device.parse()?)? };
    let loading = std::time::Instant::now();
    let model = Model::load(&source, &options)?;
    note!("loaded {source} in {:.2}s", loading.elapsed().as_secs_f64())?;
    let prompt = if args.raw {
        let text = match (&model.tokenizer.bos, model.tokenizer.add_bos) {
            (Some(bos), true) => format!("{bos}{}", args.prompt),
            _ => args.prompt.clone(),
        };
        model.tokenizer.encode(&text)?
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::new("system", system.as_str()));
        }
        messages.push(Message::new("user", args.prompt.as_str()));
        model.chat_prompt(&messages)?
    };
    let json_schema = match &args.json_schema {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?)
        }
        None => None,
    };
    let params = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        presence_penalty: args.presence_penalty,
        frequency_penalty: args.frequency_penalty,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        max_new_tokens: args.max_new_tokens,
        stop: args.stop,
        ignore_eos: false,
        json_schema,
        answer_end: None,
        answer_opening: String::new(),
    };
    let out = model.generate_with(&prompt, params, args.attention)?;
    if args.ids {
        out!("{}", out.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(" "))?;
    } else {
        out!("{}", out.text)?;
    }
    let rate = |tokens: usize, d: Duration| tokens as f64 / d.as_secs_f64().max(1e-9);
    note!(
        "prompt {} tokens, prefill {:.1} tok/s; generated {} tokens, decode {:.1} tok/s; finish: {}",
        out.prompt_tokens,
        rate(out.prompt_tokens, out.prefill),
        out.tokens.len(),
        rate(out.tokens.len().saturating_sub(1), out.decode),
        out.finish.as_str(),
    )?;
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use hearth::bench::{self, BenchOptions, Report, Suite};
    // Read the baseline first: a bad path should not wait for the whole benchmark.
    let baseline = args.baseline.as_deref().map(Report::read).transpose()?;
    let suites = match args.suite {
        SuiteArg::All => vec![Suite::Engine, Suite::Walk, Suite::Pipeline],
        SuiteArg::Engine => vec![Suite::Engine],
        SuiteArg::Walk => vec![Suite::Walk],
        SuiteArg::Pipeline => vec![Suite::Pipeline],
    };
    let peer = args.peer.map(|peer| {
        let python = args.peer_python.clone().unwrap_or_else(|| match peer {
            bench::peer::Peer::LlamaCpp => hearth::engine::cache_dir().join("peer-venv/bin/python"),
            bench::peer::Peer::Transformers => PathBuf::from("python3"),
        });
        (peer, python)
    });
    let options = BenchOptions {
        suites,
        models: args.model,
        sweep: args.concurrency.map(|c| (c, args.prompt_tokens, args.new_tokens)),
        repeat: args.repeat,
        device: args.device,
        requantize: args.requantize,
        engine: bench::EngineSettings { attention: args.attention, kv_memory: args.kv_memory },
        dtype: args.dtype.dtype(),
        max_batched_tokens: args.max_batched_tokens,
        peer,
        walk_files: args.walk_files,
    };
    let fingerprint = bench::Fingerprint::here();
    out!("hearth {} ({}), {}; {} cores, {} threads; median of {} runs", fingerprint.hearth_version, &fingerprint.git_commit[..fingerprint.git_commit.len().min(12)], fingerprint.cpu, fingerprint.cores, fingerprint.threads, options.repeat)?;
    // Each result is printed as it comes; the report is written whatever became of them.
    let mut results_written = Ok(());
    let mut print_result = |r: &bench::BenchResult| {
        if results_written.is_ok() {
            results_written = out!("{}", r.line());
        }
    };
    let report = match &args.telemetry {
        None => bench::run(&options, fingerprint, &mut print_result)?,
        Some(path) => {
            use hearth::telemetry::{Telemetry, TelemetryConfig};
            let devices = hearth::workers::parse_devices(&options.device)?;
            let telemetry = Telemetry::new(&devices, TelemetryConfig { warmup_s: 0.0, ..TelemetryConfig::default() });
            let report = telemetry.while_sampling(|| bench::run(&options, fingerprint, &mut print_result))??;
            telemetry.write(path, &[("hearth.bench".to_string(), std::env::args().collect::<Vec<_>>().join(" "))])?;
            let stats = telemetry.stats();
            for d in &stats.devices {
                out!("telemetry {}: {} samples over {:.0} s; {}", d.device, stats.samples, stats.seconds, device_summary(d))?;
            }
            out!("wrote {}", path.display())?;
            report
        }
    };
    if let Some(path) = &args.save {
        report.write(path)?;
    }
    results_written?;
    let ratios: Vec<_> = report.results.iter().filter(|r| r.suite == "engine/peer").collect();
    if !ratios.is_empty() {
        let peer = report.fingerprint.peer.as_deref().unwrap_or_default();
        out!("\nhearth / {peer}, same prompts, this run:")?;
        out!("{:<56} {:>8} {:>8} {:>8}", "workload", "prefill", "decode", "total")?;
        for r in ratios {
            let x = |f: &str| r.value(f).map_or("-".to_string(), |v| format!("{v:.2}x"));
            out!("{:<56} {:>8} {:>8} {:>8}", r.name, x("prefill_ratio"), x("decode_ratio"), x("total_ratio"))?;
        }
    }
    if let Some(path) = &args.save {
        out!("wrote {}", path.display())?;
    }
    let noisy = report.noisier_than(args.tolerance);
    if !noisy.is_empty() {
        let judged = report.results.iter().flat_map(|r| r.figures.values()).filter(|f| f.better != bench::Better::Info).count();
        out!("\nnote: the machine was noisy: {} of {judged} figures' runs differ among themselves by more than the tolerance", noisy.len())?;
        out!("({}%), and a comparison counts a change within such a spread as noise (a baseline wants a quiet machine). Widest:", args.tolerance)?;
        for line in noisy.iter().take(5) {
            out!("  {line}")?;
        }
    }
    if let Some(baseline) = baseline {
        let comparison = bench::compare(&baseline, &report, args.tolerance);
        out!("\n{}", comparison.table(args.tolerance))?;
        if comparison.rows.is_empty() {
            anyhow::bail!("nothing to compare: {} has no workload this run measured", args.baseline.unwrap().display());
        }
        if comparison.regressed() {
            anyhow::bail!("a figure regressed by more than {}% against {}", args.tolerance, args.baseline.unwrap().display());
        }
    }
    Ok(())
}
