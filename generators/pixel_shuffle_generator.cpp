// pixel_shuffle / pixel_unshuffle: one transpose of 6-D views.
//
// With factor r, pixel_shuffle writes output channel c at (h*r + i, w*r + j) from input
// channel c*r*r + i*r + j at (h, w); unshuffle is the inverse. The runtime
// (runtime/pixel_shuffle.cpp) views both tensors with those six indices as separate dims:
// block position w, h; position within the block j (along x), i (along y); channel c; batch n
// (every leading dim it can flatten). On those views both operators are a pure transpose:
//   shuffle    out(j, w, i, h, c, n) = in(w, h, j, i, c, n)
//   unshuffle  out(w, h, j, i, c, n) = in(j, w, i, h, c, n)
// so any strides, contiguous or channels_last, run on the same algorithm; the variants only
// change which dim the schedule vectorises.
#include "Halide.h"

#include "pixel_shuffle_schedule.h"

namespace hup {

using namespace Halide;

class PixelShuffle : public Generator<PixelShuffle> {
public:
    GeneratorParam<ShuffleDirection> direction{"direction", ShuffleDirection::Shuffle, shuffle_direction_names()};
    GeneratorParam<Layout> layout{"layout", Layout::Planar, layout_names()};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};
    // Planar, for outputs larger than the caches: aligned, with non-temporal stores
    // (schedules/streaming.h).
    GeneratorParam<bool> stream_out{"stream_out", false};

    Input<Buffer<float, 6>> in{"in"};
    Output<Buffer<float, 6>> out{"out"};

    void generate() {
        const Var j("j"), w("w"), i("i"), h("h"), c("c"), n("n");
        if (direction == ShuffleDirection::Shuffle) {
            out(j, w, i, h, c, n) = in(w, h, j, i, c, n);
        } else {
            out(w, h, j, i, c, n) = in(j, w, i, h, c, n);
        }
        if (get_target().has_gpu_feature()) {
            schedule_pixel_shuffle_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, direction, {j, w, i, h, c, n}, in, out);
        } else {
            schedule_pixel_shuffle_cpu(get_target(), direction, layout, {j, w, i, h, c, n}, in, out, stream_out);
        }
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::PixelShuffle, pixel_shuffle)
