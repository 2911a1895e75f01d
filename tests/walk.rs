//! End-to-end tests of the source stage: the `hearth walk` binary and the walk job
//! over real trees on disk, read back from the Parquet files they write.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use hearth::job::{self, WalkInput};
use hearth::source::{self, DatasetColumns, WalkConfig, WalkStats};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

/// Every row of a Parquet file, as column name → value (strings, numbers as text, null as None).
fn rows(file: &Path) -> Vec<BTreeMap<String, Option<String>>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(file).unwrap()).unwrap().build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for i in 0..batch.num_rows() {
            let mut row = BTreeMap::new();
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                let value = (!column.is_null(i)).then(|| display(column, i));
                row.insert(field.name().clone(), value);
            }
            out.push(row);
        }
    }
    out
}

fn display(column: &ArrayRef, i: usize) -> String {
    match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(i).to_string(),
        DataType::UInt32 => column.as_primitive::<arrow_array::types::UInt32Type>().value(i).to_string(),
        DataType::UInt64 => column.as_primitive::<arrow_array::types::UInt64Type>().value(i).to_string(),
        DataType::Boolean => column.as_boolean().value(i).to_string(),
        // A list of names (a function's parameters), written `[a, b]`.
        DataType::List(_) => {
            let names = column.as_list::<i32>().value(i);
            format!("[{}]", names.as_string::<i32>().iter().flatten().collect::<Vec<_>>().join(", "))
        }
        other => panic!("unexpected column type {other}"),
    }
}

fn get<'a>(row: &'a BTreeMap<String, Option<String>>, column: &str) -> &'a str {
    row[column].as_deref().unwrap_or("")
}

/// path → skip reason.
fn skipped(out: &Path) -> BTreeMap<String, String> {
    rows(&out.join(job::SKIPPED_FILE)).iter().map(|r| (get(r, "path").to_string(), get(r, "reason").to_string())).collect()
}

fn unit_paths(out: &Path) -> BTreeSet<String> {
    rows(&out.join(job::UNITS_FILE)).iter().map(|r| get(r, "path").to_string()).collect()
}

fn unit_ids(out: &Path) -> BTreeMap<String, String> {
    rows(&out.join(job::UNITS_FILE))
        .iter()
        .map(|r| (get(r, "unit_id").to_string(), format!("{} {} {}", get(r, "path"), get(r, "kind"), get(r, "name"))))
        .collect()
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn hearth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).output().unwrap()
}

fn walk_lib(input: WalkInput, config: &WalkConfig, out: &Path) -> job::WalkSummary {
    job::walk(std::slice::from_ref(&input), config, out, &WalkStats::default(), None).unwrap()
}

