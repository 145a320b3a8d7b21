#include "train/report.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "base/error.hpp"
#include "io/file.hpp"
#include "io/json_file.hpp"
#include "train/human_format.hpp"
#include "train/svg_chart.hpp"

namespace vktrain::train {
namespace {

using nlohmann::json;

// One field of a record: a number, null (NaN) or absent.
double number_field(const json& record, const char* key, const std::string& path, size_t line) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) return MetricsRecord::kMissing;
  if (!it->is_number())
    fail("[report] {}: line {}: \"{}\" is {}, not a number", path, line, key, it->dump());
  return it->get<double>();
}

MetricsRecord parse_record(const std::string& text, const std::string& path, size_t line) {
  json record = io::parse_json_or_discarded(text);
  if (!record.is_object() || !record.contains("step") || !record["step"].is_number_integer())
    fail("[report] {}: line {} is not a JSON object with an integer \"step\"", path, line);
  MetricsRecord r;
  r.step = record["step"].get<int64_t>();
  r.loss = number_field(record, "loss", path, line);
  r.lr = number_field(record, "lr", path, line);
  r.grad_norm = number_field(record, "grad_norm", path, line);
  r.seconds = number_field(record, "seconds", path, line);
  r.eval_loss = number_field(record, "eval_loss", path, line);
  r.device_bytes = number_field(record, "device_bytes", path, line);
  auto count = [&](const char* key, int64_t missing) {
    double value = number_field(record, key, path, line);
    return std::isfinite(value) ? int64_t(value) : missing;
  };
  r.tokens = count("tokens", 0);
  r.trained_tokens = count("trained_tokens", 0);
  r.resumed_from = count("resumed_from", -1);
  return r;
}

double last_finite(const std::vector<MetricsRecord>& records, double MetricsRecord::*field) {
  for (auto it = records.rbegin(); it != records.rend(); ++it)
    if (std::isfinite((*it).*field)) return (*it).*field;
  return MetricsRecord::kMissing;
}

double median(std::vector<double> values) {
  if (values.empty()) return MetricsRecord::kMissing;
  size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + ptrdiff_t(middle), values.end());
  double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  return (upper + *std::max_element(values.begin(), values.begin() + ptrdiff_t(middle))) / 2;
}

std::string format_loss(double loss) {
  return std::isfinite(loss) ? fmt::format("{:.4f}", loss) : "&ndash;";
}

// Settings as rows: nested objects flattened to dotted keys, strings unquoted.
void setting_rows(std::string& html, const json& value, const std::string& key) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [k, v] : value.items()) setting_rows(html, v, key.empty() ? k : key + "." + k);
    return;
  }
  std::string text = value.is_string() ? value.get<std::string>()
                     : value.is_null()  ? std::string("not set")
                                        : value.dump();
  html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape_html(key), escape_html(text));
}

std::string rate(double tokens_per_s) {
  return std::isfinite(tokens_per_s) ? format_count(std::llround(tokens_per_s)) + " tokens/s"
                                     : "&ndash;";
}

std::string summary_table(const ReportSummary& summary, const std::vector<MetricsRecord>& records) {
  int64_t tokens = 0, trained = 0;
  double step_seconds = 0;
  std::vector<double> rates, trained_rates, times;
  std::string resumes;
  for (const auto& r : records) {
    tokens += r.tokens;
    trained += r.trained_tokens;
    if (r.resumed_from >= 0) resumes += (resumes.empty() ? "" : ", ") + format_count(r.resumed_from);
    if (!std::isfinite(r.seconds) || r.seconds <= 0) continue;
    step_seconds += r.seconds;
    times.push_back(r.seconds);
    rates.push_back(double(r.tokens) / r.seconds);
    trained_rates.push_back(double(r.trained_tokens) / r.seconds);
  }
  int64_t last_step = records.back().step;
  std::string steps = format_count(last_step);
  if (summary.total_steps > last_step) steps += " of " + format_count(summary.total_steps);

  double best_eval = MetricsRecord::kMissing;
  int64_t best_eval_step = 0;
  for (const auto& r : records)
    if (std::isfinite(r.eval_loss) && !(r.eval_loss >= best_eval))
      best_eval = r.eval_loss, best_eval_step = r.step;

  double tokens_per_s = median(rates), step_time = median(times);
  double wall = summary.wall_seconds >= 0 ? summary.wall_seconds : step_seconds;
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Device", summary.device.empty() ? "unknown" : escape_html(summary.device)},
      {"Steps", steps},
      {"Resumed at step", resumes.empty() ? "never" : resumes},
      {"Tokens processed", format_count(tokens)},
      {"Tokens trained", format_count(trained)},
      {"Throughput (median)", rate(tokens_per_s)},
      {"Trained tokens/s (median)", rate(median(trained_rates))},
      {"Step time (median)",
       std::isfinite(step_time) ? fmt::format("{:.3f} s", step_time) : "&ndash;"},
      {"Wall time", format_duration(wall)},
      {"Peak device memory",
       summary.peak_device_bytes > 0 ? format_bytes(summary.peak_device_bytes) : "not measured"},
      {"Final train loss", format_loss(last_finite(records, &MetricsRecord::loss))},
      {"Final eval loss", format_loss(last_finite(records, &MetricsRecord::eval_loss))},
      {"Best eval loss", std::isfinite(best_eval)
                             ? fmt::format("{} (step {})", format_loss(best_eval), best_eval_step)
                             : "&ndash;"},
  };
  std::string html = "<table class=\"summary\">\n";
  for (const auto& [name, value] : rows)
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", name, value);
  return html + "</table>\n";
}

