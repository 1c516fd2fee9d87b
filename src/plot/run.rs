//! A procedure run as a chart (`canrelearn plot --run REPORT.json`): the values the run polled
//! (one line per poll step) and the live signals its preconditions watched (the battery
//! voltage...), over the run's time line, with each step's span marked. Built from the
//! [`RunReport`] that `canrelearn run --report` writes, so the picture shows exactly what the
//! report says.

use core::time::Duration;

use super::{Axis, Chart, Mark, Panel, PlotError, Series, median_gap, split, thin};
use crate::procedure::report::RunReport;
use crate::time::Timestamp;

/// The shortest default line break for a watched signal: its values are kept when they
/// change or once a second, so a steady value has one-second gaps that are not silence.
const SIGNAL_BREAK_FLOOR_S: f64 = 3.0;

/// A run report's chart, ready to show ([`plot`]).
#[derive(Debug, Clone)]
pub struct RunPlot {
    /// The chart ([`chart`]).
    pub chart: Chart,
    /// What it shows, in a line ([`note`]).
    pub note: String,
    /// When the run stopped keeping values at its limit: that the plot ends early.
    pub warning: Option<String>,
}

/// Why a run report cannot be plotted.
#[derive(Debug, thiserror::Error)]
pub enum RunPlotError {
    /// The text is not a run report's JSON.
    #[error("{line}:{column}: not a run report (`canrelearn run --report` writes them): {source}")]
    NotAReport {
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
        /// What serde_json says.
        #[source]
        source: serde_json::Error,
    },
    /// The report holds nothing to plot ([`PlotError::EmptyReport`]).
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// The chart of a run report's JSON `text` (as [`chart`]), its note, and the warning that
/// the plot ends early when the run dropped values past its limit.
pub fn plot(
    text: &str,
    break_time: Option<f64>,
    max_points: usize,
) -> Result<RunPlot, RunPlotError> {
    let report = RunReport::from_json(text).map_err(|e| RunPlotError::NotAReport {
        line: e.line(),
        column: e.column(),
        source: e,
    })?;
    let chart = chart(&report, break_time, max_points)?;
    let warning = (report.samples_dropped > 0).then(|| {
        format!(
            "the run kept no more values after its limit; {} were not recorded, so the plot ends early",
            report.samples_dropped
        )
    });
    let note = note(&report, &chart);
    Ok(RunPlot {
        chart,
        note,
        warning,
    })
}

/// What the chart of `report` shows, in a line: the procedure, its outcome and start, and the
/// chart's lines and steps (`bms-battery-registration completed (2025-...Z), 3 lines, 8
/// steps`).
pub fn note(report: &RunReport, chart: &Chart) -> String {
    let series = chart.series().count();
    format!(
        "{} {} ({}), {series} line{}, {} step{}",
        report.procedure,
        report.outcome,
        report.started,
        if series == 1 { "" } else { "s" },
        chart.marks.len(),
        if chart.marks.len() == 1 { "" } else { "s" },
    )
}

/// The chart of `report`: a panel per watched signal, then one with the polled values, and
/// a [`Mark`] per step that ran. `break_time` breaks lines at longer gaps (default: 10
/// median intervals, and never under 3 s for signals); at most about `max_points` points are
/// drawn per series; values hold until the next (drawn as steps). A report that holds no value (a dry run, a run that failed before it
/// polled or saw a watched signal, or one written before reports kept values) is
/// [`PlotError::EmptyReport`].
pub fn chart(
    report: &RunReport,
    break_time: Option<f64>,
    max_points: usize,
) -> Result<Chart, PlotError> {
    let mut panels = Vec::new();
    for (name, entry) in &report.signals {
        let points: Vec<(f64, f64)> = entry
            .samples
            .iter()
            .map(|&[t, v]| (t, v))
            .filter(|(t, v)| t.is_finite() && v.is_finite())
            .collect();
        if points.is_empty() {
            continue;
        }
        let limit = break_time.unwrap_or_else(|| {
            median_gap(&points).map_or(SIGNAL_BREAK_FLOOR_S, |m| {
                (m * 10.0).max(SIGNAL_BREAK_FLOOR_S)
            })
        });
        panels.push(Panel {
            axes: [
                Axis {
                    series: vec![series(name, &entry.unit, points, Some(limit), max_points)],
                },
                Axis::default(),
            ],
        });
    }
    // Poll steps in the order they first polled.
    let mut steps: Vec<&str> = Vec::new();
    for p in &report.polls {
        if !steps.contains(&p.step.as_str()) {
            steps.push(&p.step);
        }
    }
    if !steps.is_empty() {
        let polled = steps
            .iter()
            .map(|step| {
                let points = report
                    .polls
                    .iter()
                    .filter(|p| p.step == *step && p.t_s.is_finite() && p.value.is_finite())
                    .map(|p| (p.t_s, p.value))
                    .collect();
                series(
                    &format!("{step} (polled)"),
                    "",
                    points,
                    break_time,
                    max_points,
                )
            })
            .collect();
        panels.push(Panel {
            axes: [Axis { series: polled }, Axis::default()],
        });
    }
    if panels.is_empty() {
        return Err(PlotError::EmptyReport {
            outcome: report.outcome.clone(),
            dry_run: report.dry_run,
        });
    }
    let marks = report
        .steps
        .iter()
        .filter_map(|s| {
            let from = s.started_s?;
            Some(Mark {
                from,
                to: s.ended_s.unwrap_or(report.duration_s).max(from),
                label: s.id.clone(),
                failed: s.result == "failed" || s.result == "aborted",
            })
        })
        .collect::<Vec<_>>();
    // The run's span, widened to every value shown (signals seen before it started).
    let mut lo = 0.0f64;
    let mut hi = report.duration_s.max(0.0);
    for p in &panels {
        for &(t, _) in p.axes[0]
            .series
            .iter()
            .flat_map(|s| s.segments.iter().flatten())
        {
            lo = lo.min(t);
            hi = hi.max(t);
        }
    }
    let start = Duration::try_from_secs_f64(report.started_unix_s)
        .ok()
        .and_then(|d| Timestamp::ZERO.checked_add(d))
        .unwrap_or(Timestamp::ZERO);
    Ok(Chart {
        start,
        span: (lo, hi),
        panels,
        marks,
    })
}

fn series(
    name: &str,
    unit: &str,
    points: Vec<(f64, f64)>,
    break_time: Option<f64>,
    max_points: usize,
) -> Series {
    let n = points.len() as u64;
    Series {
        name: name.to_string(),
        unit: unit.to_string(),
        labels: Vec::new(),
        segments: thin(split(points, break_time), max_points)
            .into_iter()
            .map(hold)
            .collect(),
        points: n,
    }
}

/// The points as steps: a value holds until the next one (what a polled status or a signal
/// kept only when it changed means), not a ramp between them.
fn hold(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for p in points {
        if let Some(&(_, v)) = out.last()
            && v != p.1
        {
            out.push((p.0, v));
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `run --report` writes it, with the given measurements.
    fn report(polls: &str, signals: &str, steps: &str) -> RunReport {
        RunReport::from_json(&report_text(polls, signals, steps)).unwrap()
    }

    /// The JSON of [`report`].
    fn report_text(polls: &str, signals: &str, steps: &str) -> String {
        format!(
            r#"{{"procedure": "p", "script": "s", "interface": "sim", "outcome": "failed",
            "reason": "x", "failed_step": "wait", "dry_run": false,
            "started": "2026-12-05T15:00:00Z", "started_unix_s": 1796482800.0, "duration_s": 10.0,
            "parameters": {{}}, "steps": [{steps}], "cleanup": [], "frames_sent": 1,
            "frames_received": 1, "transcript": null, "tool": "canrelearn test",
            "polls": [{polls}], "signals": {{{signals}}}}}"#
        )
    }

    #[test]
    fn test_plot_reads_the_report_and_warns_of_dropped_values() {
        let poll = r#"{"step": "wait", "attempt": 1, "t_s": 2.0, "value": 0}"#;
        let text = report_text(poll, "", STEPS);
        let p = plot(&text, None, 1000).unwrap();
        assert_eq!(p.note, "p failed (2026-12-05T15:00:00Z), 1 line, 2 steps");
        assert_eq!(p.chart.series().count(), 1);
        assert!(p.warning.is_none());

        let dropped = text.replacen('{', r#"{"samples_dropped": 7, "#, 1);
        assert_eq!(
            plot(&dropped, None, 1000).unwrap().warning.as_deref(),
            Some(
                "the run kept no more values after its limit; 7 were not recorded, so the plot ends early"
            )
        );

        let e = plot("{\n  \"procedure\": 3\n}", None, 1000).unwrap_err();
        let RunPlotError::NotAReport { line, column, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (2, 16));
        assert!(
            e.to_string().starts_with(
                "2:16: not a run report (`canrelearn run --report` writes them): invalid type"
            ),
            "{e}"
        );

        let empty = plot(&report_text("", "", STEPS), None, 1000).unwrap_err();
        assert!(matches!(
            empty,
            RunPlotError::Plot(PlotError::EmptyReport { .. })
        ));
    }

    const STEPS: &str = r#"
        {"id": "open", "title": "t", "kind": "session", "provenance": null, "source": null,
         "result": "passed", "reason": null, "started_s": 0.5, "ended_s": 1.0, "duration_s": 0.5, "detail": null},
        {"id": "wait", "title": "t", "kind": "poll", "provenance": null, "source": null,
         "result": "failed", "reason": "timeout", "started_s": 1.0, "ended_s": null, "duration_s": null, "detail": null},
        {"id": "later", "title": "t", "kind": "read", "provenance": null, "source": null,
         "result": "not_run", "reason": null, "started_s": null, "ended_s": null, "duration_s": null, "detail": null}"#;

    #[test]
    fn test_a_panel_per_signal_then_the_polls_with_steps_marked() {
        let r = report(
            r#"{"step": "wait", "attempt": 1, "t_s": 2.0, "value": 0},
               {"step": "wait", "attempt": 2, "t_s": 3.0, "value": 0},
               {"step": "wait", "attempt": 3, "t_s": 4.0, "value": 1}"#,
            r#""BATTERY.VOLTAGE": {"unit": "V", "samples": [[-0.5, 12.5], [0.5, 12.5], [1.5, 12.1]]}"#,
            STEPS,
        );
        let c = chart(&r, None, 1000).unwrap();
        assert_eq!(c.panels.len(), 2);
        let v = &c.panels[0].axes[0];
        assert_eq!(v.title(), "VOLTAGE [V]");
        // Values hold until the next one: a step, not a ramp.
        assert_eq!(
            v.series[0].segments,
            vec![vec![(-0.5, 12.5), (0.5, 12.5), (1.5, 12.5), (1.5, 12.1)]]
        );
        assert_eq!(v.series[0].points, 3);
        let polled = &c.panels[1].axes[0].series[0];
        assert_eq!(polled.name, "wait (polled)");
        assert_eq!(
            polled.segments,
            vec![vec![(2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (4.0, 1.0)]]
        );
        // The span covers the run and a value seen before it started.
        assert_eq!(c.span, (-0.5, 10.0));
        assert_eq!(c.start.secs(), 1_796_482_800);
        // Steps that ran are marked; one still running at the end lasts to the end.
        assert_eq!(
            c.marks,
            vec![
                Mark {
                    from: 0.5,
                    to: 1.0,
                    label: "open".into(),
                    failed: false
                },
                Mark {
                    from: 1.0,
                    to: 10.0,
                    label: "wait".into(),
                    failed: true
                },
            ]
        );
    }

    #[test]
    fn test_the_note_names_the_run_and_counts_lines_and_steps() {
        let one = |t: f64| format!(r#"{{"step": "wait", "attempt": 1, "t_s": {t}, "value": 0}}"#);
        let r = report(&one(2.0), "", STEPS);
        let c = chart(&r, None, 1000).unwrap();
        assert_eq!(
            note(&r, &c),
            "p failed (2026-12-05T15:00:00Z), 1 line, 2 steps"
        );
        let r = report(
            &one(2.0),
            r#""B.V": {"unit": "V", "samples": [[0.0, 12.0]]}"#,
            r#"{"id": "open", "title": "t", "kind": "session", "provenance": null,
                "source": null, "result": "passed", "reason": null, "started_s": 0.5,
                "ended_s": 1.0, "duration_s": 0.5, "detail": null}"#,
        );
        let c = chart(&r, None, 1000).unwrap();
        assert_eq!(
            note(&r, &c),
            "p failed (2026-12-05T15:00:00Z), 2 lines, 1 step"
        );
    }

    #[test]
    fn test_a_steady_signal_kept_once_a_second_is_one_line() {
        let samples: Vec<String> = (0..20).map(|i| format!("[{i}.0, 12.0]")).collect();
        let r = report(
            "",
            &format!(
                r#""B.V": {{"unit": "V", "samples": [{}]}}"#,
                samples.join(",")
            ),
            STEPS,
        );
        let c = chart(&r, None, 1000).unwrap();
        assert_eq!(c.panels[0].axes[0].series[0].segments.len(), 1);
        // A silence longer than the floor breaks it.
        let r = report(
            "",
            r#""B.V": {"unit": "V", "samples": [[0.0, 12.0], [1.0, 12.0], [2.0, 12.0], [3.0, 12.0], [25.0, 12.0]]}"#,
            STEPS,
        );
        let c = chart(&r, None, 1000).unwrap();
        assert_eq!(c.panels[0].axes[0].series[0].segments.len(), 2);
    }

    #[test]
    fn test_a_report_without_values_is_an_error() {
        let r = report("", "", STEPS);
        assert_eq!(
            chart(&r, None, 1000),
            Err(PlotError::EmptyReport {
                outcome: "failed".into(),
                dry_run: false
            })
        );
        // A report from before reports kept values reads, and has none.
        let mut v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for k in ["polls", "signals", "samples_dropped"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let old = RunReport::from_json(&v.to_string()).unwrap();
        assert_eq!(old, r);
    }
}
