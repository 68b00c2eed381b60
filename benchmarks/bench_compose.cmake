# bench_compose_programs(OUTDIR TARGET): builds benchmarks/bench_compose.cpp
# into the programs benchmarks/bench_compose.sh compares, and a target
# TARGET building them all:
#   OUTDIR/bench_compose_gomp         gcc -fopenmp (libgomp) + libtbb's own
#                                     worker threads
#   OUTDIR/bench_compose_lithe        the same object linked against
#                                     liblithe_omp instead of libgomp, plus
#                                     liblithe_tbb
#   OUTDIR/bench_compose_libomp       clang++-14 -fopenmp (LLVM's libomp) +
#                                     libtbb's workers
#   OUTDIR/bench_compose_lithe_clang  the clang object (libomp's __kmpc ABI)
#                                     on liblithe_omp + liblithe_tbb
# (the clang pair only if clang++-14 is installed). Custom commands rather
# than targets, like tests/omp: the OpenMP runtime is chosen at link time
# and two compilers are involved. Used by benchmarks/ and demo/.
function(bench_compose_programs outdir target)
  set(prefix ${outdir}/bench_compose)
  find_package(TBB 2021 CONFIG)
  if(NOT TBB_FOUND OR NOT TARGET lithe_omp OR NOT TARGET lithe_tbb)
    message(STATUS "oneTBB or the adapters missing: ${target} not built")
    return()
  endif()
  find_program(CLANGXX14 NAMES clang++-14)
  set(src ${PROJECT_SOURCE_DIR}/benchmarks/bench_compose.cpp)
  set(dirs "$<TARGET_FILE_DIR:lithe_omp>:$<TARGET_FILE_DIR:lithe_tbb>:$<TARGET_FILE_DIR:lithe_schedulers>:$<TARGET_FILE_DIR:lithe>:$<TARGET_FILE_DIR:parlib>")
  # compiler -> (stock program, lithe program)
  set(gcc_cxx ${CMAKE_CXX_COMPILER})
  set(gcc_stock ${prefix}_gomp)
  set(gcc_lithe ${prefix}_lithe)
  set(clang_cxx ${CLANGXX14})
  set(clang_stock ${prefix}_libomp)
  set(clang_lithe ${prefix}_lithe_clang)
  set(compilers gcc)
  if(CLANGXX14)
    list(APPEND compilers clang)
  endif()
  set(outputs)
  foreach(cc ${compilers})
    set(obj ${prefix}.${cc}.o)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${${cc}_cxx} -std=c++20 -O2 -fopenmp -c ${src} -o ${obj}
      DEPENDS ${src})
    add_custom_command(OUTPUT ${${cc}_stock}
      COMMAND ${${cc}_cxx} -fopenmp ${obj} -o ${${cc}_stock} -ltbb
      DEPENDS ${obj})
    # --no-as-needed: nothing in the program references liblithe_tbb (TBB
    # binds its server symbols at load time).
    add_custom_command(OUTPUT ${${cc}_lithe}
      COMMAND ${${cc}_cxx} ${obj} -o ${${cc}_lithe}
              $<TARGET_FILE:lithe_omp> -ltbb -Wl,--no-as-needed
              $<TARGET_FILE:lithe_tbb> -Wl,--as-needed -Wl,-rpath,${dirs}
      DEPENDS ${obj} lithe_omp lithe_tbb)
    list(APPEND outputs ${${cc}_stock} ${${cc}_lithe})
  endforeach()
  add_custom_target(${target} ALL DEPENDS ${outputs})
endfunction()
