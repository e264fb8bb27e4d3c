//! The hosted CI (`.github/workflows/ci.yml`) runs what `.ci/run` runs: the workflow
//! is read as YAML, and the commands of its steps compared with the script's.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

const WORKFLOW: &str = include_str!("../../.github/workflows/ci.yml");
const CI_RUN: &str = include_str!("../../.ci/run");

/// The commands in a shell text that the two must share: lines (continuations
/// joined, spaces collapsed) that run cargo or the packaging check; not comments or
/// what only prints (`step`, `echo`).
fn commands(shell: &str) -> BTreeSet<String> {
    let joined = shell.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.starts_with('#') && !l.starts_with("step ") && !l.starts_with("echo "))
        .filter(|l| l.contains("cargo ") || l.contains("packaging/"))
        .collect()
}

fn workflow() -> Yaml {
    let mut docs = YamlLoader::load_from_str(WORKFLOW).expect("ci.yml is YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

/// The `run:` texts of a job's steps.
fn runs(job: &Yaml) -> Vec<&str> {
    let steps = job["steps"].as_vec().expect("a job has steps");
    steps.iter().filter_map(|s| s["run"].as_str()).collect()
}

#[test]
fn the_workflow_runs_what_ci_run_runs() {
    let ci = commands(CI_RUN);
    for expected in [
        "cargo fmt --all -- --check",
        "cargo clippy --locked --all-targets -- -D warnings",
        "cargo test --locked",
        "bash packaging/homebrew/check",
    ] {
        assert!(ci.contains(expected), ".ci/run lacks {expected:?}: {ci:#?}");
    }
    let workflow = workflow();
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    let mut all = BTreeSet::new();
    for (_, job) in jobs {
        for run in runs(job) {
            all.extend(commands(run));
        }
    }
    assert_eq!(all, ci, "the workflow's commands vs .ci/run's");

    // The checks run on Linux and macOS, and each of them runs every command of
    // .ci/run but the fuzzing.
    let check = &workflow["jobs"]["check"];
    let systems: Vec<&str> = (check["strategy"]["matrix"]["os"].as_vec())
        .expect("a matrix of systems")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        systems.iter().any(|s| s.starts_with("ubuntu")),
        "{systems:?}"
    );
    assert!(
        systems.iter().any(|s| s.starts_with("macos")),
        "{systems:?}"
    );
    let checked: BTreeSet<String> = runs(check).into_iter().flat_map(commands).collect();
    let not_fuzz: BTreeSet<String> = ci
        .iter()
        .filter(|c| {
            !c.contains("fuzz run")
                && !c.contains("fuzz list")
                && !c.contains("install --locked cargo-fuzz")
        })
        .cloned()
        .collect();
    assert_eq!(
        checked, not_fuzz,
        "the check job vs .ci/run without fuzzing"
    );
}

#[test]
fn fuzzing_runs_longer_on_the_schedule_and_keeps_its_findings() {
    let workflow = workflow();
    assert!(
        !workflow["on"]["schedule"].is_badvalue(),
        "the workflow runs on a schedule"
    );
    let fuzz = &workflow["jobs"]["fuzz"];
    let seconds = fuzz["env"]["FUZZ_SECONDS"].as_str().expect("FUZZ_SECONDS");
    assert!(
        seconds.contains("schedule") && seconds.contains("'600'") && seconds.contains("'60'"),
        "{seconds}"
    );
    let steps = fuzz["steps"].as_vec().expect("steps");
    let uses = |action: &str| {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
            .collect::<Vec<_>>()
    };
    let cache = uses("actions/cache");
    assert_eq!(cache.len(), 1);
    assert_eq!(cache[0]["with"]["path"].as_str(), Some("fuzz/corpus"));
    let uploads: Vec<&str> = uses("actions/upload-artifact")
        .iter()
        .filter_map(|s| s["with"]["path"].as_str())
        .collect();
    assert!(uploads.contains(&"fuzz/corpus"), "{uploads:?}");
    assert!(uploads.contains(&"fuzz/artifacts"), "{uploads:?}");
}
