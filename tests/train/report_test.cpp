#include "train/report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "support/support.hpp"
#include "train/metrics.hpp"
#include "train/svg_chart.hpp"

using namespace vktrain;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Opening tags (<svg ...>, not <svg.../>) and closing tags of `name` pair up in order.
bool balanced(const std::string& html, const std::string& name) {
  std::regex tag("<(/?)" + name + "([\\s>/])");
  int depth = 0;
  size_t opened = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag); it != std::sregex_iterator();
       ++it) {
    if ((*it)[1].length() > 0) {
      if (--depth < 0) return false;
      continue;
    }
    size_t close = html.find('>', size_t(it->position()));
    if (close == std::string::npos) return false;
    if (html[close - 1] != '/') ++depth, ++opened;
  }
  return depth == 0 && opened > 0;
}

// The y coordinates of the points of the <path class="series"> named `name` (the first chart's
// where several share the name), in drawing order.
std::vector<double> path_y(const std::string& html, const std::string& name) {
  std::regex path("<path class=\"series\" data-name=\"" + name + "\"[^>]* d=\"([^\"]*)\"");
  std::smatch match;
  if (!std::regex_search(html, match, path)) return {};
  std::istringstream d(match[1]);
  std::vector<double> y;
  char command;
  for (double px, py; d >> command >> px >> py;) y.push_back(py);
  return y;
}

// The top and bottom of the first chart's plot area.
std::pair<double, double> plot_top_bottom(const std::string& html) {
  std::regex frame("class=\"frame\"[^>]* y=\"([0-9.]+)\" width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  std::smatch match;
  if (!std::regex_search(html, match, frame)) return {0, 0};
  return {std::stod(match[1]), std::stod(match[1]) + std::stod(match[2])};
}

// A run of `steps` steps the way the Trainer logs it, evaluating every `eval_every`.
void write_metrics(const std::string& run_dir, int64_t steps, int64_t eval_every,
                   const std::function<double(int64_t)>& loss) {
  auto log = train::MetricsLog::open(run_dir + "/metrics.jsonl", -1);
  for (int64_t s = 1; s <= steps; ++s) {
    json line = {{"step", s},
                 {"loss", loss(s)},
                 {"lr", 1e-4 * double(s) / double(steps)},
                 {"grad_norm", 0.8},
                 {"tokens", 4096},
                 {"trained_tokens", 1024},
                 {"seconds", 0.5},
                 {"device_bytes", double(3ull << 30) + double(s << 20)}};
    if (eval_every > 0 && s % eval_every == 0) line["eval_loss"] = loss(s) + 0.1;
    log.write(line);
  }
}

const json kSettings = {{"model", "models/<tiny> & \"friends\""},
                        {"lr", 1e-4},
                        {"lora", {{"rank", 8}, {"targets", {"q_proj", "v_proj"}}}}};

}  // namespace

