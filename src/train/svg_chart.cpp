#include "train/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "train/human_format.hpp"

namespace vktrain::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Room around the plot area for the title and legend (top), tick labels and axis titles.
constexpr double kLeft = 70, kRight = 16, kTop = 30, kBottom = 42;
constexpr double kCharWidth = 6.5;  // of the 11px sans-serif text, to lay out the legend

struct Range {
  double lo = 0, hi = 1;
};

// The smallest and largest finite values, or nothing.
bool finite_range(const std::vector<ChartSeries>& series, bool of_x, Range& range) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      double v = of_x ? s.x[i] : s.y[i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (lo > hi) return false;
  range = {lo, hi};
  return true;
}

// A constant series still needs an axis with some height: widen it around the value.
Range widened(Range range, bool integer) {
  // Nearly constant counts too (a smoothed constant differs in the last bits): ticks a few ulps
  // apart would be unreadable.
  double magnitude = std::max(std::abs(range.lo), std::abs(range.hi));
  if (range.hi - range.lo > (integer ? 0 : 1e-9 * magnitude)) return range;
  double middle = range.lo + (range.hi - range.lo) / 2;
  double pad = integer ? 1.0 : (magnitude == 0 ? 1.0 : magnitude * 0.1);
  return {middle - pad, middle + pad};
}

// 5% more on each side, so that no point sits on the frame; data that is never negative (a
// learning rate from zero) keeps zero as the bottom rather than a negative tick.
Range padded(Range range) {
  double pad = (range.hi - range.lo) * 0.05;
  double lo = range.lo - pad;
  return {range.lo >= 0 && lo < 0 ? 0.0 : lo, range.hi + pad};
}

struct Frame {
  double left, top, width, height;
  Range x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

void draw_frame(std::string& svg, const Frame& f) {
  svg += fmt::format(
      "<rect class=\"frame\" fill=\"none\" stroke=\"#888\" x=\"{:.1f}\" y=\"{:.1f}\" "
      "width=\"{:.1f}\" height=\"{:.1f}\"/>\n",
      f.left, f.top, f.width, f.height);
}

// A line from (x1, y1) to (x2, y2) and a label at (tx, ty): a gridline or an x tick.
void draw_tick(std::string& svg, const char* stroke, double x1, double y1, double x2, double y2,
               double tx, double ty, const char* anchor, const std::string& label) {
  svg += fmt::format(
      "<line stroke=\"{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>"
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\">{}</text>\n",
      stroke, x1, y1, x2, y2, tx, ty, anchor, escape_html(label));
}

void draw_axes(std::string& svg, const Frame& f, const std::vector<double>& x_ticks,
               const std::vector<double>& y_ticks) {
  double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
  double bottom = f.top + f.height, right = f.left + f.width;
  for (double t : y_ticks)
    draw_tick(svg, "#e6e6e6", f.left, f.py(t), right, f.py(t), f.left - 6, f.py(t) + 4, "end",
              format_tick(t, y_step));
  for (double t : x_ticks)
    draw_tick(svg, "#888", f.px(t), bottom, f.px(t), bottom + 5, f.px(t), bottom + 17, "middle",
              format_tick(t, x_step));
  draw_frame(svg, f);
}

void draw_labels(std::string& svg, const ChartOptions& options, const Frame& f,
                 const std::vector<ChartSeries>& series) {
  svg += fmt::format(
      "<text class=\"title\" font-size=\"13\" "
      "font-weight=\"bold\" x=\"{:.1f}\" y=\"18\">{}</text>\n",
      f.left, escape_html(options.title));
  svg +=
      fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                  f.left + f.width / 2, double(options.height) - 6, escape_html(options.x_label));
  svg += fmt::format(
      "<text x=\"14\" y=\"{0:.1f}\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 14 {0:.1f})\">"
      "{1}</text>\n",
      f.top + f.height / 2, escape_html(options.y_label));
  // The legend runs leftwards from the right edge, in the title's row.
  double x = f.left + f.width;
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    x -= double(it->name.size()) * kCharWidth;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"18\">{}</text>", x, escape_html(it->name));
    x -= 18;
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"10\" width=\"12\" height=\"10\" "
        "fill=\"{}\"/>\n",
        x, escape_html(it->color));
    x -= 14;
  }
}

// A line series as one <path>: NaN lifts the pen; a point with no neighbour on either side gets a
// dot, since a path of one point draws nothing.
void draw_line(std::string& svg, const Frame& f, const ChartSeries& s, const ChartPoints& p) {
  std::string d, dots;
  bool pen_down = false;
  for (size_t i = 0; i < p.x.size(); ++i) {
    if (!std::isfinite(p.x[i]) || !std::isfinite(p.y[i])) {
      pen_down = false;
      continue;
    }
    double x = f.px(p.x[i]), y = f.py(p.y[i]);
    d += fmt::format("{}{:.1f} {:.1f} ", pen_down ? 'L' : 'M', x, y);
    bool next_drawn = i + 1 < p.x.size() && std::isfinite(p.x[i + 1]) && std::isfinite(p.y[i + 1]);
    if (!pen_down && !next_drawn)
      dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>", x, y,
                          escape_html(s.color));
    pen_down = true;
  }
  if (!d.empty()) d.pop_back();
  svg += fmt::format(
      "<path class=\"series\" data-name=\"{}\" fill=\"none\" "
      "stroke-width=\"1.5\" stroke=\"{}\" d=\"{}\"/>{}\n",
      escape_html(s.name), escape_html(s.color), d, dots);
}

