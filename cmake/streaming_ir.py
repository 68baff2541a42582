#!/usr/bin/env python3
"""The LLVM IR pass of a streaming kernel: non-temporal stores to its outputs, and whole-line
prefetches.

    streaming_ir.py IN.ll OUT.ll BUFFER [BUFFER ...]

Halide 14 has no non-temporal stores, and an ordinary store to a line that is not in the cache
first reads the line from memory: an output far larger than the caches then costs its bytes
twice in reads and writes. This takes the LLVM IR that Halide emits for a pipeline (its
`llvm_assembly` output) and gives `!nontemporal` to each vector store (of 32- or 64-bit
elements) into one of the named buffers (found by the TBAA type Halide tags each buffer's
accesses with) whose alignment covers the whole vector (or a 64-byte line of a wider one,
which LLVM splits into aligned vectors), so that LLVM emits movntps. Unaligned
stores stay as they are: x86 has no unaligned non-temporal vector store. The schedule makes
the stores it wants streamed provably aligned (schedules/streaming.h).

Non-temporal stores are weakly ordered: each function that has any gets an sfence before it
returns, so a parallel task's stores are visible before the thread pool learns it is done.

Halide 14's prefetch directive issues one prefetch per 64 elements, 256 bytes of floats, four
cache lines: each gets three more, for the other lines. With non-temporal stores, the reads
are what is left to wait on memory, and one line in four was too few (a 2x2 max_pool over
8x64x256x256, emulated in C: 5.1-5.3 ms against 3.7-3.9 with every line).

Fails when it marks nothing: a schedule that lost the alignment would otherwise build a
streaming variant that does not stream.
"""
import re
import sys


def main():
    source, target, buffers = sys.argv[1], sys.argv[2], sys.argv[3:]
    ir = open(source).read()

    # The buffers' TBAA type nodes: !N = !{!"out", !root, i64 0} (or "out$1", "out$1.0":
    # Halide makes names unique), and any nested under them.
    nodes = {m.group(1) for m in re.finditer(r'^(!\d+) = !\{!"([^"]*)", !\d+, i64 0\}$', ir, re.M)
             if re.sub(r'\$\d+', '', m.group(2)) in buffers}
    parent_of = {m.group(1): m.group(2) for m in re.finditer(r'^(!\d+) = !\{!"[^"]*", (!\d+), i64 0\}$', ir, re.M)}
    grew = True
    while grew:
        grew = False
        for node, parent in parent_of.items():
            if parent in nodes and node not in nodes:
                nodes.add(node)
                grew = True
    # Access tags !T = !{!N, !N, i64 0} of those nodes.
    tags = {m.group(1) for m in re.finditer(r'^(!\d+) = !\{(!\d+), !\d+, i64 0\}$', ir, re.M) if m.group(2) in nodes}

    marked = 0
    prefetches = 0
    out_lines = []
    prefetch = re.compile(r'^(\s*)((?:tail )?call void @llvm\.prefetch\.p0i8\(i8\* )(%[-\w.$]+)(, .*)$')
    function_marked = False
    store = re.compile(r'^(\s*store <(\d+) x (float|i32|i64|double)> .*, align (\d+)), !tbaa (!\d+)(.*)$')
    element_bytes = {'float': 4, 'i32': 4, 'i64': 8, 'double': 8}
    for line in ir.split('\n'):
        if line.startswith('define '):
            function_marked = False
        m = store.match(line)
        # Aligned to the whole vector, or to a cache line where the vector is wider: LLVM splits
        # it into vectors of at most 64 bytes, each then aligned.
        if (m and m.group(5) in tags and int(m.group(4)) >= min(element_bytes[m.group(3)] * int(m.group(2)), 64)
                and '!nontemporal' not in line):
            line = f'{m.group(1)}, !tbaa {m.group(5)}, !nontemporal !{{i32 1}}{m.group(6)}'
            marked += 1
            function_marked = True
        if function_marked and re.match(r'^\s*ret ', line):
            out_lines.append('  call void @llvm.x86.sse.sfence()')
        out_lines.append(line)
        p = prefetch.match(line)
        if p:
            indent, call, address, rest = p.groups()
            for line_offset in (64, 128, 192):
                name = f'%hup.prefetch.{prefetches}.{line_offset}'
                # Not inbounds: the lines may lie past the buffer (a prefetch never faults).
                out_lines.append(f'{indent}{name} = getelementptr i8, i8* {address}, i64 {line_offset}')
                out_lines.append(f'{indent}{call}{name}{rest}')
            prefetches += 1
    if marked == 0:
        sys.exit(f'{source}: no aligned vector store to {", ".join(buffers)} to make non-temporal')
    ir = '\n'.join(out_lines)
    if 'declare void @llvm.x86.sse.sfence()' not in ir:
        ir += '\ndeclare void @llvm.x86.sse.sfence()\n'
    open(target, 'w').write(ir)


if __name__ == '__main__':
    main()
