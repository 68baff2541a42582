// CPU schedule for the interpolate generator, kept apart from its algorithm.
//
// Recipe, for an output with Halide dims (x[, y[, z]], c, n):
//  1. Cut the outermost spatial dim into strips of `rows` output rows (slices in 3-D); for
//     channels_last 2-D, also cut x into `tile_cols` columns, so that a tile's intermediate
//     rows (C x cols x rows) stay in L2.
//  2. Run strips in parallel, fused with channel and batch (planar) or batch (channels_last).
//  3. Compute each pass but the last once per tile, vectorised along the dense dim (x for
//     planar, c for channels_last). The last pass is inlined into the output's vector loop,
//     and so is every pass of nearest, which only moves data, and of the direct variants.
// The strip height is a run-time value (see the generator's rows_per_tile).
// Every split guards its tail, so extents of 1, or smaller than any factor, are fine.
#pragma once

#include <vector>

#include "Halide.h"
#include "gpu_schedule.h"
#include "interpolate_knobs.h"
#include "layout.h"
#include "llvm_flags.h"

namespace hup {

// The run-time cases the schedule specialises on (see the generator's inputs).
struct InterpolateCases {
    std::vector<Halide::Expr> x_steps;  // fixed taps: the table, then each affine x step (x2 up, x2 down)
    Halide::Expr x_upsampling_2x;       // the x2-up one of x_steps
    Halide::Expr x_taps_dense;          // run-time taps: x windows in range, weights tap-major
    Halide::Expr weights_by_position;   // run-time taps: weights position-major
    Halide::Func row_taps;              // each output row's taps and weights, where defined
};

// Vectorises a pass along `dense`; an update (the run-time tap loop) keeps its tap loop outside.
inline void vectorize_pass(Halide::Func pass, const Halide::Var &dense, int lanes) {
    using namespace Halide;
    pass.vectorize(dense, lanes, TailStrategy::GuardWithIf);
    if (pass.has_update_definition()) {
        RVar k = pass.rvars(0)[0];
        pass.update().reorder(dense, k).vectorize(dense, lanes, TailStrategy::GuardWithIf);
    }
}

inline void schedule_interpolate_cpu(const Halide::Target &target, Layout layout, int taps,
                                     const InterpolateCpuKnobs &knobs, const Halide::Expr &tile_rows,
                                     const InterpolateCases &cases,
                                     const std::vector<Halide::Var> &dims,
                                     const std::vector<Halide::Func> &passes, int x_pass_index, bool direct,
                                     Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                     Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    const int rank = (int)dims.size() - 2;
    const Var x = dims[0], c = dims[rank], n = dims[rank + 1];
    const bool channels_last = layout == Layout::ChannelsLast;
    const int lanes = knobs.vector_lanes > 0 ? knobs.vector_lanes : target.natural_vector_size<float>();
    const Var dense = channels_last ? c : x;

    if (channels_last) {  // c is the unit-stride dim; the others are whatever the caller has
        in.dim(0).set_stride(Expr());
        in.dim(rank).set_stride(1);
        out.dim(0).set_stride(Expr());
        out.dim(rank).set_stride(1);
    }

    Func output = out;
    Var strip("strip"), row("row"), col_tile("col_tile"), col("col"), task("task"), vo("vo"), vi("vi");
    LoopLevel tile_level = LoopLevel::root();
    if (rank == 1) {
        output.fuse(c, n, task).parallel(task);
    } else {
        const Var outer = dims[rank - 1];
        output.split(outer, strip, row, tile_rows, TailStrategy::GuardWithIf);
        std::vector<VarOrRVar> inner;  // loops inside one tile, innermost first
        if (channels_last) inner.push_back(c);
        inner.push_back(x);
        if (rank == 3) inner.push_back(dims[1]);
        inner.push_back(row);
        if (channels_last && rank == 2 && knobs.tile_cols > 0) {
            output.split(x, col_tile, col, knobs.tile_cols, TailStrategy::GuardWithIf);
            inner[1] = col;
            inner.push_back(col_tile);
        }
        std::vector<VarOrRVar> order = inner;
        order.push_back(strip);
        if (!channels_last) order.push_back(c);
        order.push_back(n);
        output.reorder(order);
        if (channels_last) {
            output.fuse(strip, n, task).parallel(task);
        } else {
            output.fuse(strip, c, task).fuse(task, n, task).parallel(task);
        }
        const bool column_tiles = channels_last && rank == 2 && knobs.tile_cols > 0;
        tile_level = column_tiles ? LoopLevel(output, col_tile) : LoopLevel(output, task);
    }
    std::vector<Stage> output_branches = {output};  // the output's schedule and its specialisations
    if (channels_last && knobs.channel_vectors > 1) {
        // Whole pixels of C >= channel_vectors vectors: one unrolled block of vectors per pixel
        // (the last block shifted inwards, rewriting a few channels), so that the pixel's tap
        // addresses and weights are worked out once for all of them.
        const int block = lanes * knobs.channel_vectors;
        Var c_block("c_block"), c_in_block("c_in_block");
        output_branches.push_back(output.specialize(out.dim(rank).extent() >= block));
        output_branches.back()
            .split(c, c_block, c_in_block, block, TailStrategy::ShiftInwards)
            .split(c_in_block, vo, vi, lanes)
            .vectorize(vi)
            .unroll(vo);
    }
    // Direct variants split 2x upsampling's vectors by phase: twice the
    // lanes keep each phase a whole vector, and a first column of 0 starts every vector on
    // phase 0. (Their table case keeps one vector's lanes: its loads gather lane by lane.)
    if (direct && taps > 0) {
        Stage upsampling = output.specialize(cases.x_upsampling_2x);
        upsampling.split(dense, vo, vi, 2 * lanes, TailStrategy::GuardWithIf).vectorize(vi);
        // Rows longer than a phase's vector: the row's first vector then never reaches the
        // last column, nor its last the first, and each gathers on one clamped tap, not two
        // (8x32x256x256 x2: 7.4 ms against 8.8).
        upsampling.specialize(in.dim(0).extent() > lanes);
        out.dim(0).set_min(0);
    }
    output.split(dense, vo, vi, lanes, TailStrategy::GuardWithIf).vectorize(vi);

    // Nearest moves data only: straight from input to output, without an intermediate to store
    // and reload (channels_last: whole C-vectors; planar: one shuffle per output vector, which
    // the output's rows repeat rather than copy). channels_last may inline more (inline_taps);
    // direct variants inline every pass.
    const bool inline_passes = taps > 0 && (direct || taps <= (channels_last ? knobs.inline_taps : 1));
    for (size_t i = 0; i + 1 < passes.size() && !inline_passes; i++) {
        Func pass = passes[i];
        if ((int)i == x_pass_index && taps == 0 && !channels_last) {
            // Run-time taps along x: with windows in range, sum each output's taps as vectors
            // (dense loads along the row, a horizontal add); otherwise gather across outputs.
            pass.compute_at(tile_level).vectorize(x, lanes, TailStrategy::GuardWithIf);
            Stage update = pass.update();
            RVar k = pass.rvars(0)[0], k_outer("k_outer"), k_inner("k_inner");
            // Windows of 5 to 20 taps (antialiased 2x to 4x downsampling) fill 8-float
            // vectors: a 16-float one would leave windows under 16 taps to the scalar tail.
            update.specialize(cases.x_taps_dense)
                .atomic()
                .split(k, k_outer, k_inner, std::min(lanes, knobs.tap_lanes), TailStrategy::GuardWithIf)
                .vectorize(k_inner);
            update.specialize(cases.weights_by_position)
                .reorder(x, k)
                .vectorize(x, lanes, TailStrategy::GuardWithIf);
            update.specialize_fail("interpolate: unsupported tap table layout");
            continue;
        }
        // Planar 2-D with the H pass first: its rows are the output's, one each, so it runs
        // row by row into one row's buffer (folded), which the W pass reads from L1 rather
        // than a tile's rows from L2 (1x3x1080x1920 -> 540x960 bilinear: 0.32-0.35 ms
        // against 0.37-0.38; area 0.31-0.36 against 0.38-0.41; interleaved).
        const bool y_pass_first = !channels_last && rank == 2 && x_pass_index == 1;
        pass.compute_at(y_pass_first ? LoopLevel(output, row) : tile_level).store_at(tile_level);
        if (channels_last) {  // c innermost in the loops and in memory: dense vector loads/stores
            std::vector<Var> storage = {c};
            for (int d = 0; d < rank; d++) storage.push_back(dims[d]);
            storage.push_back(n);
            pass.reorder(c, x).reorder_storage(storage);
        }
        vectorize_pass(pass, dense, lanes);
    }
    // Fixed-tap variants: one copy of the x pass per first-tap case (cases.x_steps: the table,
    // then each affine step), so that the index folds to constants and, for planar, its loads
    // become dense. The runtime never asks for another step. Inlined into the output, the
    // copies go inside each of the output's own branches: a sibling of the channel-vector
    // branch would never be taken when that one is, which left a table load and an integer
    // division per pixel in channels_last x2 upsampling.
    if (taps > 0) {
        const bool x_pass_inlined = x_pass_index + 1 == (int)passes.size() || inline_passes;
        std::vector<Stage> branches = x_pass_inlined ? output_branches : std::vector<Stage>{Func(passes[x_pass_index])};
        for (Stage &branch : branches) {
            for (const Expr &condition : cases.x_steps) branch.specialize(condition);
            branch.specialize_fail("interpolate: unsupported x step");
        }
    }
    // Each output row's taps and weights once per row of the pass that resamples along y: Halide
    // hoists no loads, and inlined they are a table load, two clamps and two weight loads per
    // vector (or per pixel, channels_last). 1x64x128x128 x2 bilinear, channels_last: 0.34 ms
    // against 0.40; 8x32x256x256 planar (direct): 6.8 against 7.3.
    if (cases.row_taps.defined()) {
        const bool y_pass_inlined = inline_passes || passes.size() == 1 || x_pass_index == 0;
        if (y_pass_inlined) {
            Func(cases.row_taps).compute_at(output, row);
        } else {
            Func(cases.row_taps).compute_at(passes[0], dims[1]);
        }
    }
    Func last = passes.back();
    if (last.has_update_definition()) {
        last.compute_at(output, vo);
        vectorize_pass(last, dense, lanes);
    }
}

// Channel-block schedule for planar 2-D with fixed taps, H pass first. A planar W pass gathers
// its taps across each output vector (scalar loads and inserts); here it runs with channels
// as the vector lanes instead, on blocks of `channel_block` channels, the way the
// channels_last variants do: a tap is one dense C-vector load and one broadcast weight. The
// transpositions in and out cost a few shuffles per element: Halide turns a block of
// `block` stores of stride `block` into one interleaving shuffle and dense stores.
//  1. Tasks: strips of `block_rows` output rows x channel blocks x batch. A block is exactly
//     `block` channels (ShiftInwards: the last block overlaps its neighbour), as are the
//     output's column blocks, so that the unrolled loops have constant extents; the runtime
//     takes this variant only for C and W_out of at least `block`.
//  2. The H pass, per task: vectorised along x with the block's channels unrolled, stored
//     channel-innermost (the stores interleave: the transposition in).
//  3. The W pass, per block of `block` output columns and one row: vectorised along the
//     channels with the columns unrolled, stored column-innermost (the transposition out).
//  4. The output copies those column vectors, channel by channel.
inline void schedule_interpolate_channel_blocks(const InterpolateCpuKnobs &knobs, const Halide::Expr &tile_rows,
                                                const Halide::Expr &x_taps_in_range,
                                                const std::vector<Halide::Var> &dims,
                                                const std::vector<Halide::Func> &passes,
                                                Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    const Var x = dims[0], y = dims[1], c = dims[2], n = dims[3];
    const int block = knobs.channel_block;
    Func output = out, h_pass = passes[0], w_pass = passes[1];
    Var channel_block("channel_block"), channel("channel"), strip("strip"), row("row"), col_block("col_block"),
        col("col"), task("task"), h_col_block("h_col_block"), h_col("h_col");
    output.split(c, channel_block, channel, block, TailStrategy::ShiftInwards)
        .split(y, strip, row, tile_rows, TailStrategy::GuardWithIf)
        .split(x, col_block, col, block, TailStrategy::ShiftInwards)
        .reorder(col, channel, col_block, row, strip, channel_block, n)
        .fuse(strip, channel_block, task)
        .fuse(task, n, task)
        .parallel(task)
        .vectorize(col)
        .unroll(channel);
    w_pass.compute_at(output, col_block).reorder(c, x, y, n).vectorize(c).unroll(x);
    output.specialize(x_taps_in_range != 0);  // the W pass's windows need no clamp per tap
    h_pass.compute_at(output, task)
        .reorder_storage(c, x, y, n)
        .split(x, h_col_block, h_col, block, TailStrategy::GuardWithIf)
        .reorder(h_col, c, h_col_block, y, n)
        .vectorize(h_col)
        .unroll(c);
}

// GPU schedule: every output element is a thread (schedules/gpu_schedule.h). Fixed-tap passes
// inline into it: a thread computes its taps^rank products itself, in the same order as the
// separate passes would, so the sums round alike. Run-time tap passes (area, antialias) keep
// their reduction: each but the last is a kernel of its own over its whole intermediate; the
// last is summed in the output's thread.
inline void schedule_interpolate_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims,
                                     const std::vector<Halide::Func> &passes,
                                     Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                     Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    any_strides(in, out);
    Func output = out;
    const Var thread = gpu_tile_all(output, dims, knobs);
    for (size_t i = 0; i < passes.size(); i++) {
        Func pass = passes[i];
        if (!pass.has_update_definition()) continue;
        if (i + 1 == passes.size()) {
            pass.compute_at(output, thread);
        } else {
            pass.compute_root();
            gpu_tile_all(pass, dims, knobs);
            gpu_tile_all(pass.update(), dims, knobs);
        }
    }
}


