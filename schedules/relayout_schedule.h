// CPU schedule for relayout: a blocked transpose between the spatial x dim and the channel
// dim. Square blocks of `block` x `block` elements are loaded with dense vectors along the
// input's dense dim into a small buffer, and stored with dense vectors along the output's;
// the swap happens in registers. Each block row runs along x (the runtime merges whole
// planes into x where it can), so a task streams through `block` planes, or `block` channels
// of every position: a task is a run of about `task_blocks` blocks of positions, with every
// block row of channels (1-D), or one block row of channels over a strip of rows (2-D, 3-D),
// in one image.
#pragma once

#include <vector>

#include "Halide.h"

namespace hup {

inline void schedule_relayout_cpu(const Halide::Target &target, const std::vector<Halide::Var> &dims,
                                  Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                  Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    const int rank = (int)dims.size() - 2;
    const Var x = dims[0], c = dims[rank], n = dims[rank + 1];
    const int block = target.natural_vector_size<float>();
    const int task_blocks = 64;  // 1-D: blocks per parallel task (1024 positions with AVX-512)
    in.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());

    Func output = out;
    Func staged = in.in();
    Var xi("xi"), ci("ci");
    const Expr to_channels_last = out.dim(rank).stride() == 1 && in.dim(0).stride() == 1;
    const Expr to_planar = out.dim(0).stride() == 1 && in.dim(rank).stride() == 1;
    // `dense_out` is the output's dense dim: vectorised in the store, unrolled in the load.
    const Var load_x = staged.args()[0], load_c = staged.args()[rank];
    Var along("along"), across("across");  // blocks along x, and across the channels
    auto blocked = [&](Stage store, Stage load, const Var &dense_out, const Var &dense_in, bool whole) {
        const bool x_dense = dense_out.same_as(x);
        const TailStrategy tail = whole ? TailStrategy::ShiftInwards : TailStrategy::GuardWithIf;
        // Bounded blocks to planar: two vectors of channels per position, whole cache lines
        // of the C-dense input. (Whole blocks stay square: 32 vectors would fill the registers.)
        store.tile(x, c, along, across, xi, ci, block, x_dense && !whole ? 2 * block : block, tail);
        std::vector<VarOrRVar> order = {x_dense ? xi : ci, x_dense ? ci : xi};
        // Tasks: a run of up to `task_blocks` blocks of one image (2-D, 3-D: in one block row
        // of channels), every image's in one parallel loop. (Tasks of one block each, every
        // thread reads every channel's plane a line here and there: 0.30 against 0.21 ms to
        // channels_last on 1x64x128x128. Tasks of one row of a 16x64x32x32 input into a
        // bordered copy, 2 blocks each, took twice as long as the whole planes in 1-D.)
        Var run("run"), task("task");
        if (rank == 1) {
            // (Shorter runs where an image has fewer than 8 whole ones: tasks for every thread.)
            const Expr run_blocks = clamp(out.dim(0).extent() / (8 * block), 1, task_blocks);
            store.split(along, run, along, run_blocks, TailStrategy::GuardWithIf);
            order.insert(order.end(), {along, across, run});
        } else {  // runs of whole rows (slices in 3-D)
            const Expr row_positions = rank == 3 ? out.dim(0).extent() * out.dim(1).extent() : out.dim(0).extent();
            const Expr rows = max(1, task_blocks * block / max(row_positions, 1));
            store.split(dims[rank - 1], run, dims[rank - 1], rows, TailStrategy::GuardWithIf);
            order.push_back(along);
            for (int d = 1; d < rank; d++) order.push_back(dims[d]);
            order.insert(order.end(), {across, run});
        }
        order.push_back(n);
        store.reorder(order).vectorize(x_dense ? xi : ci).unroll(x_dense ? ci : xi);
        // (1-D: a task takes every block row of channels of its run, one after the other, so
        // the channels_last lines it reads or writes are its own; with one block row per task
        // the two threads worked on neighbouring halves of the same lines at once, which
        // measured slower, likely through each core's prefetches of the other's half:
        // 0.141-0.155 against 0.148-0.161 ms to and from 1x64x128x128 channels_last,
        // 0.27-0.31 against 0.28-0.33 for 1x32x256x256.)
        if (rank == 1) {
            store.fuse(run, n, task).parallel(task);
        } else {
            store.fuse(across, run, task).fuse(task, n, task).parallel(task);
        }
        const Var load_in = dense_in.same_as(x) ? load_x : load_c, load_out = dense_in.same_as(x) ? load_c : load_x;
        load.reorder(load_in, load_out).vectorize(load_in, block, tail).unroll(load_out);
    };
    // On the stack: where a block's size is only bounded (tails are narrower), Halide would
    // otherwise serve it from the heap, a malloc and free per block.
    staged.compute_at(output, along).store_in(MemoryType::Stack);
    // Whole blocks when both dims hold one: the block is then a constant-size array that
    // LLVM keeps in registers, and the transpose is shuffles. (A block of bounded size lives
    // in memory, and one side of the swap becomes 16 scalar stores or loads per vector.) The
    // last block along a dim shifts back over the one before it: a copy may rewrite elements.
    const Expr whole_blocks = out.dim(0).extent() >= block && out.dim(rank).extent() >= block;
    for (bool whole : {true, false}) {
        const Expr fits = whole ? whole_blocks : Internal::const_true();
        blocked(output.specialize(to_channels_last && fits), staged.specialize(to_channels_last && fits), c, x, whole);
        blocked(output.specialize(to_planar && fits), staged.specialize(to_planar && fits), x, c, whole);
    }
    blocked(output, staged, x, c, false);
}

}  // namespace hup
