//! The forms of `lakeline status`: a terminal table that fits 100 columns (what needs attention
//! under it, with the commands that fix it), and one self-contained HTML page (inline CSS and
//! SVG charts, no script, nothing fetched) with the same tables and charts of deliveries, rows,
//! quarantine rate and commit lag per day. The JSON form is [`lakeline_core::status::Status`]
//! as it is.

use std::fmt::Write;

use lakeline_core::status::{age_text, DatasetStatus, Day, Status, COST_BASIS};

/// The widest terminal line of the table.
pub const WIDTH: usize = 100;

/// `1.2k`, `3.4M`: a count in at most 5 characters.
pub fn count(n: u64) -> String {
    match n {
        n if n < 10_000 => n.to_string(),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n => format!("{:.1}G", n as f64 / 1e9),
    }
}

fn seconds(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120.0 => format!("{s:.0}s"),
        Some(s) if s < 7200.0 => format!("{:.0}m", s / 60.0),
        Some(s) => format!("{:.0}h", s / 3600.0),
    }
}

/// Dollars, to the cent above one, with six decimals below (a day of a small dataset costs
/// fractions of a cent).
pub fn usd(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.6}")
    }
}

fn sla_text(d: &DatasetStatus) -> &'static str {
    match d.sla.state {
        "on_time" => "on time",
        "late" => "LATE",
        "missed" => "MISSED",
        _ => "-",
    }
}

/// The cells of one dataset's row, in [`HEADERS`] order.
fn cells(d: &DatasetStatus) -> Vec<String> {
    let cost = d.cost.lambda_usd_per_day + d.cost.spark_usd_per_day_at_least;
    vec![
        d.dataset.clone(),
        d.last_delivery
            .as_ref()
            .map_or("never".into(), |l| age_text(l.age_seconds)),
        sla_text(d).into(),
        format!("{}/{}", d.today.files, count(d.today.rows)),
        format!("{}/{}", d.last_7_days.files, count(d.last_7_days.rows)),
        d.quarantine_24h.files.to_string(),
        d.failures.len().to_string(),
        if d.table.error.is_some() {
            "?".into()
        } else {
            d.table.data_files.to_string()
        },
        format!("{:.0}%", d.table.small_file_share * 100.0),
        format!(
            "{}/{}",
            seconds(d.commit_lag.p50_seconds),
            seconds(d.commit_lag.p99_seconds)
        ),
        usd(cost),
    ]
}

/// The columns: (title, width).
pub const HEADERS: [(&str, usize); 11] = [
    ("DATASET", 16),
    ("LAST", 6),
    ("SLA", 7),
    ("TODAY f/r", 10),
    ("7 DAYS f/r", 11),
    ("QUAR", 4),
    ("FAIL", 4),
    ("FILES", 5),
    ("SMALL", 5),
    ("LAG p50/99", 11),
    ("$/DAY", 8),
];

fn row(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, (c, (_, w))) in cells.iter().zip(HEADERS).enumerate() {
        let c: String = if c.chars().count() > w {
            c.chars().take(w - 1).chain(['…']).collect()
        } else {
            c.clone()
        };
        if i > 0 {
            line.push(' ');
        }
        if i == 0 {
            let _ = write!(line, "{c:<w$}");
        } else {
            let _ = write!(line, "{c:>w$}");
        }
    }
    line.trim_end().to_string()
}

