//! Self-contained HTML pages: inline CSS and SVG charts drawn here. There is no script, no
//! font, no image: nothing on the page asks for anything, so it works from a mail
//! attachment or a shared folder offline. Every chart is followed by a table of the numbers
//! it draws (readable by screen readers, copyable into a spreadsheet). Pure: data in, text out.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use crate::warehouse::replace_local_file;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2433;margin:0;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}.note{color:#5b6475;margin:4px 0 8px}
figure{background:#fff;border:1px solid #d8dce3;border-radius:6px;margin:12px 0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}
svg{display:block;width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#5b6475}
svg .empty{font-size:14px}.grid{stroke:#e6e9ee}.axis{stroke:#9aa3b2}
table{border-collapse:collapse;margin-top:10px;font-variant-numeric:tabular-nums;font-size:13px}
th,td{border:1px solid #e1e4ea;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f2f5}
td.n{text-align:right}.ok{color:#2f7d32}.bad{color:#b3261e}.warn{color:#9a6700}
details summary{cursor:pointer;color:#3b5bdb;margin-top:8px}
";

/// Series colours, colour-blind safe in order (Tableau 10).
const PALETTE: [&str; 6] = [
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2",
];

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// An HTML page being written.
pub struct Page {
    html: String,
}

impl Page {
    pub fn new(title: &str, subtitle: &str) -> Self {
        let mut html =
            String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        let _ = write!(
            html,
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main><h1>{}</h1><p class=\"sub\">{}</p>",
            escape(title),
            escape(title),
            escape(subtitle)
        );
        Self { html }
    }

    pub fn section(&mut self, heading: &str, note: &str) {
        let _ = write!(self.html, "<h2>{}</h2>", escape(heading));
        if !note.is_empty() {
            let _ = write!(self.html, "<p class=\"note\">{}</p>", escape(note));
        }
    }

    /// A chart with its caption and the table of its numbers. `id` names both for tests.
    pub fn chart(&mut self, id: &str, caption: &str, svg: &str, table: &HtmlTable) {
        let _ = write!(
            self.html,
            "<figure data-chart=\"{id}\"><figcaption>{}</figcaption>{svg}<details{}><summary>The numbers ({} rows)</summary>{}</details></figure>",
            escape(caption),
            // Short tables are open; long ones one click away, in the page all the same.
            if table.rows.len() <= 12 { " open" } else { "" },
            table.rows.len(),
            table.html(id)
        );
    }

    /// A table on its own (no chart draws these numbers).
    pub fn table(&mut self, id: &str, table: &HtmlTable) {
        self.html.push_str(&table.html(id));
    }

    pub fn finish(mut self) -> String {
        self.html.push_str("</main></body></html>\n");
        self.html
    }
}

/// A cell of a numbers table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Shown with 4 decimals; `None` is an empty cell (the figure is undefined).
    Ratio(Option<f64>),
    /// A drawing made by this module (a sparkline); its numbers are in other cells.
    Markup(String),
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    fn html(&self) -> String {
        match self {
            Cell::Text(text) => format!("<td>{}</td>", escape(text)),
            Cell::Int(n) => format!("<td class=\"n\">{n}</td>"),
            Cell::Ratio(Some(v)) if v.is_finite() => format!("<td class=\"n\">{v:.4}</td>"),
            Cell::Ratio(_) => "<td class=\"n\"></td>".into(),
            Cell::Markup(markup) => format!("<td>{markup}</td>"),
        }
    }
}

#[derive(Debug, Default)]
pub struct HtmlTable {
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl HtmlTable {
    pub fn new(head: &[&str]) -> Self {
        Self {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    fn html(&self, id: &str) -> String {
        let mut html = format!("<table data-table=\"{id}\"><thead><tr>");
        for head in &self.head {
            let _ = write!(html, "<th scope=\"col\">{}</th>", escape(head));
        }
        html.push_str("</tr></thead><tbody>");
        for row in &self.rows {
            html.push_str("<tr>");
            for cell in row {
                html.push_str(&cell.html());
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        html
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// One named series of a chart; `None` is a gap (the figure is undefined that day).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

const WIDTH: f64 = 960.0;
const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = 12.0;
const PLOT_TOP: f64 = 14.0;
const PLOT_BOTTOM: f64 = 36.0;

/// An SVG holding only a message: a chart without data says so instead of drawing nothing.
pub fn empty(message: &str) -> String {
    format!(
        "<svg viewBox=\"0 0 {WIDTH} 60\" role=\"img\" aria-label=\"{m}\"><text class=\"empty\" x=\"{x}\" y=\"36\" text-anchor=\"middle\">{m}</text></svg>",
        x = WIDTH / 2.0,
        m = escape(message)
    )
}

/// Vertical bars, grouped when there are several series, with a y axis from zero.
pub fn columns(labels: &[String], series: &[Series], height: f64) -> String {
    columns_with_intervals(labels, series, &[], height)
}

/// [`columns`], each bar with an error bar where `intervals[series][label]` gives one.
pub fn columns_with_intervals(
    labels: &[String],
    series: &[Series],
    intervals: &[Vec<Option<(f64, f64)>>],
    height: f64,
) -> String {
    let (plot, mut svg) = Plot::open(labels, series, height);
    let slot = plot.width() / labels.len().max(1) as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).max(1.0);
    for (i, label) in labels.iter().enumerate() {
        let x0 = PLOT_LEFT + slot * i as f64 + slot * 0.1;
        for (s, one) in series.iter().enumerate() {
            if let Some(value) = one.values.get(i).copied().flatten() {
                let y = plot.y(value);
                let _ = write!(
                    svg,
                    "<rect class=\"mark\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}{}: {}</title></rect>",
                    x0 + bar * s as f64,
                    plot.y(0.0) - y,
                    colour(s),
                    escape(label),
                    series_name(series, s),
                    number(value)
                );
            }
            if let Some((low, high)) = intervals
                .get(s)
                .and_then(|one| one.get(i))
                .copied()
                .flatten()
            {
                let x = x0 + bar * (s as f64 + 0.5);
                let _ = write!(
                    svg,
                    "<path class=\"interval\" d=\"M{:.1} {:.1}V{:.1}M{:.1} {:.1}h{:.1}M{:.1} {:.1}h{:.1}\" stroke=\"#222\" fill=\"none\"><title>95% interval {} to {}</title></path>",
                    x, plot.y(high), plot.y(low),
                    x - bar / 4.0, plot.y(high), bar / 2.0,
                    x - bar / 4.0, plot.y(low), bar / 2.0,
                    number(low), number(high)
                );
            }
        }
        plot.x_label(&mut svg, labels, i, PLOT_LEFT + slot * (i as f64 + 0.5));
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// A line per series over the labels (days), with a dot at each defined value.
pub fn lines(labels: &[String], series: &[Series], height: f64) -> String {
    let (plot, mut svg) = Plot::open(labels, series, height);
    let step = plot.width() / labels.len().max(1) as f64;
    let x = |i: usize| PLOT_LEFT + step * (i as f64 + 0.5);
    for (s, one) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in one.values.iter().enumerate() {
            match value {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        plot.y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            "<path class=\"mark\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            path.trim_end(),
            colour(s)
        );
        for (i, value) in one.values.iter().enumerate() {
            if let Some(v) = value {
                let _ = write!(
                    svg,
                    "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{}{}: {}</title></circle>",
                    x(i),
                    plot.y(*v),
                    colour(s),
                    escape(&labels[i]),
                    series_name(series, s),
                    number(*v)
                );
            }
        }
    }
    for i in 0..labels.len() {
        plot.x_label(&mut svg, labels, i, x(i));
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per label (long labels: terms, stickers, error texts, tailers).
pub fn bars(labels: &[String], values: &[f64], unit: &str) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 300.0;
    let height = ROW * labels.len() as f64 + 8.0;
    let max = max_value(values.iter().copied());
    let room = WIDTH - LABEL - 90.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(&format!("{} bars, largest {}", labels.len(), number(max)))
    );
    for (i, (label, value)) in labels.iter().zip(values).enumerate() {
        let y = 4.0 + ROW * i as f64;
        let width = (value / max * room).max(if *value > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"mark\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {} {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{} {}</text>",
            LABEL - 8.0,
            y + 15.0,
            escape(&shorten(label, 48)),
            ROW - 6.0,
            colour(0),
            escape(label),
            number(*value),
            escape(unit),
            LABEL + width + 6.0,
            y + 15.0,
            number(*value),
            escape(unit)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// [`bars`] of `items`, or [`empty`] with `empty_message` when there are none.
pub fn bars_of<T>(
    items: &[T],
    empty_message: &str,
    unit: &str,
    label: impl Fn(&T) -> String,
    value: impl Fn(&T) -> f64,
) -> String {
    if items.is_empty() {
        return empty(empty_message);
    }
    let labels: Vec<String> = items.iter().map(label).collect();
    let values: Vec<f64> = items.iter().map(value).collect();
    bars(&labels, &values, unit)
}

/// A word-sized line chart for a table cell.
pub fn sparkline(values: &[f64]) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let max = max_value(values.iter().copied());
    let step = W / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                step * i as f64,
                H - 2.0 - v / max * (H - 4.0)
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"trend\" style=\"width:{W}px\"><polyline class=\"mark\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/></svg>",
        points.join(" "),
        colour(0)
    )
}

/// The state of one day in a strip of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayState {
    Fresh,
    Stale,
    Incomplete,
    NoData,
}

impl DayState {
    pub fn label(self) -> &'static str {
        match self {
            DayState::Fresh => "complete, jobs fresh",
            DayState::Stale => "stale job output",
            DayState::Incomplete => "incomplete",
            DayState::NoData => "no data",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            DayState::Fresh => "#54A24B",
            DayState::Stale => "#F2B701",
            DayState::Incomplete => "#E45756",
            DayState::NoData => "#C9CED6",
        }
    }
}

/// One coloured cell per day, with its date under it.
pub fn day_strip(days: &[(String, DayState)]) -> String {
    let cell = (WIDTH - 20.0) / days.len().max(1) as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH} 78\" role=\"img\" aria-label=\"state of {} days\">",
        days.len()
    );
    for (i, (day, state)) in days.iter().enumerate() {
        let x = 10.0 + cell * i as f64;
        let _ = write!(
            svg,
            "<rect class=\"mark\" x=\"{:.1}\" y=\"4\" width=\"{:.1}\" height=\"34\" rx=\"3\" fill=\"{}\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"54\" text-anchor=\"middle\">{}</text>",
            x + 1.0,
            cell - 2.0,
            state.fill(),
            escape(day),
            state.label(),
            x + cell / 2.0,
            escape(day.get(5..).unwrap_or(day))
        );
    }
    let states = [
        DayState::Fresh,
        DayState::Stale,
        DayState::Incomplete,
        DayState::NoData,
    ];
    for (i, state) in states.iter().enumerate() {
        let x = 10.0 + 190.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"64\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"73\">{}</text>",
            state.fill(),
            x + 14.0,
            state.label()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The plotting area of a chart with a y axis from zero to a rounded maximum.
struct Plot {
    height: f64,
    top: f64,
    ticks: usize,
}

impl Plot {
    /// The plot scaled to the series' largest value, and the chart's opening SVG.
    fn open(labels: &[String], series: &[Series], height: f64) -> (Self, String) {
        let max = max_value(
            series
                .iter()
                .flat_map(|s| s.values.iter().flatten().copied()),
        );
        let top = nice_ceiling(max);
        let plot = Self {
            height,
            top,
            ticks: ticks(top),
        };
        let svg = plot.axes(&aria(labels, series));
        (plot, svg)
    }

    fn width(&self) -> f64 {
        WIDTH - PLOT_LEFT - PLOT_RIGHT
    }

    fn y(&self, value: f64) -> f64 {
        let bottom = self.height - PLOT_BOTTOM;
        bottom - value / self.top * (bottom - PLOT_TOP)
    }

    /// The opening tag, grid lines and y-axis labels.
    fn axes(&self, label: &str) -> String {
        let mut svg = format!(
            "<svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{}\">",
            self.height,
            escape(label)
        );
        for tick in 0..=self.ticks {
            let value = self.top * tick as f64 / self.ticks as f64;
            let y = self.y(value);
            let _ = write!(
                svg,
                "<line class=\"{}\" x1=\"{PLOT_LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                if tick == 0 { "axis" } else { "grid" },
                WIDTH - PLOT_RIGHT,
                PLOT_LEFT - 6.0,
                y + 4.0,
                number(value)
            );
        }
        svg
    }

    /// The label under slot `i`, thinned out so that labels never overlap.
    fn x_label(&self, svg: &mut String, labels: &[String], i: usize, x: f64) {
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64;
        let fits = (self.width() / (longest * 7.0 + 6.0)).floor().max(1.0) as usize;
        let every = labels.len().div_ceil(fits).max(1);
        if i.is_multiple_of(every) {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                self.height - PLOT_BOTTOM + 16.0,
                escape(&labels[i])
            );
        }
    }
}

fn legend(svg: &mut String, series: &[Series]) {
    if series.len() < 2 {
        return;
    }
    for (i, one) in series.iter().enumerate() {
        let x = PLOT_LEFT + 150.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"0\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"9\">{}</text>",
            colour(i),
            x + 14.0,
            escape(&shorten(&one.name, 20))
        );
    }
}

fn aria(labels: &[String], series: &[Series]) -> String {
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    format!("{} over {} points", names.join(", "), labels.len())
}

fn series_name(series: &[Series], i: usize) -> String {
    if series.len() < 2 {
        String::new()
    } else {
        format!(" ({})", escape(&series[i].name))
    }
}

/// The largest value, or 1 when there is none above zero (so scales never divide by zero).
fn max_value(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    if max > 0.0 {
        max
    } else {
        1.0
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `max`: axis labels people can read.
fn nice_ceiling(max: f64) -> f64 {
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= max)
        .unwrap_or(max)
}

/// Grid lines for an axis top from [`nice_ceiling`], so that every step is round too.
fn ticks(top: f64) -> usize {
    let mantissa = top / 10f64.powf(top.log10().floor());
    if (mantissa - 2.0).abs() < 1e-9 {
        4
    } else {
        5
    }
}

/// Integers without decimals, fractions with up to 4.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Writes the page whole or not at all: a reader of `path` never sees half a page.
pub fn write_page(path: &Path, page: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if path == Path::new("-") {
        std::io::stdout().lock().write_all(page.as_bytes())?;
        return Ok(());
    }
    replace_local_file(path, page.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere() {
        let mut page = Page::new("<t>", "a & b");
        let mut table = HtmlTable::new(&["\"h\""]);
        table.row(vec![Cell::text("<script>")]);
        let svg = bars(&["<x>".into()], &[3.0], "");
        page.chart("c", "'cap'", &svg, &table);
        let html = page.finish();
        assert!(!html.contains("<script>") && !html.contains("<x>") && !html.contains("<t>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("&#39;cap&#39;"));
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(0.23), 0.25);
        assert_eq!(nice_ceiling(4100.0), 5000.0);
        let steps = |top: f64| top / ticks(top) as f64;
        assert_eq!(
            [steps(1.0), steps(200.0), steps(0.25), steps(5000.0)],
            [0.2, 50.0, 0.05, 1000.0]
        );
    }

    #[test]
    fn bars_are_proportional_and_inside_the_plot() {
        let svg = columns(
            &["a".into(), "b".into()],
            &[Series {
                name: "n".into(),
                values: vec![Some(5.0), Some(10.0)],
            }],
            200.0,
        );
        let heights: Vec<f64> = svg
            .split("height=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(heights.len(), 2);
        assert!((heights[1] - 2.0 * heights[0]).abs() < 0.2, "{heights:?}");
        assert!(heights[1] <= 200.0 - PLOT_TOP - PLOT_BOTTOM + 0.01);
    }

    #[test]
    fn gaps_break_lines_and_missing_figures_are_empty_cells() {
        let svg = lines(
            &["1".into(), "2".into(), "3".into()],
            &[Series {
                name: "r".into(),
                values: vec![Some(1.0), None, Some(2.0)],
            }],
            120.0,
        );
        assert_eq!(svg.matches("M").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(Cell::Ratio(None).html(), "<td class=\"n\"></td>");
        assert_eq!(
            Cell::Ratio(Some(1.0 / 3.0)).html(),
            "<td class=\"n\">0.3333</td>"
        );
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(12.0), "12");
    }
}
