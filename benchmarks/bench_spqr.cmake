# bench_spqr.cmake: builds benchmarks/bench_spqr.cpp (the SPQR-like tree of
# spqr_tree.hpp) into the two programs benchmarks/bench_spqr.sh compares:
#   bench_spqr_stock  libtbb's own worker threads; OpenBLAS's OpenMP is
#                     libgomp
#   bench_spqr_lithe  the same plus liblithe_tbb; run with LD_LIBRARY_PATH=
#                     the drop-in directory (adapters/omp/dropin), where
#                     OpenBLAS's libgomp.so.1 is liblithe_omp
# Plain targets: the program itself uses no OpenMP (only OpenBLAS does), so
# no compiler flag picks the runtime. Needs oneTBB, the adapters and
# Debian's OpenMP OpenBLAS (LITHE_OPENBLAS_OMP); without them it says so
# and builds nothing.
find_package(TBB 2021 CONFIG)
if(NOT TBB_FOUND OR NOT TARGET lithe_tbb OR NOT TARGET lithe_omp_as_gomp
   OR NOT EXISTS ${LITHE_OPENBLAS_OMP})
  message(STATUS "oneTBB, the adapters or ${LITHE_OPENBLAS_OMP} missing: bench_spqr not built")
  return()
endif()
get_filename_component(openblas_dir ${LITHE_OPENBLAS_OMP} DIRECTORY)
foreach(way stock lithe)
  add_executable(bench_spqr_${way} ${CMAKE_CURRENT_LIST_DIR}/bench_spqr.cpp)
  target_link_libraries(bench_spqr_${way} PRIVATE TBB::tbb ${LITHE_OPENBLAS_OMP})
  set_target_properties(bench_spqr_${way} PROPERTIES BUILD_RPATH ${openblas_dir})
endforeach()
# --no-as-needed: nothing in the program references liblithe_tbb (TBB binds
# its server symbols at load time).
target_link_libraries(bench_spqr_lithe PRIVATE -Wl,--no-as-needed lithe_tbb -Wl,--as-needed)
# The lithe runs need the drop-in libgomp.so.1 built.
add_dependencies(bench_spqr_lithe lithe_omp_as_gomp)
