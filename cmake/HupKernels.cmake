# Helpers that turn generators into AOT objects for libhup.
#
# Every CPU variant is one multi-target library: AVX-512, AVX2 and an SSE4.1 fallback, chosen
# at run time by Halide's dispatch wrapper (fastest first, fallback last). Targets are pinned,
# never `host`, so the build does not depend on the machine that runs it.
set(HUP_CPU_TARGETS
  x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41
  x86-64-linux-avx-avx2-f16c-fma-sse41
  x86-64-linux-sse41
  CACHE STRING "Halide targets of every CPU variant, fastest first")
# GPU variants: one object per API, compiled without a GPU (the CUDA capability is pinned, so
# nothing is probed at build time). Host code of those objects is plain x86-64.
set(HUP_CUDA_TARGET x86-64-linux-cuda-cuda_capability_61 CACHE STRING "Halide target of the CUDA variants")
set(HUP_OPENCL_TARGET x86-64-linux-opencl CACHE STRING "Halide target of the OpenCL variants")
# The one runtime carries the device interfaces of the GPU APIs that are switched on.
set(runtime_target x86-64-linux-sse41)
if (HUP_OPENCL)
  string(APPEND runtime_target -opencl)
endif ()
if (HUP_CUDA)
  string(APPEND runtime_target -cuda-cuda_capability_61)
endif ()
set(HUP_RUNTIME_TARGET ${runtime_target})  # follows HUP_CUDA and HUP_OPENCL

