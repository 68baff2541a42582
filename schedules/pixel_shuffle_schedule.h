// CPU schedule for pixel_shuffle / pixel_unshuffle (a 6-D transpose, see the generator).
//
// The recipe: vectorise the output's dense dim and unroll the r (or r*r) sub-positions right
// outside it, so that every vector of the input is loaded once and the strided pieces meet in
// registers:
//  - planar shuffle: vectors along w; the r stores of stride r (one per j) are adjacent, and
//    Halide merges them into dense interleaving stores;
//  - planar unshuffle: vectors along w, loaded with stride r (dense loads and a deinterleave);
//  - channels_last shuffle: vectors of channels, loaded with stride r*r from one pixel's
//    channels, stored densely;
//  - channels_last unshuffle: vectors of channels, stored with stride r*r and merged like the
//    planar shuffle's.
// The common factors 2, 3 and 4 are specialised so the sub-positions unroll; others loop.
// Planes (planar) or rows of blocks (channels_last) run in parallel.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "Halide.h"
#include "gpu_schedule.h"
#include "layout.h"
#include "streaming.h"

namespace hup {

enum class ShuffleDirection { Shuffle, Unshuffle };

inline std::map<std::string, ShuffleDirection> shuffle_direction_names() {
    return {{"shuffle", ShuffleDirection::Shuffle}, {"unshuffle", ShuffleDirection::Unshuffle}};
}

// dims: the Vars j, w, i, h, c, n of the generator.
inline void schedule_pixel_shuffle_cpu(const Halide::Target &target, ShuffleDirection direction, Layout layout,
                                       const std::vector<Halide::Var> &dims,
                                       Halide::GeneratorInput<Halide::Buffer<float, 6>> &in,
                                       Halide::GeneratorOutput<Halide::Buffer<float, 6>> &out,
                                       bool stream_out = false) {
    using namespace Halide;
    const Var j = dims[0], w = dims[1], i = dims[2], h = dims[3], c = dims[4], n = dims[5];
    const bool shuffle = direction == ShuffleDirection::Shuffle;
    const int lanes = target.natural_vector_size<float>();
    in.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());

    // The factor r: the extent of j in either buffer.
    const Expr factor = shuffle ? out.dim(0).extent() : in.dim(0).extent();
    Func output = out;
    // Planar outputs that leave the caches: whole aligned vectors, which the build makes
    // non-temporal. An output row is (j, w) for shuffle, whose merged stores then start at
    // (0, a whole vector of w); w for unshuffle.
    if (stream_out) align_for_streaming(output, shuffle ? 2 : 1);
    Var vo("vo"), vi("vi"), task("task");
    const Var vec = layout == Layout::Planar ? w : c;
    auto recipe = [&](Stage s, int r) {
        // channels_last: two vectors of channels at a time, whose r*r strided loads then come
        // from whole cache lines (measured 25% faster than one).
        s.split(vec, vo, vi, layout == Layout::ChannelsLast ? 2 * lanes : lanes, TailStrategy::GuardWithIf);
        std::vector<VarOrRVar> order = {vi, j};
        if (layout == Layout::ChannelsLast) order.push_back(i);
        order.push_back(vo);
        if (layout == Layout::Planar) order.push_back(i);
        for (const Var &v : {w, h, c, n}) {
            if (!v.same_as(vec)) order.push_back(v);
        }
        s.reorder(order).vectorize(vi);
        if (r > 0) {
            s.unroll(j, r, TailStrategy::GuardWithIf);
            if (layout == Layout::ChannelsLast) s.unroll(i, r, TailStrategy::GuardWithIf);
        }
        if (layout == Layout::Planar) {
            s.fuse(c, n, task).parallel(task);  // a task per output plane
        } else {
            s.fuse(h, n, task).parallel(task);  // a task per row of blocks
        }
    };
    // Dense buffers (contiguous or channels_last tensors) get their own loop nests: the
    // vectorised dims with unit stride. Within them, the common factors.
    const bool planar = layout == Layout::Planar;
    const int out_dense = planar ? 0 : (shuffle ? 4 : 2);
    const int in_dense = planar ? 0 : (shuffle ? 2 : 4);
    Stage dense = output.specialize(in.dim(in_dense).stride() == 1 && out.dim(out_dense).stride() == 1);
    // The sub-position dims of the dense side step by 1, r (and r*r for channels): said
    // explicitly, so that the strided accesses become shuffles of dense vectors, not gathers.
    auto steps = [&](int r) {
        if (planar) return shuffle ? out.dim(1).stride() == r : in.dim(1).stride() == r;
        if (shuffle) return in.dim(3).stride() == r && in.dim(4).stride() == r * r;
        return out.dim(3).stride() == r && out.dim(4).stride() == r * r;
    };
    for (int r : {2, 3, 4}) recipe(dense.specialize(factor == r && steps(r)), r);
    recipe(dense, 0);
    recipe(output, 0);
}


// GPU: a thread per output element, threads along the output's rows. Shuffle's output row is
// (j, w) and its row index (i, h): each pair fuses into one dim, so neighbouring threads write
// neighbouring addresses. Unshuffle's output rows are plain w.
inline void schedule_pixel_shuffle_gpu(const GpuKnobs &knobs, ShuffleDirection direction,
                                       const std::vector<Halide::Var> &vars,  // j, w, i, h, c, n
                                       Halide::GeneratorInput<Halide::Buffer<float, 6>> &in,
                                       Halide::GeneratorOutput<Halide::Buffer<float, 6>> &out) {
    using namespace Halide;
    const Var j = vars[0], w = vars[1], i = vars[2], h = vars[3], c = vars[4], n = vars[5];
    any_strides(in, out);
    Func output = out;
    if (direction == ShuffleDirection::Shuffle) {
        const Var row("row"), column("column");
        output.fuse(j, w, column).fuse(i, h, row);
        gpu_tile_all(output, {column, row, c, n}, knobs);
    } else {
        gpu_tile_all(output, {w, h, j, i, c, n}, knobs);
    }
}

}  // namespace hup
