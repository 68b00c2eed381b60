# bench_compose_programs(OUTDIR TARGET): builds benchmarks/bench_compose.cpp
# as OUTDIR/bench_compose_stock (gcc -fopenmp = libgomp, -ltbb = TBB's own
# worker threads) and OUTDIR/bench_compose_lithe (liblithe_omp instead of
# libgomp, plus liblithe_tbb), and a target TARGET building both (the names
# bench_compose.sh expects). Custom commands
# rather than targets, like tests/omp: the OpenMP runtime is chosen at link
# time. Used by benchmarks/ and demo/.
function(bench_compose_programs outdir target)
  set(prefix bench_compose)
  find_package(TBB 2021 CONFIG)
  if(NOT TBB_FOUND OR NOT TARGET lithe_omp OR NOT TARGET lithe_tbb)
    message(STATUS "oneTBB or the adapters missing: ${target} not built")
    return()
  endif()
  set(src ${PROJECT_SOURCE_DIR}/benchmarks/bench_compose.cpp)
  set(obj ${outdir}/${prefix}.o)
  set(dirs "$<TARGET_FILE_DIR:lithe_omp>:$<TARGET_FILE_DIR:lithe_tbb>:$<TARGET_FILE_DIR:lithe_schedulers>:$<TARGET_FILE_DIR:lithe>:$<TARGET_FILE_DIR:parlib>")
  add_custom_command(OUTPUT ${obj}
    COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -O2 -fopenmp -c ${src} -o ${obj}
    DEPENDS ${src})
  add_custom_command(OUTPUT ${outdir}/${prefix}_stock
    COMMAND ${CMAKE_CXX_COMPILER} -fopenmp ${obj} -o ${outdir}/${prefix}_stock -ltbb
    DEPENDS ${obj})
  # --no-as-needed: nothing in the program references liblithe_tbb (TBB
  # binds its server symbols at load time).
  add_custom_command(OUTPUT ${outdir}/${prefix}_lithe
    COMMAND ${CMAKE_CXX_COMPILER} ${obj} -o ${outdir}/${prefix}_lithe
            $<TARGET_FILE:lithe_omp> -ltbb -Wl,--no-as-needed
            $<TARGET_FILE:lithe_tbb> -Wl,--as-needed -Wl,-rpath,${dirs}
    DEPENDS ${obj} lithe_omp lithe_tbb)
  add_custom_target(${target} ALL
    DEPENDS ${outdir}/${prefix}_stock ${outdir}/${prefix}_lithe)
endfunction()