/// The terminal form.
pub fn terminal(s: &Status) -> String {
    let mut out = format!(
        "lakeline status · stack {} · {}\n\n",
        s.stack, s.generated_at
    );
    let titles: Vec<String> = HEADERS.iter().map(|(t, _)| t.to_string()).collect();
    out.push_str(&row(&titles));
    out.push('\n');
    for d in &s.datasets {
        out.push_str(&row(&cells(d)));
        out.push('\n');
    }
    let attention: Vec<&DatasetStatus> = s
        .datasets
        .iter()
        .filter(|d| !d.attention.is_empty())
        .collect();
    if attention.is_empty() {
        out.push_str("\nall datasets on time, nothing waits for a command.\n");
    }
    for d in attention {
        let _ = writeln!(out, "\n{}", d.dataset);
        for a in &d.attention {
            let _ = writeln!(out, "  ! {a}");
        }
        for f in &d.failures {
            let _ = writeln!(
                out,
                "    {} {} {} {}",
                f.status,
                f.error.as_deref().unwrap_or("-"),
                f.key.as_deref().unwrap_or("-"),
                f.at
            );
            let _ = writeln!(out, "      {}", f.fix);
        }
    }
    let _ = write!(
        out,
        "\nf/r: files/rows committed; LAG: upload to commit; $/DAY: {COST_BASIS}.\n"
    );
    out
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A bar chart of one value per day, as inline SVG; `label` formats a value.
fn chart(
    title: &str,
    days: &[Day],
    value: impl Fn(&Day) -> f64,
    label: impl Fn(f64) -> String,
) -> String {
    let (w, h, pad, top) = (420.0, 170.0, 28.0, 22.0);
    let values: Vec<f64> = days.iter().map(&value).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let slot = (w - 2.0 * pad) / values.len().max(1) as f64;
    let mut svg = format!(
        r#"<figure class="chart"><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}"><title>{t}</title><text x="{pad}" y="14" class="ct">{t}</text><line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>"#,
        t = escape(title),
        b = h - pad,
        r = w - pad,
    );
    for (i, (d, v)) in days.iter().zip(&values).enumerate() {
        let bh = if max > 0.0 {
            v / max * (h - pad - top - 12.0)
        } else {
            0.0
        };
        let x = pad + i as f64 * slot + slot * 0.15;
        let y = h - pad - bh;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" class="bar"><title>{date}: {l}</title></rect><text x="{cx:.1}" y="{ty:.1}" class="v">{l}</text><text x="{cx:.1}" y="{dy:.1}" class="d">{day}</text>"#,
            bw = slot * 0.7,
            cx = x + slot * 0.35,
            ty = y - 3.0,
            dy = h - pad + 14.0,
            date = escape(&d.date),
            day = escape(d.date.get(5..).unwrap_or(&d.date)),
            l = escape(&label(*v)),
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.meta{color:#57606a;margin-bottom:16px}table{border-collapse:collapse;margin:8px 0}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}
.facts td{text-align:left;white-space:normal}.late,.missed{color:#b42318;font-weight:600}.on_time{color:#1a7f37}
ul.attention{margin:6px 0;padding-left:18px}ul.attention li{color:#b42318}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:4px}
.bar{fill:#0969da}.axis{stroke:#8c959f}.ct{font-size:12px;font-weight:600;fill:#1b1f24}
.v,.d{font-size:10px;fill:#57606a;text-anchor:middle}code{font-size:12px;background:#f6f8fa;padding:1px 4px}
.basis{color:#57606a;font-size:12px;margin-top:24px}";

/// The HTML form: one self-contained page.
pub fn html(s: &Status) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>lakeline status · {stack}</title><style>{STYLE}</style></head><body>\n<h1>lakeline status</h1><div class=\"meta\">stack <b>{stack}</b> · generated {at} · {n} dataset(s)</div>\n",
        stack = escape(&s.stack),
        at = escape(&s.generated_at),
        n = s.datasets.len(),
    );
    out.push_str("<table id=\"overview\"><thead><tr>");
    for (t, _) in HEADERS {
        let _ = write!(out, "<th>{}</th>", escape(t));
    }
    out.push_str("</tr></thead><tbody>\n");
    for d in &s.datasets {
        let _ = write!(out, "<tr data-dataset=\"{}\">", escape(&d.dataset));
        for (i, c) in cells(d).iter().enumerate() {
            let class = if i == 2 {
                format!(" class=\"{}\"", d.sla.state)
            } else {
                String::new()
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    for d in &s.datasets {
        let _ = write!(
            out,
            "<section class=\"dataset\" id=\"ds-{0}\"><h2>{0}</h2>",
            escape(&d.dataset)
        );
        if d.attention.is_empty() {
            out.push_str("<p>On time; nothing waits for a command.</p>");
        } else {
            out.push_str("<ul class=\"attention\">");
            for a in &d.attention {
                let _ = write!(out, "<li>{}</li>", escape(a));
            }
            out.push_str("</ul>");
        }
        let last = d.last_delivery.as_ref().map_or("never".to_string(), |l| {
            format!("{} ({} ago)", l.key, age_text(l.age_seconds))
        });
        let reasons: Vec<String> = d
            .quarantine_24h
            .top_reasons
            .iter()
            .map(|r| format!("{} {}", r.files, r.reason))
            .collect();
        let facts = [
            ("last delivery", last),
            (
                "SLA",
                format!(
                    "{} (period {}, deadline {})",
                    sla_text(d),
                    d.sla.period.as_deref().unwrap_or("-"),
                    d.sla.deadline.as_deref().unwrap_or("-")
                ),
            ),
            ("today", format!("{} files, {} rows", d.today.files, d.today.rows)),
            (
                "last 7 days",
                format!("{} files, {} rows", d.last_7_days.files, d.last_7_days.rows),
            ),
            (
                "quarantined, 24 h",
                format!("{} ({})", d.quarantine_24h.files, reasons.join(", ")),
            ),
            (
                "table",
                match &d.table.error {
                    Some(e) => format!("unreadable: {e}"),
                    None => format!(
                        "{} snapshots, {} data files, {} rows, {} small ({:.0} %), last compaction {}",
                        d.table.snapshots,
                        d.table.data_files,
                        d.table.rows,
                        d.table.small_files,
                        d.table.small_file_share * 100.0,
                        d.table.last_compaction.as_deref().unwrap_or("never")
                    ),
                },
            ),
            (
                "commit lag",
                format!(
                    "p50 {}, p99 {} ({} deliveries)",
                    seconds(d.commit_lag.p50_seconds),
                    seconds(d.commit_lag.p99_seconds),
                    d.commit_lag.samples
                ),
            ),
            (
                "cost per day",
                format!(
                    "${} Lambda and Step Functions; {:.1} Spark runs, at least ${}",
                    usd(d.cost.lambda_usd_per_day),
                    d.cost.spark_runs_per_day,
                    usd(d.cost.spark_usd_per_day_at_least)
                ),
            ),
        ];
        out.push_str("<table class=\"facts\"><tbody>");
        for (k, v) in facts {
            let _ = write!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k),
                escape(&v)
            );
        }
        out.push_str("</tbody></table>");
        if !d.failures.is_empty() {
            out.push_str("<table class=\"failures\"><thead><tr><th>execution</th><th>status</th><th>error</th><th>upload</th><th>what to run</th></tr></thead><tbody>");
            for f in &d.failures {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&f.execution),
                    escape(&f.status),
                    escape(f.error.as_deref().unwrap_or("-")),
                    escape(f.key.as_deref().unwrap_or("-")),
                    escape(&f.fix)
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("<div class=\"charts\">");
        out.push_str(&chart(
            "deliveries per day",
            &d.days,
            |x| x.deliveries as f64,
            |v| count(v as u64),
        ));
        out.push_str(&chart(
            "rows per day",
            &d.days,
            |x| x.rows as f64,
            |v| count(v as u64),
        ));
        out.push_str(&chart(
            "quarantine rate",
            &d.days,
            |x| x.quarantine_rate * 100.0,
            |v| format!("{v:.0}%"),
        ));
        out.push_str(&chart(
            "commit lag, median",
            &d.days,
            |x| x.lag_p50_seconds.unwrap_or(0.0),
            |v| seconds(Some(v)),
        ));
        out.push_str("</div></section>\n");
    }
    let _ = write!(
        out,
        "<p class=\"basis\">Cost: {}.</p>\n</body></html>\n",
        escape(COST_BASIS)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakeline_core::registry::Format;
    use lakeline_core::status::{summarize, Facts, Failure, TableFacts, Upload};

    fn status() -> Status {
        let now = 1_796_515_200 + 36_000;
        let f = Facts {
            dataset: "orders<&>".into(),
            expect: None,
            format: Format::Csv,
            compression: lakeline_core::registry::Compression::Auto,
            small_below: 96 << 20,
            min_small_files: 5,
            uploads: vec![Upload {
                key: "raw/orders/dt=2026-12-06/a.csv".into(),
                at: now - 60,
                bytes: 10,
            }],
            quarantined: vec![],
            table: Ok(TableFacts::default()),
            failures: vec![Failure {
                arn: "arn:aws:states:us-east-1:123456789012:execution:lakeline-pipeline:orders-2026-12-06-a-0123456789abcdef0123".into(),
                at: now - 30,
                status: "FAILED".into(),
                error: Some("Lakeline.JobFailed".into()),
                key: Some("raw/orders/dt=2026-12-06/a.csv".into()),
                rerun: false,
            }],
        };
        Status {
            schema: lakeline_core::status::SCHEMA,
            stack: "lake".into(),
            generated_at: "2026-12-06T10:00:00Z".into(),
            datasets: vec![summarize(&f, now)],
        }
    }

    #[test]
    fn the_terminal_table_fits_100_columns_and_says_what_to_run() {
        let text = terminal(&status());
        let table: Vec<&str> = text.lines().skip(2).take(2).collect();
        for l in &table {
            assert!(
                l.chars().count() <= WIDTH,
                "{} > {WIDTH}: {l}",
                l.chars().count()
            );
        }
        assert!(table[0].starts_with("DATASET"), "{text}");
        assert!(table[1].starts_with("orders<&>"), "{text}");
        assert!(
            text.contains("! 1 failed execution(s) wait for a command (redrive or rerun)"),
            "{text}"
        );
        assert!(text.contains("lakeline rerun arn:aws:states:us-east-1:123456789012:execution:lakeline-pipeline:orders-2026-12-06-a-"), "{text}");
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let page = html(&status());
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("orders&lt;&amp;&gt;"));
        assert!(!page.contains("orders<&>"));
        for remote in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!page.contains(remote), "{remote}");
        }
        assert_eq!(page.matches("<svg").count(), 4);
    }

    #[test]
    fn counts_are_short() {
        for (n, want) in [(999, "999"), (12_345, "12.3k"), (3_400_000, "3.4M")] {
            assert_eq!(count(n), want);
        }
    }
}
