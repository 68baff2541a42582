// Halide dims shared by the generators: spatial dims first, fastest (PyTorch's last) first.
#pragma once

#include <vector>

#include "Halide.h"

namespace hup {

// x, then y, then z: as many as the spatial rank.
inline std::vector<Halide::Var> spatial_vars(int rank) {
    std::vector<Halide::Var> dims;
    for (const char *name : {"x", "y", "z"}) {
        if ((int)dims.size() < rank) dims.emplace_back(name);
    }
    return dims;
}

}  // namespace hup
