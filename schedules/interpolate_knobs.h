// The interpolate CPU schedule's tunable choices, with their defaults.
// The generator exposes each as a GeneratorParam of the same name, so a tuned build passes
// e.g. `tile_rows=8` through add_halide_library's PARAMS (schedules/tuned/ holds the winners).
#pragma once

namespace hup {

struct InterpolateCpuKnobs {
    int vector_lanes = 0;      // float lanes per vector; 0 means the target's natural width
    int tile_rows = 0;         // output rows (2-D) or slices (3-D) per parallel tile; 0: default
    int tile_cols = 64;        // channels_last 2-D: output columns per tile; 0: whole rows
    int inline_taps = 1;       // channels_last: inline every pass of variants with at most this many taps
    // Channel-block variants (planar 2-D, H pass first): channels transposed per block, and
    // output rows per parallel strip. The runtime takes them only for C and W_out >= block.
    int channel_block = 8;
    // Run-time tap counts with windows in range: taps summed per vector (at most the target's).
    int tap_lanes = 8;
    int block_rows = 8;
    // channels_last: vectors of channels per output pixel, unrolled, when C has that many
    // (the per-pixel tap indices and weights are then shared by all of them).
    int channel_vectors = 4;
    int llvm_slp = 1;  // LLVM's SLP vectorizer (schedules/llvm_flags.h): on, the gathers use it

    // Planar 2-D tiles are a few KB per row, channels_last ones C times more, 3-D ones a plane.
    int rows(int spatial_rank, bool channels_last) const {
        if (tile_rows > 0) return tile_rows;
        return spatial_rank == 3 || channels_last ? 8 : 32;
    }
};

}  // namespace hup