# Where tuned schedule knobs are read from (scripts/hup-tune writes them; it points its own
# build at a directory of candidates).
set(HUP_TUNED_DIR ${CMAKE_CURRENT_SOURCE_DIR}/schedules/tuned CACHE PATH "Directory of <variant>.params files")
# A tuned file added or removed re-runs the configuration (an edited one does too, below).
file(GLOB HUP_TUNED_FILES CONFIGURE_DEPENDS ${HUP_TUNED_DIR}/*.params)
set(HUP_KERNEL_OBJECTS "" CACHE INTERNAL "")
set(HUP_KERNEL_TARGETS "" CACHE INTERNAL "")
set(HUP_INTERPOLATE_VARIANTS "" CACHE INTERNAL "")
set(HUP_CONV_TRANSPOSE_VARIANTS "" CACHE INTERNAL "")
set(HUP_GPU_KERNELS "" CACHE INTERNAL "")

# The one Halide runtime that every variant shares (USE_RUNTIME).
function(hup_add_halide_runtime name)
  cmake_parse_arguments(ARG "" "FROM" "" ${ARGN})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.o)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${ARG_FROM} -r ${name} -o ${CMAKE_CURRENT_BINARY_DIR} -e object target=${HUP_RUNTIME_TARGET}
    DEPENDS ${ARG_FROM} VERBATIM)
  add_custom_target(${name}.update DEPENDS ${obj})
  add_library(${name} STATIC ${obj})
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
  add_dependencies(${name} ${name}.update)
  target_link_libraries(${name} INTERFACE Halide::Runtime Threads::Threads ${CMAKE_DL_LIBS})
  set(HUP_KERNEL_OBJECTS ${HUP_KERNEL_OBJECTS} ${obj} CACHE INTERNAL "")
  set(HUP_KERNEL_TARGETS ${HUP_KERNEL_TARGETS} ${name}.update CACHE INTERNAL "")
endfunction()

# One AOT kernel: add_halide_library plus bookkeeping so its objects land in libhup.
# Tuned schedule knobs, when ${HUP_TUNED_DIR}/<name>.params exists, are appended to PARAMS.
# FEATURES adds Halide target features (e.g. strict_float) to user_context; TARGETS replaces
# the CPU targets. STREAM_OUTPUTS names outputs whose aligned vector stores become
# non-temporal (hup_add_streaming_objects).
function(hup_add_kernel name)
  cmake_parse_arguments(ARG "" "GENERATOR" "PARAMS;FEATURES;TARGETS;STREAM_OUTPUTS" ${ARGN})
  if (NOT ARG_TARGETS)
    set(ARG_TARGETS ${HUP_CPU_TARGETS})
  endif ()
  set(tuned ${HUP_TUNED_DIR}/${name}.params)
  set(tuned_params "")
  set(autoscheduler "")
  if (EXISTS ${tuned})
    file(STRINGS ${tuned} tuned_params REGEX "^[a-z_]+=[0-9a-z_]+$")
    foreach (param IN LISTS tuned_params)  # a tuned knob replaces the variant's own setting
      string(REGEX REPLACE "=.*" "" knob ${param})
      list(FILTER ARG_PARAMS EXCLUDE REGEX "^${knob}=")
    endforeach ()
    # autoscheduler=adams2019 (li2018, mullapudi2016): Halide's autoscheduler instead of the
    # hand schedule (scripts/hup-tune measures them as candidates).
    set(autoscheduler "")
    foreach (name IN ITEMS Adams2019 Li2018 Mullapudi2016)
      string(TOLOWER ${name} lower)
      if ("autoscheduler=${lower}" IN_LIST tuned_params)
        set(autoscheduler AUTOSCHEDULER Halide::${name})
      endif ()
    endforeach ()
    list(FILTER tuned_params EXCLUDE REGEX "^autoscheduler=")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${tuned})
  endif ()
  if (ARG_STREAM_OUTPUTS)
    hup_add_streaming_objects(${name} ${ARG_GENERATOR} "${ARG_TARGETS}" "user_context;${ARG_FEATURES}"
                              "${ARG_STREAM_OUTPUTS}" ${ARG_PARAMS} ${tuned_params})
    set(sources ${streaming_objects})
  else ()
    add_halide_library(${name} FROM hup_generators GENERATOR ${ARG_GENERATOR}
      TARGETS ${ARG_TARGETS}
      FEATURES user_context ${ARG_FEATURES}
      USE_RUNTIME hup_halide_runtime
      ${autoscheduler}
      PARAMS ${ARG_PARAMS} ${tuned_params})
    get_target_property(sources ${name} SOURCES)
    list(TRANSFORM sources PREPEND ${CMAKE_CURRENT_BINARY_DIR}/)
  endif ()
  set(HUP_KERNEL_OBJECTS ${HUP_KERNEL_OBJECTS} ${sources} CACHE INTERNAL "")
  set(HUP_KERNEL_TARGETS ${HUP_KERNEL_TARGETS} ${name}.update CACHE INTERNAL "")
endfunction()

# What add_halide_library builds (a header, an object per CPU target and the dispatch wrapper),
# except that each target's object comes from the LLVM IR Halide emits, once the aligned vector
# stores to `outputs` are marked non-temporal and its prefetches cover every line
# (cmake/streaming_ir.py; Halide 14 has no such stores), compiled by LLVM 14's llc for the CPU
# Halide picks for that target. Compiled so, the IR gives the same instructions as Halide's own
# object (checked: the assembly of the max_unpool gather is identical on all three targets
# without the marks). A tuned autoscheduler choice does not apply here (the hand schedule
# makes the stores aligned). Sets streaming_objects in the caller.
find_program(HUP_LLC NAMES llc-14 HINTS /usr/lib/llvm-14/bin REQUIRED)
find_package(Python3 COMPONENTS Interpreter REQUIRED)
function(hup_add_streaming_objects name generator targets features outputs)
  set(dir ${CMAKE_CURRENT_BINARY_DIR})
  set(script ${PROJECT_SOURCE_DIR}/cmake/streaming_ir.py)
  set(suffix "")
  foreach (feature IN LISTS features)
    if (feature)
      string(APPEND suffix -${feature})
    endif ()
  endforeach ()
  string(APPEND suffix -no_runtime)
  set(full_targets "")
  set(objects "")
  set(commands "")
  foreach (target IN LISTS targets)
    set(full ${target}${suffix})
    list(APPEND full_targets ${full})
    list(APPEND objects ${dir}/${name}-${full}.o)
    # The CPUs Halide 14's x86 backend names for these feature sets.
    if (target MATCHES "avx512_skylake")
      set(cpu skylake-avx512)
    elseif (target MATCHES "avx2")
      set(cpu haswell)
    elseif (target MATCHES "sse41")
      set(cpu penryn)
    else ()
      message(FATAL_ERROR "hup_add_streaming_objects: no CPU known for target ${target}")
    endif ()
    list(APPEND commands
      COMMAND ${Python3_EXECUTABLE} ${script} ${name}-${full}.ll ${name}-${full}.stream.ll ${outputs}
      COMMAND ${HUP_LLC} -O3 -mcpu=${cpu} -relocation-model=pic -filetype=obj
              ${name}-${full}.stream.ll -o ${name}-${full}.o)
  endforeach ()
  string(JOIN "," target_list ${full_targets})
  add_custom_command(OUTPUT ${dir}/${name}.h ${objects} ${dir}/${name}_wrapper.o
    COMMAND hup_generators -n ${name} -d 0 -g ${generator} -f ${name} -e c_header,object,llvm_assembly -o .
            target=${target_list} ${ARGN}
    ${commands}
    DEPENDS hup_generators ${script} WORKING_DIRECTORY ${dir} VERBATIM)
  add_custom_target(${name}.update DEPENDS ${dir}/${name}.h ${objects} ${dir}/${name}_wrapper.o)
  set(streaming_objects ${objects} ${dir}/${name}_wrapper.o PARENT_SCOPE)
endfunction()

# One GPU kernel: `name`_cuda and `name`_opencl (those switched on), same arguments as
# hup_add_kernel. The runtime finds them by `name` (find_gpu_kernel, runtime/device.h).
function(hup_add_gpu_kernel name)
  foreach (api IN ITEMS cuda opencl)
    string(TOUPPER ${api} API)
    if (HUP_${API})
      hup_add_kernel(${name}_${api} ${ARGN} TARGETS ${HUP_${API}_TARGET})
    endif ()
  endforeach ()
  set(HUP_GPU_KERNELS ${HUP_GPU_KERNELS} ${name} CACHE INTERNAL "")
endfunction()

# Writes the GPU kernel table (name -> CUDA and OpenCL entry points) that find_gpu_kernel reads.
function(hup_write_gpu_table file)
  set(includes "")
  set(rows "")
  foreach (name IN LISTS HUP_GPU_KERNELS)
    set(row "    {\"${name}\"")
    foreach (api IN ITEMS cuda opencl)
      string(TOUPPER ${api} API)
      if (HUP_${API})
        string(APPEND includes "#include \"${name}_${api}.h\"\n")
        string(APPEND row ", reinterpret_cast<void *>(${name}_${api})")
      else ()
        string(APPEND row ", nullptr")
      endif ()
    endforeach ()
    string(APPEND rows "${row}},\n")
  endforeach ()
  file(CONFIGURE OUTPUT ${file} CONTENT "// Generated by CMake (cmake/HupKernels.cmake); do not edit.
#include <cstring>

#include \"device.h\"
${includes}
namespace hup {
namespace detail {

void *find_gpu_kernel(const char *name, Device device) {
    static const struct { const char *name; void *cuda, *opencl; } kernels[] = {
${rows}        {nullptr, nullptr, nullptr}};
    for (const auto &k : kernels) {
        if (k.name && std::strcmp(k.name, name) == 0) {
            return device == Device::Cuda ? k.cuda : device == Device::OpenCL ? k.opencl : nullptr;
        }
    }
    return nullptr;
}

}  // namespace detail
}  // namespace hup
")
endfunction()

# hup_add_interpolate(taps rank layout [y_first] [channel_blocks] [direct])
function(hup_add_interpolate taps rank layout)
  math(EXPR dims "${rank} + 2")
  set(name hup_interpolate_t${taps}_r${rank}_${layout})
  set(flags "")
  foreach (flag IN ITEMS y_first channel_blocks direct)
    set(${flag} false)
    if ("${flag}" IN_LIST ARGN)
      set(name ${name}_${flag})
      set(${flag} true)
    endif ()
    list(APPEND flags ${flag}=${${flag}})
  endforeach ()
  hup_add_kernel(${name} GENERATOR interpolate
    PARAMS taps=${taps} spatial_rank=${rank} layout=${layout} ${flags} in.dim=${dims} out.dim=${dims})
  set(HUP_INTERPOLATE_VARIANTS ${HUP_INTERPOLATE_VARIANTS} "${taps}:${rank}:${layout}:${y_first}:${channel_blocks}:${direct}" CACHE INTERNAL "")
endfunction()

# Writes the variant table that runtime/interpolate_variants.h declares.
function(hup_write_interpolate_table file)
  set(includes "")
  set(rows "")
  foreach (v IN LISTS HUP_INTERPOLATE_VARIANTS)
    string(REPLACE ":" ";" parts ${v})
    list(GET parts 0 taps)
    list(GET parts 1 rank)
    list(GET parts 2 layout)
    list(GET parts 3 y_first)
    list(GET parts 4 channel_blocks)
    list(GET parts 5 direct)
    set(fn hup_interpolate_t${taps}_r${rank}_${layout})
    foreach (flag IN ITEMS y_first channel_blocks direct)
      if (${flag})
        set(fn ${fn}_${flag})
      endif ()
    endforeach ()
    string(APPEND includes "#include \"${fn}.h\"\n")
    if (layout STREQUAL "channels_last")
      set(cl true)
    else ()
      set(cl false)
    endif ()
    string(APPEND rows "    {${taps}, ${rank}, ${cl}, ${y_first}, ${channel_blocks}, ${direct}, ${fn}},\n")
  endforeach ()
  file(CONFIGURE OUTPUT ${file} CONTENT "// Generated by CMake (cmake/HupKernels.cmake); do not edit.
#include \"interpolate_variants.h\"
${includes}
namespace hup {
namespace detail {

InterpolateKernel find_interpolate_kernel(int taps, int spatial_rank, bool channels_last, bool y_first,
                                          bool channel_blocks, bool direct) {
  static const struct { int taps, rank; bool channels_last, y_first, channel_blocks, direct; InterpolateKernel kernel; } variants[] = {
${rows}  };
  for (const auto &v : variants) {
    if (v.taps == taps && v.rank == spatial_rank && v.channels_last == channels_last && v.y_first == y_first &&
        v.channel_blocks == channel_blocks && v.direct == direct) {
      return v.kernel;
    }
  }
  return nullptr;
}

}  // namespace detail
}  // namespace hup
")
endfunction()

# hup_add_conv_transpose(rank layout tiles): tiles is channels (output-channel vectors),
# short (for short rows: 4 positions x 24 channels per tile, and the sum in blocks of 64 input
# channels: short rows are the first layers of generators, with many; tasks of 2 rows, since
# 4x4 grids make few tasks otherwise: 3 per phase for 256 channels, on 2 threads),
# short16 (16 channels, 4 rows per task), positions (position vectors, for few output
# channels), input_channels (input-channel vectors, for few output channels on channel-dense
# input) or depthwise.
function(hup_add_conv_transpose rank layout tiles)
  math(EXPR dims "${rank} + 3")
  set(name hup_conv_transpose_r${rank}_${layout}_${tiles})
  set(params tiling=channels depthwise=false)
  if (rank EQUAL 1)
    # 1-D layers (vocoders) have many channels: sum in blocks, as the short-row variant does.
    set(params tiling=channels depthwise=false reduction_block=128)
  endif ()
  if (tiles STREQUAL "short")
    set(params tiling=channels depthwise=false channel_block=24 position_block=4 tile_rows=2 reduction_block=64 task_rows=2)
  elseif (tiles STREQUAL "short16")
    set(params tiling=channels depthwise=false channel_block=16 position_block=4 tile_rows=2 reduction_block=64)
  elseif (tiles STREQUAL "positions")
    set(params tiling=positions depthwise=false)
  elseif (tiles STREQUAL "input_channels")
    set(params tiling=input_channels depthwise=false)
  elseif (tiles STREQUAL "depthwise")
    set(params depthwise=true)
  endif ()
  hup_add_kernel(${name} GENERATOR conv_transpose
    PARAMS spatial_rank=${rank} layout=${layout} ${params} in.dim=${dims} weight.dim=${dims} out.dim=${dims})
  if (layout STREQUAL "channels_last")
    set(cl true)
  else ()
    set(cl false)
  endif ()
  # The ConvTransposeTiles name: input_channels -> InputChannels.
  string(REPLACE "_" ";" words ${tiles})
  set(enum_name "")
  foreach (word IN LISTS words)
    string(SUBSTRING ${word} 0 1 initial)
    string(TOUPPER ${initial} initial)
    string(SUBSTRING ${word} 1 -1 rest)
    string(APPEND enum_name ${initial}${rest})
  endforeach ()
  set(HUP_CONV_TRANSPOSE_VARIANTS ${HUP_CONV_TRANSPOSE_VARIANTS} "${name}:${rank}:${cl}:${enum_name}" CACHE INTERNAL "")
endfunction()

# Writes the variant table that runtime/conv_transpose_variants.h declares.
function(hup_write_conv_transpose_table file)
  set(includes "")
  set(rows "")
  foreach (v IN LISTS HUP_CONV_TRANSPOSE_VARIANTS)
    string(REPLACE ":" ";" parts ${v})
    list(GET parts 0 fn)
    list(GET parts 1 rank)
    list(GET parts 2 cl)
    list(GET parts 3 tiles)
    string(APPEND includes "#include \"${fn}.h\"\n")
    string(APPEND rows "    {${rank}, ${cl}, ConvTransposeTiles::${tiles}, ${fn}},\n")
  endforeach ()
  file(CONFIGURE OUTPUT ${file} CONTENT "// Generated by CMake (cmake/HupKernels.cmake); do not edit.
#include \"conv_transpose_variants.h\"
${includes}
namespace hup {
namespace detail {

ConvTransposeKernel find_conv_transpose_kernel(int spatial_rank, bool channels_last, ConvTransposeTiles tiles) {
  static const struct { int rank; bool channels_last; ConvTransposeTiles tiles; ConvTransposeKernel kernel; } variants[] = {
${rows}  };
  for (const auto &v : variants) {
    if (v.rank == spatial_rank && v.channels_last == channels_last && v.tiles == tiles) return v.kernel;
  }
  return nullptr;
}

}  // namespace detail
}  // namespace hup
")
endfunction()