#[test]
fn every_kind_of_file_lands_in_units_or_skipped_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let outside = tmp.path().join("outside");
    write(&outside.join("secret.rs"), "fn secret() {}\n");

    write(&root.join(".gitignore"), "*.log\n");
    write(&root.join("app.log"), "ignored by the root .gitignore\n");
    write(&root.join("sub/.gitignore"), "generated.rs\n");
    write(&root.join("sub/generated.rs"), "fn generated() {}\n");
    write(&root.join("sub/kept.rs"), "fn kept() {}\n");
    write(&root.join("image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    write(&root.join("big.rs"), vec![b'/'; 5 * 1024 * 1024]);
    write(&root.join("latin1.py"), b"name = 'caf\xe9'\n");
    write(&root.join("empty.rs"), "");
    write(&root.join("only_comments.rs"), "// nothing here\n");
    write(&root.join("crlf_bom.py"), b"\xef\xbb\xbfdef f():\r\n    return 1\r\n");
    write(&root.join("notes.txt"), "plain text\n");
    write(&root.join("bin/tool"), b"\xef\xbb\xbf#!/usr/bin/env python3\r\nprint(1)\r\n");
    write(&root.join("vendor/lib.rs"), "fn vendored() {}\n");
    let deep: PathBuf = (0..40).map(|i| format!("d{i}")).collect();
    write(&root.join(&deep).join("deep.go"), "package deep\n\nfunc Deep() {}\n");
    symlink("loop_b", root.join("loop_a")).unwrap();
    symlink("loop_a", root.join("loop_b")).unwrap();
    symlink("missing.rs", root.join("dangling.rs")).unwrap();
    symlink(&outside, root.join("outside_link")).unwrap();
    symlink("sub/kept.rs", root.join("kept_link.rs")).unwrap();
    let fifo = root.join("pipe.rs");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let out = tmp.path().join("out");
    let output = hearth(&["walk", root.to_str().unwrap(), "--out", out.to_str().unwrap(), "--exclude", "vendor/**", "--quiet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty() && output.stdout.is_empty(), "--quiet prints nothing");

    let deep_path = format!("{}/deep.go", deep.display());
    let expected_skips: BTreeMap<String, String> = [
        ("image.png", "binary"),
        ("big.rs", "too_large"),
        ("latin1.py", "not_utf8"),
        ("empty.rs", "empty"),
        ("only_comments.rs", "no_code"),
        ("notes.txt", "unknown_language"),
        ("vendor/lib.rs", "excluded"),
        ("loop_a", "symlink_loop"),
        ("loop_b", "symlink_loop"),
        ("dangling.rs", "dangling_link"),
        ("outside_link", "link_outside_root"),
        ("kept_link.rs", "link_not_followed"),
        ("pipe.rs", "not_regular_file"),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_string(), r.to_string()))
    .collect();
    assert_eq!(skipped(&out), expected_skips);
    let expected_units: BTreeSet<String> =
        ["sub/kept.rs", "crlf_bom.py", "bin/tool", deep_path.as_str()].into_iter().map(String::from).collect();
    assert_eq!(unit_paths(&out), expected_units, "ignored files appear nowhere, the rest once");

    let skipped_rows = rows(&out.join(job::SKIPPED_FILE));
    let big = skipped_rows.iter().find(|r| get(r, "path") == "big.rs").unwrap();
    assert_eq!(get(big, "bytes"), (5 * 1024 * 1024).to_string());
    let units = rows(&out.join(job::UNITS_FILE));
    let crlf = units.iter().find(|r| get(r, "path") == "crlf_bom.py").unwrap();
    assert_eq!(get(crlf, "content"), "def f():\n    return 1");
    assert_eq!(get(crlf, "name"), "f");
}

#[test]
fn following_links_is_opt_in_and_stays_loop_safe() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let outside = tmp.path().join("outside");
    write(&outside.join("secret.rs"), "fn secret() {}\n");
    write(&root.join("a/main.rs"), "fn main() {}\n");
    symlink("..", root.join("a/up")).unwrap();
    symlink(&outside, root.join("outside_link")).unwrap();
    symlink("nowhere.rs", root.join("dangling.rs")).unwrap();

    let plain = tmp.path().join("plain");
    walk_lib(WalkInput::Repos(vec![root.clone()]), &WalkConfig::default(), &plain);
    assert_eq!(unit_paths(&plain), BTreeSet::from(["a/main.rs".to_string()]));
    assert_eq!(skipped(&plain)["outside_link"], "link_outside_root");
    assert_eq!(skipped(&plain)["a/up"], "link_not_followed");

    let followed = tmp.path().join("followed");
    let config = WalkConfig { follow_links: true, ..WalkConfig::default() };
    walk_lib(WalkInput::Repos(vec![root.clone()]), &config, &followed);
    assert_eq!(
        unit_paths(&followed),
        BTreeSet::from(["a/main.rs".to_string(), "outside_link/secret.rs".to_string()])
    );
    let skips = skipped(&followed);
    assert_eq!(skips["a/up"], "symlink_loop");
    assert_eq!(skips["dangling.rs"], "dangling_link");
}

#[test]
fn parquet_output_has_the_schema_rows_and_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample-repo");
    let config = WalkConfig { max_unit_bytes: 4096, ..WalkConfig::default() };
    let summary = walk_lib(WalkInput::Repos(vec![sample.clone()]), &config, tmp.path());

    let units_file = tmp.path().join(job::UNITS_FILE);
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&units_file).unwrap()).unwrap();
    assert_eq!(builder.schema().fields(), source::unit_schema().fields());
    let metadata = builder.metadata().clone();
    assert_eq!(metadata.file_metadata().num_rows() as u64, summary.units);
    assert_eq!(rows(&units_file).len() as u64, summary.units);
    let documented = rows(&units_file).iter().filter(|r| r["doc"].is_some()).count() as u64;
    assert!(documented > 0 && summary.documented == documented, "{} of {documented}", summary.documented);
    let column = metadata.row_group(0).column(0);
    assert_eq!(column.compression(), parquet::basic::Compression::ZSTD(Default::default()));

    let kv: BTreeMap<String, String> = metadata
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    assert_eq!(kv["hearth.version"], env!("CARGO_PKG_VERSION"));
    let sources: serde_json::Value = serde_json::from_str(&kv["hearth.sources"]).unwrap();
    assert_eq!(sources[0]["repo"], "sample-repo");
    assert_eq!(sources[0]["root"], sample.canonicalize().unwrap().display().to_string(), "the root, absolute");
    let walk_config: serde_json::Value = serde_json::from_str(&kv["hearth.walk_config"]).unwrap();
    assert_eq!(walk_config["max_unit_bytes"], 4096);

    // The sample repository covers at least six languages and a binary file.
    let languages: BTreeSet<String> = rows(&units_file).iter().map(|r| get(r, "language").to_string()).collect();
    assert!(languages.len() >= 6, "{languages:?}");
    // A function's parameters, as a doc names them: a method's without `self`.
    let parameters = |name: &str| rows(&units_file).into_iter().find(|r| get(r, "name") == name).and_then(|r| r["parameters"].clone());
    assert_eq!(parameters("parse_row").as_deref(), Some("[line, row]"));
    assert_eq!(parameters("loadBalances").as_deref(), Some("[url, fetchImpl]"));
    assert_eq!(parameters("CsvImporter"), None, "a class has none");
    assert!(rows(&units_file).iter().any(|r| get(r, "name") == "CsvImporter"));
    assert_eq!(skipped(tmp.path()).get("assets/logo.png").map(String::as_str), Some("binary"));
    let skipped_meta = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(tmp.path().join(job::SKIPPED_FILE)).unwrap()).unwrap();
    assert_eq!(skipped_meta.schema().fields(), source::skipped_schema().fields());
    assert_eq!(summary.skipped_by_reason.get("binary"), Some(&1));
}

