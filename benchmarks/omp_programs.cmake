# omp_programs(SRC PREFIX LANG OUTPUTS_VAR [STOCK_LIBS ...] [LITHE_LIBS ...]
#              [LITHE_TARGETS ...]): builds one OpenMP source into the
# programs that compare the stock OpenMP runtimes with liblithe_omp, each
# pair from one object:
#   PREFIX_gomp         gcc -fopenmp (libgomp)
#   PREFIX_lithe        the same object linked against liblithe_omp
#                       instead of libgomp
#   PREFIX_libomp       clang-14 -fopenmp (LLVM's libomp)
#   PREFIX_lithe_clang  the clang object (libomp's __kmpc ABI) on
#                       liblithe_omp
# (the clang pair only if clang-14 / clang++-14 and libomp are installed). LANG is C
# or CXX (C++20). STOCK_LIBS are appended to the stock links, LITHE_LIBS
# to the lithe links (after liblithe_omp); LITHE_TARGETS are the targets
# the lithe links depend on besides lithe_omp (their directories go into
# the rpath). Appends the programs to OUTPUTS_VAR in the caller's scope.
# Custom commands rather than targets, like tests/omp: the OpenMP runtime
# is chosen at link time and two compilers are involved. Used by
# bench_compose.cmake and benchmarks/CMakeLists.txt (bench_epcc).
function(omp_programs src prefix lang outputs_var)
  cmake_parse_arguments(P "" "" "STOCK_LIBS;LITHE_LIBS;LITHE_TARGETS" ${ARGN})
  if(lang STREQUAL "CXX")
    find_program(CLANGXX14 NAMES clang++-14)
    set(gcc_cc ${CMAKE_CXX_COMPILER})
    set(clang_cc ${CLANGXX14})
    set(std -std=c++20)
  else()
    find_program(CLANG14 NAMES clang-14)
    set(gcc_cc ${CMAKE_C_COMPILER})
    set(clang_cc ${CLANG14})
    set(std -std=gnu11)
  endif()
  set(dirs "$<TARGET_FILE_DIR:lithe_omp>")
  foreach(t ${P_LITHE_TARGETS} lithe_schedulers lithe parlib)
    string(APPEND dirs ":$<TARGET_FILE_DIR:${t}>")
  endforeach()
  # compiler -> (stock program, lithe program)
  set(gcc_stock ${prefix}_gomp)
  set(gcc_lithe ${prefix}_lithe)
  set(clang_stock ${prefix}_libomp)
  set(clang_lithe ${prefix}_lithe_clang)
  # clang -fopenmp links LLVM's libomp (Debian: libomp-14-dev); without
  # it the clang pair would fail to link, so it is skipped.
  find_library(LIBOMP14 NAMES omp PATHS /usr/lib/llvm-14/lib)
  set(compilers gcc)
  if(clang_cc AND LIBOMP14)
    list(APPEND compilers clang)
  else()
    message(STATUS "clang-14 or libomp missing: ${prefix}_libomp/_lithe_clang not built")
  endif()
  set(outputs ${${outputs_var}})
  foreach(cc ${compilers})
    set(obj ${prefix}.${cc}.o)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${${cc}_cc} ${std} -O2 -fopenmp -c ${src} -o ${obj}
      DEPENDS ${src})
    add_custom_command(OUTPUT ${${cc}_stock}
      COMMAND ${${cc}_cc} -fopenmp ${obj} -o ${${cc}_stock} ${P_STOCK_LIBS}
      DEPENDS ${obj})
    add_custom_command(OUTPUT ${${cc}_lithe}
      COMMAND ${${cc}_cc} ${obj} -o ${${cc}_lithe}
              $<TARGET_FILE:lithe_omp> ${P_LITHE_LIBS} -Wl,-rpath,${dirs}
      DEPENDS ${obj} lithe_omp ${P_LITHE_TARGETS})
    list(APPEND outputs ${${cc}_stock} ${${cc}_lithe})
  endforeach()
  set(${outputs_var} ${outputs} PARENT_SCOPE)
endfunction()