std::string charts(const std::vector<MetricsRecord>& records) {
  constexpr double kGiB = double(1ull << 30);
  std::vector<double> steps, loss, lr, grad_norm, eval_steps, eval_loss, rates, trained_rates,
      memory;
  std::vector<ChartMarker> resumes;
  for (const auto& r : records) {
    steps.push_back(double(r.step));
    loss.push_back(r.loss);
    lr.push_back(r.lr);
    grad_norm.push_back(r.grad_norm);
    const bool timed = std::isfinite(r.seconds) && r.seconds > 0;
    rates.push_back(timed ? double(r.tokens) / r.seconds : MetricsRecord::kMissing);
    trained_rates.push_back(timed ? double(r.trained_tokens) / r.seconds : MetricsRecord::kMissing);
    memory.push_back(r.device_bytes / kGiB);
    if (std::isfinite(r.eval_loss)) {
      eval_steps.push_back(double(r.step));
      eval_loss.push_back(r.eval_loss);
    }
    if (r.resumed_from >= 0) resumes.push_back({double(r.resumed_from), "resumed"});
  }
  using Style = ChartSeries::Style;
  std::vector<ChartSeries> loss_series = {
      {"train loss", "#9ecae1", Style::line, steps, loss},
      {"smoothed", "#1f5f99", Style::line, steps, smoothed_curve(loss)},
  };
  if (!eval_steps.empty())
    loss_series.push_back({"eval loss", "#d62728", Style::points, eval_steps, eval_loss});
  auto chart = [&](const char* title, const char* y_label, std::vector<ChartSeries> series) {
    return svg_chart({title, "step", y_label, resumes}, series);
  };
  return chart("Loss", "loss", loss_series) +
         chart("Learning rate", "learning rate",
               {{"learning rate", "#2ca02c", Style::line, steps, lr}}) +
         chart("Gradient norm", "global L2 norm",
               {{"grad norm", "#8c564b", Style::line, steps, grad_norm}}) +
         chart("Throughput", "tokens/s",
               {{"tokens/s", "#ff7f0e", Style::line, steps, rates},
                {"trained tokens/s", "#9467bd", Style::line, steps, trained_rates}}) +
         chart("Device memory", "GiB in use",
               {{"device memory", "#17becf", Style::line, steps, memory}});
}

constexpr const char* kStyle = R"(<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 760px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eee;
         vertical-align: top; font-size: 0.92em; }
th { font-weight: 600; } td { font-family: ui-monospace, monospace; word-break: break-all; }
svg.chart { display: block; margin: 1em 0; max-width: 100%; height: auto; }
</style>
)";

}  // namespace

std::vector<double> smoothed_curve(const std::vector<double>& values) {
  const size_t n = values.size();
  const double beta = std::clamp(1.0 - 20.0 / double(n), 0.0, 0.98);
  // Weighted sums (and the sums of their weights) of the finite values up to i, and from i on;
  // a missing value still counts as a step of distance.
  std::vector<double> ahead_sum(n), ahead_weight(n);
  double sum = 0, weight = 0;
  for (size_t i = n; i-- > 0;) {
    const bool finite = std::isfinite(values[i]);
    sum = beta * sum + (finite ? values[i] : 0);
    weight = beta * weight + (finite ? 1 : 0);
    ahead_sum[i] = sum, ahead_weight[i] = weight;
  }
  std::vector<double> out(n, MetricsRecord::kMissing);
  sum = weight = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool finite = std::isfinite(values[i]);
    sum = beta * sum + (finite ? values[i] : 0);
    weight = beta * weight + (finite ? 1 : 0);
    // Both sums hold values[i] itself: count it once.
    if (finite) out[i] = (sum + ahead_sum[i] - values[i]) / (weight + ahead_weight[i] - 1);
  }
  return out;
}

std::vector<MetricsRecord> read_metrics(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[report] cannot read {}: {}", path, std::strerror(errno));
  std::vector<MetricsRecord> records;
  size_t line = 0;
  for (std::string text; std::getline(in, text);) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    records.push_back(parse_record(text, path, line));
  }
  if (records.empty()) fail("[report] {}: no step recorded, so there is nothing to report", path);
  return records;
}

std::string report_html(const std::string& title, const nlohmann::json& settings,
                        const ReportSummary& summary, const std::vector<MetricsRecord>& records) {
  if (records.empty()) fail("[report] no step recorded, so there is nothing to report");
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>{0}</title>\n{1}</head>\n<body>\n<h1>{0}</h1>\n",
      escape_html(title), kStyle);
  html += "<h2>Summary</h2>\n" + summary_table(summary, records);
  html += "<h2>Curves</h2>\n" + charts(records);
  html += "<h2>Settings</h2>\n<table class=\"settings\">\n";
  if (settings.is_object() && !settings.empty())
    setting_rows(html, settings, "");
  else
    html += "<tr><td>none recorded</td></tr>\n";
  return html + "</table>\n</body>\n</html>\n";
}

void write_report(const std::string& run_dir, const nlohmann::json& settings,
                  const ReportSummary& summary) {
  std::vector<MetricsRecord> records = read_metrics(run_dir + "/metrics.jsonl");
  auto folder = std::filesystem::path(run_dir).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();  // "runs/a/" is run "a" too
  std::string html =
      report_html("vktrain run " + folder.filename().string(), settings, summary, records);
  io::write_file_atomically(run_dir + "/report.html", "report",
                            [&](std::ofstream& out) { out << html; });
}

}  // namespace vktrain::train
