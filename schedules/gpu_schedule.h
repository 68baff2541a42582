// The GPU scheduling recipe shared by every operator family (CUDA and OpenCL variants).
//
// One GPU thread per output element: a block of tile_x x tile_y threads covers a tile of the
// output's first two dims (the dense ones of PyTorch's contiguous layout, so neighbouring
// threads touch neighbouring addresses); every further dim is fused into the grid's third
// axis. Reductions (taps, windows, channels) run serially inside the thread, in registers.
// Tiles guard their tails, so any extent, 1 included, is fine.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"

namespace hup {

// The tunable GPU choices (each generator exposes them as GeneratorParams of the same name).
struct GpuKnobs {
    int tile_x = 32;  // threads per block along the output's first dim (a warp)
    int tile_y = 4;   // ... and along its second
};

// Tiles `stage` (a Func or one of its update Stages) over `dims` as above; returns the
// innermost thread var, where per-thread producers are computed.
template <typename StageT>
Halide::Var gpu_tile_all(StageT stage, const std::vector<Halide::Var> &dims, const GpuKnobs &knobs) {
    using namespace Halide;
    Var xo("gpu_xo"), xi("gpu_xi"), yo("gpu_yo"), yi("gpu_yi");
    if (dims.size() == 1) {
        stage.gpu_tile(dims[0], xo, xi, knobs.tile_x * knobs.tile_y, TailStrategy::GuardWithIf);
        return xi;
    }
    stage.gpu_tile(dims[0], dims[1], xo, yo, xi, yi, knobs.tile_x, knobs.tile_y, TailStrategy::GuardWithIf);
    if (dims.size() > 2) {
        Var rest = dims[2];
        for (size_t d = 3; d < dims.size(); d++) {
            Var fused("gpu_rest" + std::to_string(d));
            stage.fuse(rest, dims[d], fused);
            rest = fused;
        }
        stage.gpu_blocks(rest);
    }
    return xi;
}

// GPU variants take any strides (one variant serves contiguous, channels_last and strided
// tensors): lifts the unit-stride default of dim 0 from each buffer.
template <typename... Buffers>
void any_strides(Buffers &...buffers) {
    (buffers.dim(0).set_stride(Halide::Expr()), ...);
}

}  // namespace hup
