# ENRICHD_SANITIZE=ON builds everything with ASan + UBSan; the whole suite is expected to pass under it.
if(ENRICHD_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # Quoted so that the list stays inside the generator expression.
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_san}>")
  add_link_options(${_san})
endif()