#[test]
fn a_folder_of_checkouts_is_a_repository_per_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let commit = |n: u8| format!("{}", n.to_string().repeat(40));
    write(&src.join("app/.git/HEAD"), format!("{}\n", commit(1)));
    write(&src.join("app/main.py"), "def main():\n    return 1\n");
    write(&src.join("app/.gitignore"), "build/\n");
    write(&src.join("app/build/out.py"), "def built():\n    return 2\n");
    // A submodule is its superproject's: part of `app`.
    write(&src.join("app/lib/sub/.git"), "gitdir: ../../.git/modules/sub\n");
    write(&src.join("app/lib/sub/s.py"), "def s():\n    return 3\n");
    // Laid out as ghq and GOPATH do.
    write(&src.join("github.com/org/tool/.git/HEAD"), format!("{}\n", commit(2)));
    write(&src.join("github.com/org/tool/tool.py"), "def tool():\n    return 4\n");
    // A clone among dependencies is a dependency; a loose file is the folder's own.
    write(&src.join("web/node_modules/dep/.git/HEAD"), format!("{}\n", commit(3)));
    write(&src.join("web/node_modules/dep/index.js"), "function dep() {}\n");
    write(&src.join("notes.py"), "def note():\n    return 5\n");
    let out = tmp.path().join("out");
    walk_lib(WalkInput::Repos(vec![src.clone()]), &WalkConfig::default(), &out);

    let units: BTreeSet<(String, String)> = rows(&out.join(job::UNITS_FILE)).iter().map(|r| (get(r, "repo").to_string(), get(r, "path").to_string())).collect();
    let expected = [("app", "lib/sub/s.py"), ("app", "main.py"), ("github.com/org/tool", "tool.py"), ("src", "notes.py")];
    assert_eq!(units, expected.iter().map(|(r, p)| (r.to_string(), p.to_string())).collect(), "the checkout's .gitignore still holds");
    assert_eq!(skipped(&out).get("web/node_modules/dep/index.js").map(String::as_str), Some("vendored"));
    let metadata = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(out.join(job::UNITS_FILE)).unwrap()).unwrap().metadata().clone();
    let sources = metadata.file_metadata().key_value_metadata().unwrap().iter().find(|kv| kv.key == "hearth.sources").unwrap().value.clone().unwrap();
    let sources: Vec<(String, String, Option<String>)> = serde_json::from_str::<Vec<serde_json::Value>>(&sources)
        .unwrap()
        .iter()
        .map(|s| (s["repo"].as_str().unwrap().to_string(), s["root"].as_str().unwrap().to_string(), s["git_commit"].as_str().map(str::to_string)))
        .collect();
    let root = src.canonicalize().unwrap();
    assert_eq!(
        sources,
        [
            ("app".to_string(), root.join("app").display().to_string(), Some(commit(1))),
            ("github.com/org/tool".to_string(), root.join("github.com/org/tool").display().to_string(), Some(commit(2))),
            ("src".to_string(), root.display().to_string(), None),
        ],
        "each checkout is a repository with its own root and commit, for its export's patch"
    );

    // A checkout walked itself, or a folder inside one, is one repository as before.
    let out = tmp.path().join("app-out");
    walk_lib(WalkInput::Repos(vec![src.join("app")]), &WalkConfig::default(), &out);
    let repos: BTreeSet<String> = rows(&out.join(job::UNITS_FILE)).iter().map(|r| get(r, "repo").to_string()).collect();
    assert_eq!(repos, BTreeSet::from(["app".to_string()]));
}

