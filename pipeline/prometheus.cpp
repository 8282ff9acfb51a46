#include "pipeline/prometheus.h"

#include <fmt/format.h>

#include <cmath>

namespace enrichd {

std::string prom_escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string prom_format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15)
    return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

namespace {

// HELP text escapes backslash and newline only.
std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name,
                 type);
}

void PrometheusText::series(std::string_view name, std::string_view suffix, const PromLabels& labels,
                            const std::pair<std::string_view, std::string>* extra, std::string_view value) {
  out_.append(name);
  out_.append(suffix);
  if (!labels.empty() || extra) {
    out_.push_back('{');
    bool first = true;
    auto label = [&](std::string_view k, std::string_view v) {
      fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", k,
                     prom_escape_label_value(v));
      first = false;
    };
    for (const auto& [k, v] : labels) label(k, v);
    if (extra) label(extra->first, extra->second);
    out_.push_back('}');
  }
  out_.push_back(' ');
  out_.append(value);
  out_.push_back('\n');
}

void PrometheusText::sample(std::string_view name, const PromLabels& labels, double value) {
  series(name, "", labels, nullptr, prom_format_value(value));
}

void PrometheusText::sample(std::string_view name, const PromLabels& labels, uint64_t value) {
  series(name, "", labels, nullptr, fmt::format("{}", value));
}

void PrometheusText::histogram(std::string_view name, const PromLabels& labels,
                               std::span<const double> bounds, std::span<const uint64_t> counts, double sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    const std::pair<std::string_view, std::string> le{"le", prom_format_value(bounds[i])};
    series(name, "_bucket", labels, &le, fmt::format("{}", cumulative));
  }
  for (size_t i = bounds.size(); i < counts.size(); ++i) cumulative += counts[i];
  const std::pair<std::string_view, std::string> inf{"le", "+Inf"};
  series(name, "_bucket", labels, &inf, fmt::format("{}", cumulative));
  series(name, "_sum", labels, nullptr, prom_format_value(sum));
  series(name, "_count", labels, nullptr, fmt::format("{}", cumulative));
}

}  // namespace enrichd
