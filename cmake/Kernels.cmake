# Kernel toolchain: GLSL compute shaders -> SPIR-V (glslc, with depfiles) -> spirv-val -> embedded
# C++ arrays. Feature probes decide which optional variants (cooperative matrices) the local glslc
# can build; scripts/setup provides a newer glslc in .toolchain/ where the system's is too old.

find_program(VKTRAIN_GLSLC NAMES glslc
  HINTS ${CMAKE_SOURCE_DIR}/.toolchain/bin NO_DEFAULT_PATH)
find_program(VKTRAIN_GLSLC NAMES glslc REQUIRED)
find_program(VKTRAIN_SPIRV_VAL NAMES spirv-val
  HINTS ${CMAKE_SOURCE_DIR}/.toolchain/bin NO_DEFAULT_PATH)
find_program(VKTRAIN_SPIRV_VAL NAMES spirv-val REQUIRED)
message(STATUS "glslc: ${VKTRAIN_GLSLC}; spirv-val: ${VKTRAIN_SPIRV_VAL}")

set(VKTRAIN_KERNEL_DIR ${CMAKE_SOURCE_DIR}/src/kernels)
set(VKTRAIN_SPIRV_DIR ${CMAKE_BINARY_DIR}/spirv)
file(MAKE_DIRECTORY ${VKTRAIN_SPIRV_DIR})

# vktrain_probe_glsl(<result-var> <probe.comp> <target-env>): TRUE when the probe compiles and
# validates, so variants that need the feature are built.
function(vktrain_probe_glsl RESULT PROBE ENV)
  set(out ${VKTRAIN_SPIRV_DIR}/probe_${RESULT}.spv)
  execute_process(COMMAND ${VKTRAIN_GLSLC} --target-env=${ENV} -O ${PROBE} -o ${out}
    RESULT_VARIABLE compiled OUTPUT_QUIET ERROR_QUIET)
  set(ok FALSE)
  if(compiled EQUAL 0)
    execute_process(COMMAND ${VKTRAIN_SPIRV_VAL} --target-env ${ENV} ${out}
      RESULT_VARIABLE validated OUTPUT_QUIET ERROR_QUIET)
    if(validated EQUAL 0)
      set(ok TRUE)
    endif()
  endif()
  message(STATUS "kernel feature probe ${RESULT}: ${ok}")
  set(${RESULT} ${ok} PARENT_SCOPE)
endfunction()

# vktrain_kernel(<variant-name> <source.comp> [ENV vulkan1.x] [DEFINES A B=1 ...])
# Adds one SPIR-V variant to the global kernel list.
function(vktrain_kernel NAME SOURCE)
  cmake_parse_arguments(K "" "ENV" "DEFINES" ${ARGN})
  if(NOT K_ENV)
    set(K_ENV vulkan1.2)
  endif()
  set(defs "")
  foreach(d IN LISTS K_DEFINES)
    list(APPEND defs -D${d})
  endforeach()
  set(src ${VKTRAIN_KERNEL_DIR}/${SOURCE})
  set(spv ${VKTRAIN_SPIRV_DIR}/${NAME}.spv)
  add_custom_command(OUTPUT ${spv}
    COMMAND ${VKTRAIN_GLSLC} --target-env=${K_ENV} -O -I ${VKTRAIN_KERNEL_DIR} ${defs}
            -MD -MF ${spv}.d -o ${spv} ${src}
    COMMAND ${VKTRAIN_SPIRV_VAL} --target-env ${K_ENV} ${spv}
    DEPENDS ${src}
    DEPFILE ${spv}.d
    COMMENT "glslc ${NAME}"
    VERBATIM)
  set_property(GLOBAL APPEND PROPERTY VKTRAIN_KERNEL_NAMES ${NAME})
  set_property(GLOBAL APPEND PROPERTY VKTRAIN_KERNEL_FILES ${spv})
endfunction()

# vktrain_embed_kernels(<target>): one generated C++ file holding every variant's words and the
# lookup table kernels::find() searches.
function(vktrain_embed_kernels TARGET)
  get_property(names GLOBAL PROPERTY VKTRAIN_KERNEL_NAMES)
  get_property(files GLOBAL PROPERTY VKTRAIN_KERNEL_FILES)
  set(manifest ${CMAKE_BINARY_DIR}/kernel_manifest.txt)
  set(text "")
  foreach(n f IN ZIP_LISTS names files)
    string(APPEND text "${n}=${f}\n")
  endforeach()
  file(CONFIGURE OUTPUT ${manifest} CONTENT "${text}")
  set(out ${CMAKE_BINARY_DIR}/kernels_embedded.cpp)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMANIFEST=${manifest} -DOUT=${out}
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake
    DEPENDS ${files} ${manifest} ${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake
    COMMENT "embedding SPIR-V"
    VERBATIM)
  target_sources(${TARGET} PRIVATE ${out})
endfunction()
