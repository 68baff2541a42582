// The conv_transpose CPU schedule's tunable choices, with their defaults, and the padding
// contract between the schedule and the runtime's weight packing. Halide-free: the runtime
// includes it too. The generator exposes each knob as a GeneratorParam of the same name.
#pragma once

namespace hup {

// The runtime pads the packed weights' and bias's output channels (groups, for depthwise) to
// a multiple of this; every channel block a tile may take (8, 16, 24 for short rows, 32, 48)
// must divide it, since tiles are computed whole. 96 rather than 48 admits blocks of 32: two
// AVX-512 vectors of channels, which the Zen 5 tuning picked (schedules/tuned/). The padding
// is storage only; tiles past the real channels are never run.
constexpr int kConvChannelPad = 96;
// Input-channel tiles (few output channels): the packed weights' input channels are padded to
// a multiple of this, the widest vector (AVX-512's 16 floats), with zeros.
constexpr int kConvInputChannelPad = 16;
// Input-channel tiles read past a phase's last position up to the end of its last tile, from
// the border the runtime adds, which reaches a multiple of this: tiles' positions divide it.
constexpr int kInputChannelTileMaxPositions = 8;

// 2-D planar position tiles likewise: their positions and rows divide these.
constexpr int kPositionTileMaxPositions = 32;
constexpr int kPositionTileMaxRows = 4;

struct ConvTransposeCpuKnobs {
    int channel_block = 16;  // channels_last: output channels per register tile (divides kConvChannelPad)
    int position_block = 0;  // positions per register tile (planar: vectors); 0: fill the registers
    int task_rows = 0;       // output rows (slices, 1-D: tiles) per parallel task; 0: default
    int channel_tiles_per_task = 4;  // channel tiles a parallel task runs over one input copy
    // Rows per register tile (2-D; position tiles 3-D too); 0: the tiling's default. Position
    // tiles: 4 with 16-float vectors (AVX-512's 32 registers hold 3 channels x 2 vectors x 4
    // rows of sums), else 1. Channel tiles summed in blocks, with 16-float vectors only: 1
    // (short rows' tiles of 4 positions and one vector of channels take 2).
    int tile_rows = 0;
    int reduction_block = 0;  // channel tiles: input channels per block of the sum; 0: no blocks
    int llvm_slp = 0;  // LLVM's SLP vectorizer (schedules/llvm_flags.h): off, it costs the tiles'
                       // inner loops address arithmetic (input-channel tiles keep it)
    int narrow_channels = 3;  // position-vector tiles: output channels per tile (<= kConvChannelPad)
    // Listed positions (generators/conv_transpose_generator.cpp): positions per register tile
    // (with one vector of channel_block channels; the runtime pads its lists to this default,
    // so it is not for tuning), and position tiles per parallel task (one: a DCGAN's boxes are
    // a few tiles each, and bigger tasks left a thread idle).
    int listed_position_block = 8;
    int position_tiles_per_task = 1;

    int rows_per_tile(bool position_vectors, int lanes) const {
        if (tile_rows > 0) return tile_rows;
        return position_vectors && lanes >= 16 ? 4 : 1;
    }

    // 1-D tiles: channel-vector tiles are a few positions, position-vector ones a few vectors.
    int rows(int spatial_rank, bool channel_vectors) const {
        if (task_rows > 0) return task_rows;
        return spatial_rank == 1 && channel_vectors ? 16 : 4;
    }
};

}  // namespace hup
