# Every dependency comes from a Debian package (scripts/bootstrap installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(simdjson REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
# The /metrics exporter's HTTP server. Debian's libcivetweb-dev has no pkg-config file, and its CMake
# package names the civetweb server binary (not installed), so the library is found by hand.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h REQUIRED)
find_library(CIVETWEB_LIBRARY civetweb REQUIRED)
add_library(enrichd_civetweb INTERFACE)
target_include_directories(enrichd_civetweb SYSTEM INTERFACE ${CIVETWEB_INCLUDE_DIR})
target_link_libraries(enrichd_civetweb INTERFACE ${CIVETWEB_LIBRARY})

pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
pkg_check_modules(MAXMINDDB REQUIRED IMPORTED_TARGET libmaxminddb)

if(ENRICHD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(ENRICHD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
