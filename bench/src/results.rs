//! target/bench/results.json, rewritten after every row, and a one-line
//! summary of each row on stdout as the run goes (hack/bench-table.py makes
//! the tables of docs/benchmarks.md from the JSON).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

pub struct Results {
    pub path: PathBuf,
    pub rows: Vec<Value>,
    /// Settings of the run, written beside the rows.
    pub run: Value,
}

impl Results {
    pub fn push(&mut self, row: Value) -> Result<()> {
        println!("{}", line(&row));
        self.rows.push(row);
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(
            &self.path,
            serde_json::to_string_pretty(&json!({"run": self.run, "rows": self.rows}))?,
        )?;
        Ok(())
    }
}

/// A field for the one-line summary: integers as such, other numbers with
/// three decimals, a spread as its median and range.
fn f(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{:.3}", n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Object(o)) if o.contains_key("median") => format!(
            "{} [{}–{}]",
            f(&v[k], "median"),
            f(&v[k], "min"),
            f(&v[k], "max")
        ),
        _ => "-".into(),
    }
}

fn line(r: &Value) -> String {
    let w = r["workload"].as_str().unwrap_or("");
    let fields: &[&str] = match w {
        "raw" => &[
            "transport",
            "n",
            "round",
            "jobs_seen",
            "all_exist_ms",
            "jobs_per_s",
        ],
        "raw-summary" => &[
            "transport",
            "n",
            "bursts",
            "all_exist_ms",
            "jobs_per_s",
            "ceiling",
        ],
        "burst" => &[
            "contender",
            "n",
            "round",
            "order",
            "jobs_seen",
            "statuses_seen",
            "all_exist_ms",
            "status_all_ms",
            "p50_ms",
            "p99_ms",
        ],
        "latency" => &[
            "contender",
            "n",
            "bursts",
            "complete_bursts",
            "all_exist_ms",
            "status_all_ms",
            "p99_ms",
            "fraction_of_raw",
        ],
        "writes" => &[
            "request",
            "n",
            "requests_per_s",
            "apiserver_cpu_ms_per_request",
        ],
        "steady" | "scale" => &[
            "contender",
            "n",
            "caches_synced_ms",
            "startup_ms",
            "rss_steady_kib",
            "rss_startup_peak_kib",
            "rss_relist_peak_kib",
            "kib_per_object",
            "cpu_idle_s",
            "idle_requests",
            "relisted",
        ],
        "steady-setup" | "scale-setup" => &[
            "n",
            "jobs",
            "setup_s",
            "etcd_db_bytes",
            "apiserver_rss_kib",
            "etcd_rss_kib",
        ],
        "apf-burst" => &[
            "config",
            "n",
            "round",
            "order",
            "jobs_seen",
            "all_exist_ms",
            "status_all_ms",
            "p99_ms",
            "noise_requests_per_s",
        ],
        "apf" => &[
            "config",
            "n",
            "bursts",
            "complete_bursts",
            "all_exist_ms",
            "status_all_ms",
            "p99_ms",
        ],
        _ => &[],
    };
    if fields.is_empty() {
        return format!("| {w} | {r} |");
    }
    let mut s = format!("| {w} |");
    for k in fields {
        s.push_str(&format!(" {k} {} |", f(r, k)));
    }
    s
}