#[test]
fn repositories_of_one_name_are_named_apart_and_no_file_is_walked_twice() {
    let tmp = tempfile::tempdir().unwrap();
    // Two clones of one project, side by side: the same file, the same unit.
    for owner in ["work", "oss"] {
        write(&tmp.path().join(owner).join("api/m.py"), "def f():\n    return 1\n");
    }
    write(&tmp.path().join("oss/api/sub/s.py"), "def s():\n    return 2\n");
    let (work, oss) = (tmp.path().join("work/api"), tmp.path().join("oss/api"));
    let out = tmp.path().join("out");
    // The same root twice, and a folder inside a root given beside it.
    let summary = walk_lib(WalkInput::Repos(vec![work.clone(), oss.clone(), work.clone(), oss.join("sub")]), &WalkConfig::default(), &out);
    let units: BTreeSet<(String, String)> = rows(&out.join(job::UNITS_FILE)).iter().map(|r| (get(r, "repo").to_string(), get(r, "path").to_string())).collect();
    let expected = [("oss/api", "m.py"), ("sub", "s.py"), ("work/api", "m.py")];
    assert_eq!(units, expected.iter().map(|(r, p)| (r.to_string(), p.to_string())).collect());
    assert_eq!(summary.units, 3, "each file once");
    assert_eq!(summary.repositories, 3, "`hearth walk` says how many repositories it found");
    assert_eq!(unit_ids(&out).len(), 3, "the clones' units have ids of their own");
}

#[test]
fn unit_ids_are_stable_across_walks_and_places_and_change_with_content() {
    let tmp = tempfile::tempdir().unwrap();
    let code = "use std::io;\n\nfn one() -> u32 { 1 }\n\nfn two() -> u32 { 2 }\n\nstruct S;\n\nimpl S {\n    fn m(&self) {}\n}\n";
    // The same repository checked out in two places.
    for place in ["first", "second"] {
        write(&tmp.path().join(place).join("repo/src/lib.rs"), code);
        write(&tmp.path().join(place).join("repo/tools/x.py"), "def x():\n    return 1\n");
    }
    let walk = |place: &str, out: &str| {
        let out = tmp.path().join(out);
        walk_lib(WalkInput::Repos(vec![tmp.path().join(place).join("repo")]), &WalkConfig::default(), &out);
        unit_ids(&out)
    };
    let first = walk("first", "out1");
    assert_eq!(first, walk("first", "out2"), "two walks of one tree");
    assert_eq!(first, walk("second", "out3"), "the same code in the same place elsewhere on disk");
    assert_eq!(first.len(), 8, "lib.rs's outline, its code, one, two, S, the impl and m; x");

    let edited = code.replace("fn two() -> u32 { 2 }", "fn two() -> u32 {\n    3\n}");
    write(&tmp.path().join("second/repo/src/lib.rs"), edited);
    let after = walk("second", "out4");
    let changed: Vec<_> = first.iter().filter(|(id, _)| !after.contains_key(*id)).map(|(_, what)| what.as_str()).collect();
    assert_eq!(changed, ["src/lib.rs function two"], "only the edited function gets a new id: the outline elides its body");
    assert_eq!(after.len(), first.len());
}

