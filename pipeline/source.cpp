#include "pipeline/source.h"

#include "pipeline/file_source.h"
#include "pipeline/kafka_source.h"

namespace enrichd {

Result<std::unique_ptr<Source>> make_source(const SourceConfig& config) {
  if (config.kind == SourceKind::kFile) return FileSource::open(config.path);
  return KafkaSource::open(config);
}

}  // namespace enrichd
