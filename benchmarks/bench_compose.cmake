# bench_compose_programs(OUTDIR TARGET): builds benchmarks/bench_compose.cpp
# into the programs benchmarks/bench_compose.sh compares, and a target
# TARGET building them all (omp_programs.cmake names them):
#   OUTDIR/bench_compose_gomp         gcc -fopenmp (libgomp) + libtbb's own
#                                     worker threads
#   OUTDIR/bench_compose_lithe        the same object linked against
#                                     liblithe_omp instead of libgomp, plus
#                                     liblithe_tbb
#   OUTDIR/bench_compose_libomp       clang++-14 -fopenmp (LLVM's libomp) +
#                                     libtbb's workers
#   OUTDIR/bench_compose_lithe_clang  the clang object (libomp's __kmpc ABI)
#                                     on liblithe_omp + liblithe_tbb
# (the clang pair only if clang++-14 is installed). Used by benchmarks/ and
# demo/.
include(${CMAKE_CURRENT_LIST_DIR}/omp_programs.cmake)
function(bench_compose_programs outdir target)
  find_package(TBB 2021 CONFIG)
  if(NOT TBB_FOUND OR NOT TARGET lithe_omp OR NOT TARGET lithe_tbb)
    message(STATUS "oneTBB or the adapters missing: ${target} not built")
    return()
  endif()
  set(outputs)
  # --no-as-needed: nothing in the program references liblithe_tbb (TBB
  # binds its server symbols at load time).
  omp_programs(${PROJECT_SOURCE_DIR}/benchmarks/bench_compose.cpp
    ${outdir}/bench_compose CXX outputs
    STOCK_LIBS -ltbb
    LITHE_LIBS -ltbb -Wl,--no-as-needed $<TARGET_FILE:lithe_tbb> -Wl,--as-needed
    LITHE_TARGETS lithe_tbb)
  add_custom_target(${target} ALL DEPENDS ${outputs})
endfunction()
