# Warnings apply to pgrelay's own targets only, never to third-party headers.
function(pgrelay_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wno-missing-field-initializers -Werror=unused-result)
  if(PGRELAY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
