// Prometheus text exposition format (version 0.0.4): metric families with # HELP and # TYPE, samples with
// escaped label values, and histograms as cumulative _bucket series ending in le="+Inf", plus _sum and
// _count. Only what the exporter needs; names are the caller's to get right.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace enrichd {

using PromLabels = std::vector<std::pair<std::string_view, std::string>>;

// A label value with backslash, double quote and newline escaped (\\, \", \n).
std::string prom_escape_label_value(std::string_view value);
// A sample value: integers as integers, others in the shortest exact form, NaN, +Inf and -Inf.
std::string prom_format_value(double value);

class PrometheusText {
 public:
  // Starts a family: `type` is counter, gauge, histogram or untyped. Call once per name, before its samples.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const PromLabels& labels, double value);
  void sample(std::string_view name, const PromLabels& labels, uint64_t value);
  // One histogram series: `counts` per bucket (not cumulative), one more than `bounds` (the overflow).
  void histogram(std::string_view name, const PromLabels& labels, std::span<const double> bounds,
                 std::span<const uint64_t> counts, double sum);

  const std::string& text() const { return out_; }

 private:
  void series(std::string_view name, std::string_view suffix, const PromLabels& labels,
              const std::pair<std::string_view, std::string>* extra, std::string_view value);
  std::string out_;
};

// The Content-Type of the format.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace enrichd
