# Flags for the libFuzzer build (PGRELAY_BUILD_FUZZERS): every pgrelay library is compiled with
# coverage instrumentation and ASan+UBSan; only the fuzz executables link libFuzzer's main.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "PGRELAY_BUILD_FUZZERS needs clang (libFuzzer); use the fuzz preset")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
