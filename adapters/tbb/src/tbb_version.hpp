// tbb_version.hpp: whether the libtbb in this process has the RML server
// interface we implement (oneTBB 2021.x). Defined in factory.cpp, which
// explains the check; callable anywhere, any time (the answer is computed
// once; a refusal is printed once).
#pragma once

namespace lithe_tbb {
bool tbb_compatible();
}
