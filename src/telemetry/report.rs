//! `hearth report OUT`: an HTML page with PNG plots (plotters) of temperature, power
//! and tokens/s over time per device, and the summary table, from `OUT/telemetry.parquet`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::stats::{GateResult, TelemetryStats};
use super::{read_samples, Sample, TelemetryConfig, TELEMETRY_FILE};
use crate::{Error, Result};

/// Folder of the report inside the output folder.
pub const REPORT_DIR: &str = "report";

/// TrueType fonts tried for the plots' text, after `$HEARTH_FONT`.
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a font for the plots once; plotters (without system font libraries) has none.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let candidates: Vec<PathBuf> = std::env::var_os("HEARTH_FONT").map(PathBuf::from).into_iter().chain(FONTS.iter().map(PathBuf::from)).collect();
            let Some((path, bytes)) = candidates.iter().find_map(|p| Some((p, std::fs::read(p).ok()?))) else {
                return Err(format!("no TrueType font for the plots: install fonts-dejavu-core, or set HEARTH_FONT to a .ttf (tried {})", FONTS.join(", ")));
            };
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| format!("{} is not a TrueType font", path.display()))
        })
        .clone()
        .map_err(Error::Config)
}

/// Writes `out/report/index.html` and its PNGs from `out/telemetry.parquet`; `stats` and
/// `gates` are the run's (from its summary), else computed from the samples.
pub fn write(out: &Path, stats: Option<TelemetryStats>, gates: &[GateResult]) -> Result<PathBuf> {
    let samples = read_samples(&out.join(TELEMETRY_FILE))?;
    let stats = stats.unwrap_or_else(|| super::stats::compute(&samples, &TelemetryConfig::default(), &[], Vec::new()));
    let dir = out.join(REPORT_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    register_font()?;

    let per_device = |f: fn(&Sample) -> Option<f64>| -> Vec<(String, Vec<(f64, f64)>)> {
        super::first_seen(samples.iter().map(|s| s.device.clone()))
            .into_iter()
            .map(|d| {
                let points = samples.iter().filter(|s| s.device == d).filter_map(|s| Some((s.elapsed_s / 60.0, f(s)?))).collect();
                (d, points)
            })
            .filter(|(_, p): &(String, Vec<(f64, f64)>)| !p.is_empty())
            .collect()
    };
    let throughput = vec![("all devices".to_string(), stats.tokens_per_s_series.iter().map(|&(t, r)| (t / 60.0, r)).collect::<Vec<_>>())];
    let plots = [
        ("temperature.png", "Temperature", "°C", per_device(|s| s.reading.temperature_c)),
        ("power.png", "Power", "W", per_device(|s| s.reading.power_w)),
        ("throughput.png", "Throughput (per window, after warm-up)", "tokens/s", throughput),
    ];
    let mut html = String::from("<!doctype html><meta charset=utf-8><title>hearth telemetry</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}</style>\n");
    let _ = writeln!(html, "<h1>hearth telemetry: {}</h1>", escape(&out.display().to_string()));
    if !gates.is_empty() {
        let verdict = if gates.iter().all(|g| g.pass) { "PASS" } else { "FAIL" };
        let _ = writeln!(html, "<h2>Soak validation: {verdict}</h2><ul>");
        for g in gates {
            let _ = writeln!(html, "<li>{} {}: {}</li>", if g.pass { "pass" } else { "FAIL" }, g.gate, escape(&g.reason));
        }
        html.push_str("</ul>\n");
    }
    html.push_str(&summary_table(&stats));
    for (file, title, unit, series) in &plots {
        let _ = writeln!(html, "<h2>{title}</h2>");
        if series.iter().all(|(_, p)| p.is_empty()) {
            let _ = writeln!(html, "<p>Not measured on this machine.</p>");
            continue;
        }
        line_chart(&dir.join(file), title, unit, series)?;
        let _ = writeln!(html, "<img src=\"{file}\" alt=\"{title}\" width=800>");
    }
    let _ = writeln!(html, "<h2>Sensors</h2><ul>{}</ul>", stats.sources.iter().map(|s| format!("<li>{}</li>", escape(s))).collect::<String>());
    let index = dir.join("index.html");
    std::fs::write(&index, html).map_err(|e| Error::io(&index, e))?;
    Ok(index)
}

fn summary_table(stats: &TelemetryStats) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("not measured".to_string(), |v| format!("{v:.digits$}"));
    let mut html = String::from("<h2>Summary</h2><table><tr><th>device</th><th>temp min</th><th>max</th><th>mean</th><th>p95 °C</th><th>drift °C/h</th><th>throttled</th><th>mean power W</th><th>energy J</th><th>guard pauses</th></tr>\n");
    for d in &stats.devices {
        let t = d.temperature_c;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({:.0} s)</td></tr>",
            escape(&d.device),
            opt(t.map(|t| t.min), 1),
            opt(t.map(|t| t.max), 1),
            opt(t.map(|t| t.mean), 1),
            opt(t.map(|t| t.p95), 1),
            opt(d.drift_c_per_h, 2),
            opt(d.throttled_share.map(|s| 100.0 * s), 1) + if d.throttled_share.is_some() { " %" } else { "" },
            opt(d.power_w.map(|p| p.mean), 1),
            opt(d.energy_j, 0),
            d.guard_pauses,
            d.paused_s,
        );
    }
    html.push_str("</table>\n");
    let rate = stats.tokens_per_s;
    let _ = writeln!(
        html,
        "<p>{:.0} s sampled ({} samples, {:.0} s warm-up); {} tokens; tokens/s mean {} (min {}, max {}), coefficient of variation {}; {} J/token; {} per million tokens at {} per kWh.</p>",
        stats.seconds,
        stats.samples,
        stats.warmup_s,
        stats.tokens,
        opt(rate.map(|r| r.mean), 1),
        opt(rate.map(|r| r.min), 1),
        opt(rate.map(|r| r.max), 1),
        opt(stats.tokens_per_s_cv, 3),
        opt(stats.joules_per_token, 3),
        opt(stats.cost_per_million_tokens, 4),
        stats.price_per_kwh,
    );
    html
}

/// One line per series over minutes.
fn line_chart(path: &Path, title: &str, unit: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let points = series.iter().flat_map(|(_, p)| p.iter());
        let (mut x_max, mut y_min, mut y_max) = (0f64, f64::MAX, f64::MIN);
        for &(x, y) in points {
            x_max = x_max.max(x);
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
        let pad = ((y_max - y_min) * 0.1).max(1.0);
        let root = BitMapBackend::new(path, (1000, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max.max(1e-3), (y_min - pad)..(y_max + pad))?;
        chart.configure_mesh().x_desc("minutes").y_desc(unit).label_style(("sans-serif", 15)).draw()?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).label_font(("sans-serif", 15)).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| Error::Config(format!("{}: drawing the plot failed: {e}", path.display())))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
