//! Smoke test of the benchmark harness: `bench --quick` runs every phase with tiny loads and
//! must finish cleanly with everything sent stored, every event delivered and every queued
//! message sent. Only correctness is asserted here, never speed (speed is in
//! docs/benchmarks.md, measured with the full run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

#[test]
fn the_quick_benchmark_runs_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .arg("--workdir")
        .arg(dir.path())
        .output()
        .expect("running the bench binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench --quick failed:\n{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();

    for key in ["inbound_fixed_rate", "inbound_saturation"] {
        let r = &report[key];
        assert_eq!(r["errors"], 0, "{key}: {r}");
        assert_eq!(r["sent"], r["acknowledged_200"], "{key}: {r}");
        assert_eq!(r["sent"], r["stored"], "{key}: {r}");
        assert!(r["sent"].as_u64().unwrap() > 0, "{key}: {r}");
    }
    for key in ["bare_fixed_rate", "bare_saturation"] {
        assert_eq!(
            report[key]["sent"], report[key]["acknowledged_200"],
            "{key}"
        );
    }
    assert_eq!(report["sqlite_raw_insert"].as_array().unwrap().len(), 4);
    for run in report["fanout"].as_array().unwrap() {
        let expected = run["subscribers"].as_u64().unwrap() * run["webhooks"].as_u64().unwrap();
        assert_eq!(run["events_checked"], expected, "{run}");
    }
    let size = &report["agent_api_at_size"];
    assert_eq!(size["list_first_page_all"]["rows"], 50, "{size}");
    assert!(
        size["list_first_page_active_only"]["rows"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(size["daemon_rss_kib_idle"].as_u64().unwrap() > 0);
    for key in ["outbound_ceiling_off", "outbound_ceiling_on"] {
        let r = &report[key];
        assert_eq!(r["messages"], r["requests"], "{key}: {r}");
    }
    assert_eq!(report["outbound_ceiling_on"]["ceiling_held"], true);
    let frames = report["tui_frame"]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 2, "{frames:?}");
    for fr in frames {
        assert_eq!(fr["n"], 20, "{fr}");
    }
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("| Figure |"));
}
