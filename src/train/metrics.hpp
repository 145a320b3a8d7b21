#pragma once
// The run's metrics log, `<run>/metrics.jsonl`: one JSON object per line, e.g.
//   {"step":12,"loss":2.3456788063049316,"lr":0.0001,"tokens_per_s":5210.5}
// Each line is flushed as it is written, so a crash loses at most the line being written.
// Numbers are written in the shortest form that reads back as the same double (a float widened
// to double reads back as that float). JSON has no NaN or infinity: such values are written as
// null.
//
// A resumed run repeats the steps after its checkpoint, so opening the log for a run resumed at
// step k keeps the lines whose "step" is <= k and drops the later ones (rewriting the file
// through a temporary and a rename); a last line cut short by a crash is dropped too. The first
// record written after that carries "resumed_from": k, so the log says where the run resumed
// (report.html marks it).
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace vktrain::train {

class MetricsLog {
 public:
  // resume_step < 0: a new run, the log starts empty (an existing file is replaced).
  // resume_step >= 0: keeps the lines up to that step, appends after them.
  // A line before the last that is not a JSON object with an integer "step" is an error naming
  // the file and the line.
  static MetricsLog open(const std::string& path, int64_t resume_step);

  // One object, one line, flushed; the first after a resume gains "resumed_from".
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  MetricsLog(std::string path, std::ofstream out, int64_t resumed_from)
      : path_(std::move(path)), out_(std::move(out)), resumed_from_(resumed_from) {}

  std::string path_;
  std::ofstream out_;
  int64_t resumed_from_;  // the step resumed at, until the first write; -1: none
};

}  // namespace vktrain::train
