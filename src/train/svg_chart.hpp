#pragma once
// Line charts as inline SVG for report.html, drawn by our own code so the report is one file that
// needs no script and no network: a plot area with gridlines, ticks at "nice" values (1, 2 or 5
// times a power of ten) labelled on both axes, the axis titles, a legend, and one <path
// class="series"> per line series or one <circle class="point"> per point of a point series.
//
// Robust to what a run can produce: a single point (drawn as a dot), a constant series (the y range
// is widened around the value), NaN values (a gap in the line; never part of the range), no finite
// value at all ("no data" in the plot area), and thousands of points: a series longer than
// `max_points` is cut into max_points / 2 buckets of consecutive points, each drawn by its minimum
// and its maximum in step order, so spikes survive and the path stays small. Markers (dashed
// vertical lines, <line class="marker">) point out steps such as a resume.
#include <cstddef>
#include <string>
#include <vector>

namespace vktrain::train {

struct ChartSeries {
  enum class Style { line, points };
  std::string name;   // legend text (escaped when drawn)
  std::string color;  // an SVG color, e.g. "#1f77b4"
  Style style = Style::line;
  std::vector<double> x, y;  // same length; NaN y: missing
};

// A dashed vertical line across the plot at `x`, labelled at its top (where a run resumed).
struct ChartMarker {
  double x = 0;
  std::string label;  // escaped when drawn
};

struct ChartOptions {
  std::string title, x_label, y_label;  // escaped when drawn
  std::vector<ChartMarker> markers;     // the x axis reaches each of them
  int width = 720, height = 300;        // pixels of the whole chart
  size_t max_points = 1000;             // per series, after downsampling (even, >= 2)
  bool integer_x = true;                // x ticks at whole numbers (steps)
};

// One <svg> element, ready to be put into an HTML page.
std::string svg_chart(const ChartOptions& options, const std::vector<ChartSeries>& series);

// The points of a series that are drawn: all of them up to `max_points`, else the minimum and
// maximum of each bucket as described above. NaN y values are kept (they break the line).
struct ChartPoints {
  std::vector<double> x, y;
};
ChartPoints downsample(const std::vector<double>& x, const std::vector<double>& y,
                       size_t max_points);

// Tick values covering [lo, hi] at a step of 1, 2 or 5 times a power of ten, about `target` of
// them; the first tick is <= lo and the last >= hi, so the axis ends on a labelled value.
// `integer`: the step is at least 1.
std::vector<double> nice_ticks(double lo, double hi, int target, bool integer);

// A tick label at the precision its step needs: "12,000", "0.25", "2e-04".
std::string format_tick(double value, double step);

// Text for HTML and SVG: & < > " ' replaced by entities.
std::string escape_html(const std::string& text);

}  // namespace vktrain::train