// For Halide's autoschedulers (hup-tune's candidates): sizes like the benchmark's ×2 cases,
// 64 channels of 128 (3-D: 32) per spatial dim upsampled to twice that. The autoschedulers
// tune for these sizes only, which is why hup-tune never makes them a default.
template <class Generator>
void estimate_interpolate(Generator &g, int rank, int taps) {
    using Halide::Region;
    Region in_box, out_box;
    for (int d = 0; d < rank; d++) {
        const int size = rank == 3 ? 32 : 128;
        in_box.push_back({0, size});
        out_box.push_back({0, 2 * size});
    }
    in_box.insert(in_box.end(), {{0, 64}, {0, 1}});
    out_box.insert(out_box.end(), {{0, 64}, {0, 1}});
    g.in.set_estimates(in_box);
    g.out.set_estimates(out_box);
    g.tap_start.set_estimates({{0, 256}, {0, rank}});
    g.tap_count.set_estimates({{0, 256}, {0, rank}});
    g.tap_weight.set_estimates({{0, 256}, {0, taps > 0 ? taps : 4}, {0, rank}});
    for (auto *slope : {&g.slope_x, &g.slope_y, &g.slope_z}) slope->set_estimate(0.5f);
    for (auto *lo : {&g.lo_offset_x, &g.lo_offset_y, &g.lo_offset_z}) lo->set_estimate(-1.0f);
    for (auto *hi : {&g.hi_offset_x, &g.hi_offset_y, &g.hi_offset_z}) hi->set_estimate(2.0f);
    g.rows_per_tile.set_estimate(0);
    g.x_step_num.set_estimate(0);
    g.x_step_den.set_estimate(0);
    g.x_offset.set_estimate(0);
    g.x_taps_in_range.set_estimate(0);
}

}  // namespace hup