#[test]
fn serial_and_parallel_walks_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample-repo");
    let serial = tmp.path().join("serial");
    let parallel = tmp.path().join("parallel");
    walk_lib(WalkInput::Repos(vec![sample.clone()]), &WalkConfig { threads: 1, ..WalkConfig::default() }, &serial);
    walk_lib(WalkInput::Repos(vec![sample]), &WalkConfig { threads: 4, ..WalkConfig::default() }, &parallel);
    assert_eq!(unit_ids(&serial), unit_ids(&parallel));
    assert_eq!(skipped(&serial), skipped(&parallel));
}

#[test]
fn files_a_tool_wrote_and_dependencies_are_skipped_unless_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    write(&root.join("src/app.js"), "function add(a, b) {\n  return a + b;\n}\n");
    write(&root.join("package-lock.json"), "{\"lockfileVersion\": 3}\n");
    write(&root.join("api/user.pb.go"), "package api\n\nfunc (x *User) Reset() {}\n");
    write(&root.join("api/client.go"), "// Code generated by mockgen. DO NOT EDIT.\n\npackage api\n\nfunc NewClient() {}\n");
    write(&root.join("static/bundle.js"), format!("!function(){{{}}}();\n", "var a=1;".repeat(40)));
    // The repository's own word: vendored, generated, and hand-written despite its name.
    write(&root.join(".gitattributes"), "third_party/** linguist-vendored\nschema/*.py linguist-generated\nlibs/vendor/** -linguist-vendored\n");
    write(&root.join("vendor/github.com/pkg/errors/errors.go"), "package errors\n\nfunc New() {}\n");
    write(&root.join("libs/vendor/own.go"), "package vendor\n\nfunc Own() {}\n");
    write(&root.join("third_party/zlib/inflate.c"), "int inflate(void) { return 0; }\n");
    write(&root.join("schema/tables.py"), "def tables():\n    return []\n");
    write(&root.join("static/.gitattributes"), "theme.min.js -linguist-generated\n");
    write(&root.join("static/theme.min.js"), "function theme() {\n  return 1;\n}\n");

    let out = tmp.path().join("out");
    let walk = |out: &Path, extra: &[&str]| {
        let mut args = vec!["walk", root.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
        args.extend_from_slice(extra);
        let output = hearth(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    walk(&out, &[]);
    let expected: BTreeMap<String, String> = [
        ("package-lock.json", "generated"),
        ("api/user.pb.go", "generated"),
        ("api/client.go", "generated"),
        ("static/bundle.js", "generated"),
        ("third_party/zlib/inflate.c", "vendored"),
        ("schema/tables.py", "generated"),
        ("vendor/github.com/pkg/errors/errors.go", "vendored"),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_string(), r.to_string()))
    .collect();
    assert_eq!(skipped(&out), expected);
    assert_eq!(unit_paths(&out), ["libs/vendor/own.go", "src/app.js", "static/theme.min.js"].into_iter().map(String::from).collect());
    let details: BTreeMap<String, String> = rows(&out.join(job::SKIPPED_FILE)).iter().map(|r| (get(r, "path").to_string(), get(r, "detail").to_string())).collect();
    assert_eq!(details["package-lock.json"], "a package manager's lock file");
    assert_eq!(details["third_party/zlib/inflate.c"], "marked linguist-vendored in .gitattributes");
    assert_eq!(details["vendor/github.com/pkg/errors/errors.go"], "in `vendor/`, a folder of dependencies");

    // A subfolder of the checkout follows the `.gitattributes` above it, as git does.
    assert!(Command::new("git").args(["init", "-q"]).current_dir(&root).status().unwrap().success());
    let sub = tmp.path().join("sub");
    let output = hearth(&["walk", root.join("third_party").to_str().unwrap(), "--out", sub.to_str().unwrap(), "--quiet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(skipped(&sub).into_iter().collect::<Vec<_>>(), [("zlib/inflate.c".to_string(), "vendored".to_string())]);

    // The checkout's info/attributes, which git reads over every .gitattributes: an
    // operator's marks on a checkout they do not commit to.
    write(&root.join(".git/info/attributes"), "libs/vendor/** linguist-vendored\n");
    let info = tmp.path().join("info");
    walk(&info, &[]);
    assert_eq!(skipped(&info)["libs/vendor/own.go"], "vendored");

    // Kept, every one is read as it would be.
    let kept = tmp.path().join("kept");
    walk(&kept, &["--keep-generated"]);
    assert!(skipped(&kept).is_empty(), "{:?}", skipped(&kept));
    assert_eq!(unit_paths(&kept).len(), 10);
}

#[test]
fn datasets_give_the_same_units_as_the_files_they_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        ("src/lib.rs", "/// Adds.\npub fn add(a: i32, b: i32) -> i32 { a + b }\n"),
        ("app/main.py", "import sys\n\nclass App:\n    def run(self):\n        return 0\n"),
        ("web/x.ts", "export const f = (n: number) => n * 2;\n"),
    ];
    for (path, content) in files {
        write(&tmp.path().join("proj").join(path), content);
    }
    let from_disk = tmp.path().join("disk");
    walk_lib(WalkInput::Repos(vec![tmp.path().join("proj")]), &WalkConfig::default(), &from_disk);

    // JSONL with the default column names, plus records that cannot be used.
    let mut jsonl = String::new();
    for (path, content) in files {
        jsonl += &serde_json::json!({"repo": "proj", "path": path, "content": content}).to_string();
        jsonl.push('\n');
    }
    jsonl += "{not json\n";
    jsonl += &serde_json::json!({"repo": "proj", "path": "no_content.rs"}).to_string();
    jsonl.push('\n');
    let jsonl_file = tmp.path().join("code.jsonl");
    write(&jsonl_file, jsonl);
    let from_jsonl = tmp.path().join("jsonl");
    let input = WalkInput::Dataset { file: jsonl_file.clone(), columns: DatasetColumns::default() };
    walk_lib(input, &WalkConfig::default(), &from_jsonl);
    assert_eq!(unit_ids(&from_jsonl), unit_ids(&from_disk));
    let bad = skipped(&from_jsonl);
    assert_eq!(bad.len(), 2);
    assert_eq!(bad["no_content.rs"], "invalid_record");
    assert_eq!(bad[&format!("{}:4", jsonl_file.display())], "invalid_record");

    // Parquet with another dataset's column names, content as binary, and a binary blob.
    let schema = Arc::new(Schema::new(vec![
        Field::new("max_stars_repo_name", DataType::Utf8, false),
        Field::new("max_stars_repo_path", DataType::Utf8, false),
        Field::new("text", DataType::Binary, true),
    ]));
    let (mut repos, mut paths, mut texts) = (StringBuilder::new(), StringBuilder::new(), BinaryBuilder::new());
    for (path, content) in files.iter().copied().chain([("blob.rs", "\0\0\0")]) {
        repos.append_value("proj");
        paths.append_value(path);
        texts.append_value(content.as_bytes());
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(repos.finish()), Arc::new(paths.finish()), Arc::new(texts.finish())],
    )
    .unwrap();
    let parquet_file = tmp.path().join("code.parquet");
    let mut writer = ArrowWriter::try_new(fs::File::create(&parquet_file).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let columns = DatasetColumns {
        path: "max_stars_repo_path".into(),
        content: "text".into(),
        repo: Some("max_stars_repo_name".into()),
        language: None,
    };
    let from_parquet = tmp.path().join("parquet");
    walk_lib(WalkInput::Dataset { file: parquet_file.clone(), columns }, &WalkConfig::default(), &from_parquet);
    assert_eq!(unit_ids(&from_parquet), unit_ids(&from_disk));
    assert_eq!(skipped(&from_parquet)["blob.rs"], "binary");

    // The Stack's and codeparrot/github-code's column names read without being named.
    let schema = Arc::new(Schema::new(vec![
        Field::new("content", DataType::Utf8, false),
        Field::new("max_stars_repo_path", DataType::Utf8, false),
        Field::new("max_stars_repo_name", DataType::Utf8, false),
        Field::new("lang", DataType::Utf8, false),
    ]));
    let column = |values: Vec<&str>| Arc::new(arrow_array::StringArray::from(values)) as ArrayRef;
    let languages = vec!["Rust", "Python", "TypeScript"];
    let columns = vec![column(files.iter().map(|f| f.1).collect()), column(files.iter().map(|f| f.0).collect()), column(vec!["proj"; 3]), column(languages)];
    let stack_file = tmp.path().join("the-stack.parquet");
    let mut writer = ArrowWriter::try_new(fs::File::create(&stack_file).unwrap(), schema.clone(), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    writer.close().unwrap();
    let from_stack = tmp.path().join("stack");
    walk_lib(WalkInput::Dataset { file: stack_file, columns: DatasetColumns::default() }, &WalkConfig::default(), &from_stack);
    assert_eq!(unit_ids(&from_stack), unit_ids(&from_disk));
    let github_code: String = files.iter().map(|(path, code)| serde_json::json!({"repo_name": "proj", "path": path, "code": code, "language": "x"}).to_string() + "\n").collect();
    let github_file = tmp.path().join("github-code.jsonl");
    write(&github_file, github_code);
    let from_github = tmp.path().join("github");
    walk_lib(WalkInput::Dataset { file: github_file, columns: DatasetColumns::default() }, &WalkConfig::default(), &from_github);
    assert_eq!(unit_ids(&from_github), unit_ids(&from_disk), "an unknown language label is detected from the path");

    // A column that is not there is an error naming the file and the columns it has.
    let missing = DatasetColumns { path: "max_stars_repo_path".into(), content: "body".into(), ..DatasetColumns::default() };
    let err = job::walk(
        &[WalkInput::Dataset { file: parquet_file.clone(), columns: missing }],
        &WalkConfig::default(),
        &tmp.path().join("missing"),
        &WalkStats::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("code.parquet") && err.contains("\"body\"") && err.contains("max_stars_repo_path"), "{err}");
}

#[test]
fn bad_arguments_fail_with_a_message_naming_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let missing = tmp.path().join("no-such-repo");
    let output = hearth(&["walk", missing.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-repo"), "{stderr}");
    assert!(!out.join(job::UNITS_FILE).exists(), "a failed walk writes no output");

    let output = hearth(&["walk", tmp.path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--include", "a{"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("a{"));
}

/// A notebook file as Jupyter writes it, with code cells of `sources` and metadata naming
/// the kernel's `language`, and `output_bytes` of a plot's base64 in the first cell's outputs.
fn notebook(sources: &[&str], language: &str, output_bytes: usize) -> String {
    let cells: Vec<serde_json::Value> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            let outputs = if i == 0 && output_bytes > 0 {
                serde_json::json!([{ "output_type": "display_data", "data": { "image/png": "A".repeat(output_bytes) }, "metadata": {} }])
            } else {
                serde_json::json!([])
            };
            let lines: Vec<&str> = source.split_inclusive('\n').collect();
            serde_json::json!({ "cell_type": "code", "execution_count": i + 1, "metadata": {}, "outputs": outputs, "source": lines })
        })
        .collect();
    let metadata = serde_json::json!({ "kernelspec": { "display_name": language, "language": language, "name": language } });
    serde_json::to_string_pretty(&serde_json::json!({ "cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5 })).unwrap()
}

#[test]
fn notebooks_are_their_code_cells_in_the_kernels_language() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let limit = 64 * 1024;
    let analysis = notebook(&["import math\n", "def area(r):\n    return math.pi * r * r\n"], "python", 2 * limit);
    write(&root.join("analysis.ipynb"), &analysis);
    write(&root.join("stats.ipynb"), notebook(&["mean2 <- function(x) sum(x) / length(x)\n"], "R", 0));
    write(&root.join("julia.ipynb"), notebook(&["f(x) = 2x\n"], "julia", 0));
    write(&root.join("stata.ipynb"), notebook(&["display 1\n"], "stata", 0));
    write(&root.join("huge_code.ipynb"), notebook(&[&"x = 1\n".repeat(limit / 4)], "python", 0));
    write(&root.join("broken.ipynb"), "{\"cells\": [");
    write(&root.join("comment.ipynb"), notebook(&["# a comment\n"], "python", 0));
    write(&root.join("empty.ipynb"), notebook(&["", "\n"], "python", 0));
    let config = WalkConfig { max_file_bytes: limit as u64, ..WalkConfig::default() };
    let out = tmp.path().join("out");
    walk_lib(WalkInput::Repos(vec![root.clone()]), &config, &out);

    let expected: BTreeMap<String, String> =
        [("stata.ipynb", "unknown_language"), ("huge_code.ipynb", "too_large"), ("broken.ipynb", "invalid_notebook"), ("comment.ipynb", "no_code"), ("empty.ipynb", "no_code")]
            .into_iter()
            .map(|(p, r)| (p.to_string(), r.to_string()))
            .collect();
    assert_eq!(skipped(&out), expected, "a notebook whose plots are over the limit is read: its code is under it");
    let skips = rows(&out.join(job::SKIPPED_FILE));
    let detail = |path: &str| get(skips.iter().find(|r| get(r, "path") == path).unwrap(), "detail").to_string();
    assert_eq!(detail("stata.ipynb"), "a notebook in stata");
    assert_eq!(detail("huge_code.ipynb"), format!("its code cells are over the {limit} byte limit"));
    assert!(detail("broken.ipynb").starts_with("not notebook JSON: EOF"), "{}", detail("broken.ipynb"));
    assert_eq!(detail("comment.ipynb"), "only comments");
    assert_eq!(detail("empty.ipynb"), "no code cells, or only empty ones");

    let units = rows(&out.join(job::UNITS_FILE));
    let summary: BTreeSet<String> = units.iter().map(|r| format!("{} {} {} {}", get(r, "path"), get(r, "language"), get(r, "kind"), get(r, "name"))).collect();
    let expected: BTreeSet<String> =
        ["analysis.ipynb python code ", "analysis.ipynb python function area", "julia.ipynb julia function f", "stats.ipynb r function mean2"].into_iter().map(String::from).collect();
    assert_eq!(summary, expected);
    let area = units.iter().find(|r| get(r, "name") == "area").unwrap();
    let line = |needle: &str| (analysis[..analysis.find(needle).unwrap()].matches('\n').count() + 1).to_string();
    assert_eq!((get(area, "start_line"), get(area, "end_line")), (line("def area").as_str(), line("return math.pi").as_str()), "the file's lines");

    // Cleared of its outputs, so its code on other lines, it is the same units.
    let rerun_root = tmp.path().join("rerun/repo");
    write(&rerun_root.join("analysis.ipynb"), notebook(&["import math\n", "def area(r):\n    return math.pi * r * r\n"], "python", 0));
    let rerun = tmp.path().join("rerun_out");
    walk_lib(WalkInput::Repos(vec![rerun_root]), &config, &rerun);
    let rerun_units = rows(&rerun.join(job::UNITS_FILE));
    let rerun_area = rerun_units.iter().find(|r| get(r, "name") == "area").unwrap();
    assert_eq!(get(rerun_area, "unit_id"), get(area, "unit_id"));
    assert_ne!(get(rerun_area, "start_line"), get(area, "start_line"), "the output took lines");

    // The same notebook in a dataset is the same units.
    let jsonl = tmp.path().join("notebooks.jsonl");
    let record = serde_json::json!({ "repo": "repo", "path": "analysis.ipynb", "language": "Jupyter Notebook", "content": analysis });
    write(&jsonl, format!("{record}\n"));
    let from_jsonl = tmp.path().join("jsonl");
    walk_lib(WalkInput::Dataset { file: jsonl, columns: DatasetColumns::default() }, &config, &from_jsonl);
    let ids = unit_ids(&out);
    let analysis_ids: BTreeMap<String, String> = ids.into_iter().filter(|(_, place)| place.starts_with("analysis.ipynb")).collect();
    assert_eq!(unit_ids(&from_jsonl), analysis_ids);
}