TEST(Report, PageHoldsSettingsSummaryAndOneCurvePerSeries) {
  test::TempDir dir;
  std::string run = dir.file("run");
  write_metrics(run, 40, 10, [](int64_t s) { return 3.0 / double(s); });
  train::ReportSummary summary{"NVIDIA H100 <80GB>", 5ull << 30, 125, 100};
  train::write_report(run, kSettings, summary);

  std::string html = read_text(run + "/report.html");
  EXPECT_FALSE(fs::exists(run + "/report.html.tmp"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* tag : {"html", "head", "body", "table", "svg", "tr", "text"})
    EXPECT_TRUE(balanced(html, tag)) << tag;
  EXPECT_EQ(count(html, "<svg"), 5u);  // loss, learning rate, gradient norm, throughput, memory
  EXPECT_EQ(count(html, "<script"), 0u);
  EXPECT_EQ(count(html, "src="), 0u);
  EXPECT_EQ(count(html, "href="), 0u);

  // Settings, nested keys dotted, every text escaped.
  EXPECT_NE(html.find("<th>model</th><td>models/&lt;tiny&gt; &amp; "
                      "&quot;friends&quot;</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th>lora.rank</th><td>8</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>lora.targets</"
                      "th><td>[&quot;q_proj&quot;,&quot;v_proj&quot;]</td>"),
            std::string::npos);
  EXPECT_EQ(html.find("<tiny>"), std::string::npos);
  EXPECT_NE(html.find("NVIDIA H100 &lt;80GB&gt;"), std::string::npos);

  // Summary numbers.
  EXPECT_NE(html.find("<th>Steps</th><td>40 of 100</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Tokens processed</th><td>163,840</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Tokens trained</th><td>40,960</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Throughput (median)</th><td>8,192 tokens/s</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Trained tokens/s (median)</th><td>2,048 tokens/s</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<th>Resumed at step</th><td>never</td>"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"marker\""), 0u);
  EXPECT_NE(html.find("<th>Wall time</th><td>2m05s</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Peak device memory</th><td>5.0 GiB</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Final train loss</th><td>0.0750</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Final eval loss</th><td>0.1750</td>"), std::string::npos);

  for (const char* series : {"train loss", "smoothed", "learning rate", "grad norm", "tokens/s",
                             "trained tokens/s", "device memory"})
    EXPECT_EQ(path_y(html, series).size(), 40u) << series;
  // Memory grows by 1 MiB a step: the line rises (SVG y runs downwards).
  std::vector<double> memory = path_y(html, "device memory");
  EXPECT_GT(memory.front(), memory.back());
  EXPECT_EQ(count(html, "<circle class=\"point\""), 4u);  // the evaluations
}

TEST(Report, ThousandsOfStepsAreDownsampledKeepingTheSpike) {
  test::TempDir dir;
  std::string run = dir.file("run");
  write_metrics(run, 5000, 0, [](int64_t s) { return s == 2500 ? 50.0 : 2.0 + 1.0 / double(s); });
  train::write_report(run, kSettings, {});
  std::string html = read_text(run + "/report.html");
  std::vector<double> loss = path_y(html, "train loss");
  EXPECT_EQ(loss.size(), 1000u);
  EXPECT_EQ(path_y(html, "grad norm").size(), 1000u);  // constant: each bucket's first and last
  EXPECT_LT(html.size(), 400'000u);
  // The spike survives downsampling and sets the top of the axis: it is the one point drawn in
  // the upper half of the plot.
  auto [top, bottom] = plot_top_bottom(html);
  EXPECT_EQ(
      std::count_if(loss.begin(), loss.end(), [&](double y) { return y < (top + bottom) / 2; }), 1);
  EXPECT_NE(html.find("<th>Peak device memory</th><td>not measured</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>Device</th><td>unknown</td>"), std::string::npos);
}

TEST(Report, OneStepAndConstantLossStillDraw) {
  test::TempDir dir;
  std::string run = dir.file("run");
  write_metrics(run, 1, 1, [](int64_t) { return 2.5; });
  train::write_report(run, json::object(), {});
  std::string html = read_text(run + "/report.html");
  EXPECT_EQ(path_y(html, "train loss").size(), 1u);
  EXPECT_GE(count(html, "<circle"), 5u);  // a dot per single-point line, and the eval point
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf"), std::string::npos);
  EXPECT_NE(html.find("none recorded"), std::string::npos);

  write_metrics(run, 30, 0, [](int64_t) { return 2.5; });
  train::write_report(run, {}, {});
  html = read_text(run + "/report.html");
  std::vector<double> loss = path_y(html, "train loss");
  ASSERT_EQ(loss.size(), 30u);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  // A flat line inside the plot, not on its frame: the axis is widened around the value.
  auto [top, bottom] = plot_top_bottom(html);
  EXPECT_EQ(std::count(loss.begin(), loss.end(), loss[0]), 30);
  EXPECT_GT(loss[0], top + 10);
  EXPECT_LT(loss[0], bottom - 10);
}

TEST(Report, MissingValuesBreakTheLine) {
  test::TempDir dir;
  std::string run = dir.file("run");
  {
    auto log = train::MetricsLog::open(run + "/metrics.jsonl", -1);
    for (int64_t s = 1; s <= 6; ++s)
      log.write({{"step", s}, {"loss", s == 3 ? NAN : 1.0 * double(s)}, {"tokens", 10}});
  }
  train::write_report(run, {}, {});
  std::string html = read_text(run + "/report.html");
  std::regex loss_path("data-name=\"train loss\"[^>]* d=\"([^\"]*)\"");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(html, match, loss_path));
  std::string d = match[1];
  EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 2);  // steps 1-2 and 4-6
  EXPECT_EQ(std::count(d.begin(), d.end(), 'L'), 3);
  // No learning rate was logged at all.
  EXPECT_NE(html.find("no data"), std::string::npos);
}

