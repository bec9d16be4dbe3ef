//! A small SVG line chart of the soak's samples: one panel per measure, one line per series,
//! drawn by hand so the soak needs nothing but the crate's own dependencies.

use std::fmt::Write;

/// One line: a name and its (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, the y axis unit and its lines.
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 880.0;
const PANEL_HEIGHT: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// The whole chart: panels stacked, sharing the x axis (seconds since the soak began).
pub fn svg(title: &str, panels: &[Panel]) -> String {
    let height = 40.0 + panels.len() as f64 * (PANEL_HEIGHT + TOP + BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (index, panel) in panels.iter().enumerate() {
        let top = 40.0 + index as f64 * (PANEL_HEIGHT + TOP + BOTTOM) + TOP;
        draw_panel(&mut out, panel, top);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, top: f64) {
    let points = panel.series.iter().flat_map(|series| series.points.iter());
    let (mut x_max, mut y_max) = (1.0_f64, 0.0_f64);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    let y_max = nice(y_max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let sx = |x: f64| LEFT + x / x_max * plot_width;
    let sy = |y: f64| top + PANEL_HEIGHT - y / y_max * PANEL_HEIGHT;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{} ({})</text>"#,
        top - 8.0,
        escape(&panel.title),
        escape(&panel.unit)
    );
    for tick in 0..=4 {
        let y = y_max * f64::from(tick) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_width,
            LEFT - 6.0,
            sy(y) + 4.0,
            label(y),
            y = sy(y),
        );
    }
    for tick in 0..=5 {
        let x = x_max * f64::from(tick) / 5.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}s</text>"#,
            sx(x),
            top + PANEL_HEIGHT + 16.0,
            label(x)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#888"/>"##
    );
    for (index, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = series
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            path.join(" ")
        );
        let legend_y = top + 14.0 + index as f64 * 18.0;
        let _ = writeln!(
            out,
            r#"<line x1="{x1}" x2="{x2}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{tx}" y="{ty}">{}</text>"#,
            escape(&series.name),
            x1 = LEFT + plot_width + 12.0,
            x2 = LEFT + plot_width + 32.0,
            tx = LEFT + plot_width + 38.0,
            ty = legend_y + 4.0,
        );
    }
}

/// A round upper bound for an axis.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let step = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * step)
        .find(|bound| *bound >= max)
        .unwrap_or(10.0 * step)
}

fn label(value: f64) -> String {
    if value >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
