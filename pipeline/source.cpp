#include "pipeline/source.h"

#include "pipeline/file_source.h"
#include "pipeline/kafka_source.h"
#include "pipeline/offset_store.h"

namespace enrichd {

Result<std::unique_ptr<Source>> make_source(const SourceConfig& config,
                                            std::unique_ptr<OffsetStore> offsets) {
  if (config.kind == SourceKind::kFile) return FileSource::open(config.path);
  return KafkaSource::open(config, std::move(offsets));
}

Result<int> check_source(const SourceConfig& config) {
  if (config.kind == SourceKind::kFile) {
    if (Status s = FileSource::check(config.path); !s) return s;
    return 0;
  }
  return KafkaSource::probe(config);
}

}  // namespace enrichd