TEST(Report, BadMetricsAreOneErrorNamingFileAndLine) {
  test::TempDir dir;
  std::string run = dir.file("run");
  fs::create_directories(run);
  std::string metrics = run + "/metrics.jsonl";

  std::string message = test::error_message([&] { train::write_report(run, {}, {}); });
  EXPECT_NE(message.find("[report] cannot read " + metrics), std::string::npos) << message;

  dir.write("run/metrics.jsonl", "");
  message = test::error_message([&] { train::write_report(run, {}, {}); });
  EXPECT_NE(message.find(metrics + ": no step recorded"), std::string::npos) << message;

  dir.write("run/metrics.jsonl", "{\"step\":1,\"loss\":2}\n{\"step\":2,\"loss\":\n");
  message = test::error_message([&] { train::write_report(run, {}, {}); });
  EXPECT_NE(message.find(metrics + ": line 2 is not a JSON object"), std::string::npos) << message;

  dir.write("run/metrics.jsonl", "{\"step\":1,\"loss\":2}\n\n{\"step\":3,\"lr\":\"fast\"}\n");
  message = test::error_message([&] { train::write_report(run, {}, {}); });
  EXPECT_NE(message.find(metrics + ": line 3: \"lr\" is \"fast\", not a number"), std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(run + "/report.html"));
}

