# ctest helper: runs the C and the C++ sample on MODEL and checks that they print the same output values and
# argmax (the lines starting with "output " and "argmax:").
#   cmake -DC_SAMPLE=... -DCPP_SAMPLE=... -DMODEL=... -P CompareSamples.cmake
foreach(v C_SAMPLE CPP_SAMPLE MODEL)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "CompareSamples.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run_sample exe out_var)
  execute_process(COMMAND "${exe}" "${MODEL}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${exe} ${MODEL} failed (${rc}):\n${out}${err}")
  endif()
  string(REGEX MATCHALL "(output [^\n]*|argmax:[^\n]*)" lines "${out}")
  if(NOT lines)
    message(FATAL_ERROR "${exe} printed no output/argmax lines:\n${out}")
  endif()
  set(${out_var} "${lines}" PARENT_SCOPE)
endfunction()

run_sample("${C_SAMPLE}" c_lines)
run_sample("${CPP_SAMPLE}" cpp_lines)
if(NOT c_lines STREQUAL cpp_lines)
  message(FATAL_ERROR "samples disagree:\n  C:   ${c_lines}\n  C++: ${cpp_lines}")
endif()
message(STATUS "samples agree: ${c_lines}")