void draw_markers(std::string& svg, const Frame& f, const std::vector<ChartMarker>& markers) {
  for (const auto& m : markers) {
    if (!std::isfinite(m.x)) continue;
    svg += fmt::format(
        "<line class=\"marker\" stroke=\"#555\" stroke-dasharray=\"4 3\" x1=\"{0:.1f}\" "
        "y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>"
        "<text class=\"marker\" fill=\"#555\" x=\"{3:.1f}\" y=\"{4:.1f}\">{5}</text>\n",
        f.px(m.x), f.top, f.top + f.height, f.px(m.x) + 3, f.top + 11, escape_html(m.label));
  }
}

void draw_points(std::string& svg, const Frame& f, const ChartSeries& s, const ChartPoints& p) {
  for (size_t i = 0; i < p.x.size(); ++i) {
    if (!std::isfinite(p.x[i]) || !std::isfinite(p.y[i])) continue;
    svg += fmt::format(
        "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" "
        "r=\"3.5\" fill=\"{}\">"
        "<title>{} at step {}: {:.4g}</title></circle>\n",
        f.px(p.x[i]), f.py(p.y[i]), escape_html(s.color), escape_html(s.name), p.x[i], p.y[i]);
  }
}

}  // namespace

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

ChartPoints downsample(const std::vector<double>& x, const std::vector<double>& y,
                       size_t max_points) {
  size_t n = std::min(x.size(), y.size());
  if (n <= max_points) return {{x.begin(), x.begin() + n}, {y.begin(), y.begin() + n}};
  size_t buckets = std::max<size_t>(1, max_points / 2);
  ChartPoints out;
  for (size_t b = 0; b < buckets; ++b) {
    size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    // First minimum and last maximum: two distinct points even where the values are equal.
    size_t low = end, high = end;
    for (size_t i = begin; i < end; ++i) {
      if (!std::isfinite(y[i])) continue;
      if (low == end || y[i] < y[low]) low = i;
      if (high == end || y[i] >= y[high]) high = i;
    }
    if (low == end) {  // nothing finite in the bucket: keep the gap
      out.x.push_back(x[begin]);
      out.y.push_back(kNaN);
      continue;
    }
    out.x.push_back(x[std::min(low, high)]);
    out.y.push_back(y[std::min(low, high)]);
    if (low == high) continue;  // one finite point in the bucket
    out.x.push_back(x[std::max(low, high)]);
    out.y.push_back(y[std::max(low, high)]);
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integer) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) hi = lo + 1;
  double raw = (hi - lo) / std::max(1, target - 1);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double residual = raw / magnitude;
  double step = (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude;
  if (integer) step = std::max(step, 1.0);
  // Multiples of the step, so that 0.1 * 3 prints as 0.3 and the ticks line up at zero.
  auto first = int64_t(std::floor(lo / step + 1e-9)), last = int64_t(std::ceil(hi / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t k = first; k <= last; ++k) ticks.push_back(double(k) * step);
  return ticks;
}

std::string format_tick(double value, double step) {
  if (std::abs(value) < std::abs(step) * 1e-6) return "0";
  if (step >= 1 && std::abs(value) < 1e15) return format_count(std::llround(value));
  int step_digit = int(std::floor(std::log10(std::abs(step)) + 1e-9));
  if (step_digit >= -3 && std::abs(value) < 1e6)
    return fmt::format("{:.{}f}", value, std::max(0, -step_digit));
  // Scientific: as many mantissa digits as the step needs to tell neighbouring ticks apart.
  int value_digit = int(std::floor(std::log10(std::abs(value)) + 1e-9));
  return fmt::format("{:.{}e}", value, std::clamp(value_digit - step_digit, 0, 3));
}

std::string svg_chart(const ChartOptions& options, const std::vector<ChartSeries>& series) {
  Frame f{
      kLeft, kTop, double(options.width) - kLeft - kRight, double(options.height) - kTop - kBottom,
      {},    {}};
  Range x_data, y_data;
  bool has_x = finite_range(series, true, x_data);
  bool has_data = finite_range(series, false, y_data) && has_x;
  for (const auto& m : options.markers)  // a marker past the data still shows
    if (has_x && std::isfinite(m.x)) x_data = {std::min(x_data.lo, m.x), std::max(x_data.hi, m.x)};
  x_data = widened(x_data, options.integer_x);
  y_data = padded(widened(y_data, false));
  std::vector<double> x_ticks = nice_ticks(x_data.lo, x_data.hi, 8, options.integer_x);
  std::vector<double> y_ticks = nice_ticks(y_data.lo, y_data.hi, 6, false);
  f.x = {x_ticks.front(), x_ticks.back()};
  f.y = {y_ticks.front(), y_ticks.back()};

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
      "width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      options.width, options.height);
  draw_labels(svg, options, f, series);
  if (!has_data) {
    draw_frame(svg, f);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">no data</text>\n",
                       f.left + f.width / 2, f.top + f.height / 2);
    return svg + "</svg>\n";
  }
  draw_axes(svg, f, x_ticks, y_ticks);
  draw_markers(svg, f, options.markers);
  for (const auto& s : series) {
    ChartPoints points = downsample(s.x, s.y, std::max<size_t>(2, options.max_points));
    if (s.style == ChartSeries::Style::line)
      draw_line(svg, f, s, points);
    else
      draw_points(svg, f, s, points);
  }
  return svg + "</svg>\n";
}

}  // namespace vktrain::train