TEST(SvgChart, TicksAreRoundAndCoverTheData) {
  EXPECT_EQ(train::nice_ticks(0.13, 0.92, 6, false),
            (std::vector<double>{0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0}));
  EXPECT_EQ(train::nice_ticks(1, 3, 8, true), (std::vector<double>{1, 2, 3}));
  std::vector<double> lr = train::nice_ticks(0, 2e-4, 6, false);
  EXPECT_EQ(lr.size(), 5u);
  EXPECT_EQ(train::format_tick(lr[3], lr[1] - lr[0]), "1.5e-04");
  EXPECT_EQ(train::format_tick(12000, 2000), "12,000");
  EXPECT_EQ(train::format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(train::format_tick(1e-17, 0.1), "0");
  EXPECT_EQ(train::nice_ticks(NAN, 1, 6, false), (std::vector<double>{0, 1}));
}

TEST(SvgChart, DownsamplingKeepsEachBucketsExtremesInOrder) {
  std::vector<double> x, y;
  for (int i = 0; i < 10; ++i) x.push_back(i), y.push_back(i % 2 == 0 ? 1.0 : 0.0);
  y[7] = 9;
  train::ChartPoints p = train::downsample(x, y, 4);  // buckets of steps 0-4 and 5-9
  EXPECT_EQ(p.x, (std::vector<double>{1, 4, 5, 7}));
  EXPECT_EQ(p.y, (std::vector<double>{0, 1, 0, 9}));
  EXPECT_EQ(train::downsample(x, y, 10).x.size(), 10u);
}

// A loss that drops from 3 to 1 at step 101: a trailing average of the same width would cross the
// midpoint ~10 steps late, the previous one (TensorBoard's) ~20; the smoothed curve must cross it
// at the drop.
TEST(Report, SmoothedLossFollowsAStepWithoutLag) {
  std::vector<double> loss(300);
  for (size_t i = 0; i < loss.size(); ++i) loss[i] = i < 100 ? 3.0 : 1.0;
  std::vector<double> smooth = train::smoothed_curve(loss);
  ASSERT_EQ(smooth.size(), loss.size());
  size_t crossing = 0;
  while (crossing < smooth.size() && smooth[crossing] > 2.0) ++crossing;
  EXPECT_GE(crossing, 98u);
  EXPECT_LE(crossing, 102u);
  // Smoothing still smooths: halfway into each plateau, the curve is near the plateau.
  EXPECT_NEAR(smooth[50], 3.0, 0.05);
  EXPECT_NEAR(smooth[250], 1.0, 0.05);
  EXPECT_LT(smooth[99], 2.9);

  // A steady slope is not shifted: away from the ends the curve lies on the line.
  std::vector<double> slope(400);
  for (size_t i = 0; i < slope.size(); ++i) slope[i] = 5.0 - 0.01 * double(i);
  smooth = train::smoothed_curve(slope);
  for (size_t i = 150; i < 250; ++i) EXPECT_NEAR(smooth[i], slope[i], 1e-3) << i;

  // Missing values stay missing and do not pull their neighbours.
  std::vector<double> gappy = {1, 1, NAN, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  smooth = train::smoothed_curve(gappy);
  EXPECT_TRUE(std::isnan(smooth[2]));
  for (size_t i : {0, 1, 3, 11}) EXPECT_DOUBLE_EQ(smooth[i], 1.0) << i;
}

// A run resumed twice: the summary names the steps and every chart has a dashed line at each.
TEST(Report, ResumesAreMarkedOnEveryChart) {
  test::TempDir dir;
  std::string run = dir.file("run");
  write_metrics(run, 10, 0, [](int64_t s) { return 3.0 / double(s); });
  {
    auto log = train::MetricsLog::open(run + "/metrics.jsonl", 4);  // resumed at checkpoint-4
    for (int64_t s = 5; s <= 8; ++s) log.write({{"step", s}, {"loss", 1.0}, {"seconds", 0.5}});
  }
  {
    auto log = train::MetricsLog::open(run + "/metrics.jsonl", 8);
    log.write({{"step", 9}, {"loss", 1.0}, {"seconds", 0.5}});
  }
  train::write_report(run, kSettings, {});
  std::string html = read_text(run + "/report.html");
  EXPECT_NE(html.find("<th>Resumed at step</th><td>4, 8</td>"), std::string::npos);
  EXPECT_EQ(count(html, "<line class=\"marker\""), 2u * 5u);
  EXPECT_EQ(count(html, ">resumed</text>"), 2u * 5u);
  // At the x of step 4 and 8 on the loss chart: between those of steps 3 and 5, 7 and 9.
  std::regex marker("<line class=\"marker\"[^>]* x1=\"([0-9.]+)\"");
  std::vector<double> xs;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), marker);
       it != std::sregex_iterator(); ++it)
    xs.push_back(std::stod((*it)[1]));
  ASSERT_EQ(xs.size(), 10u);
  std::regex loss_path("data-name=\"train loss\"[^>]* d=\"([^\"]*)\"");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(html, match, loss_path));
  std::istringstream d(match[1].str());
  std::vector<double> step_x;
  char command;
  for (double px, py; d >> command >> px >> py;) step_x.push_back(px);
  ASSERT_EQ(step_x.size(), 9u);
  EXPECT_NEAR(xs[0], step_x[3], 0.11);  // step 4
  EXPECT_NEAR(xs[1], step_x[7], 0.11);  // step 8
}

// Settings as `vktrain train` passes them: every flag by name, unset ones too.
TEST(Report, EverySettingIsListed) {
  test::TempDir dir;
  std::string run = dir.file("run");
  write_metrics(run, 3, 0, [](int64_t) { return 1.0; });
  const json settings = {{"model", "m"},          {"lora-rank", "16"},     {"rslora", false},
                         {"epochs", nullptr},     {"stop", "a,b"},         {"dtype", "bf16 (auto)"},
                         {"grad-checkpoint", "off (auto)"}, {"steps", 3}};
  train::write_report(run, settings, {});
  std::string html = read_text(run + "/report.html");
  for (const auto& [key, value] : settings.items()) {
    std::string shown = value.is_string() ? value.get<std::string>()
                        : value.is_null()  ? "not set"
                                           : value.dump();
    EXPECT_NE(html.find("<th>" + key + "</th><td>" + shown + "</td>"), std::string::npos) << key;
  }
}
