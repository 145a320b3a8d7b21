// The sizes of ggml's block formats, shared by C++ (tests compare them with io::ggml_block and
// DType's) and GLSL (quant.glsl decodes the blocks): values per block and bytes per block.
#ifndef VKTRAIN_KERNELS_QUANT_BLOCKS_H
#define VKTRAIN_KERNELS_QUANT_BLOCKS_H

#define Q8_0_ELEMENTS 32
#define Q8_0_BYTES 34
#define Q4_0_ELEMENTS 32
#define Q4_0_BYTES 18
#define Q4_1_ELEMENTS 32
#define Q4_1_BYTES 20
#define Q5_0_ELEMENTS 32
#define Q5_0_BYTES 22
#define Q5_1_ELEMENTS 32
#define Q5_1_BYTES 24
#define Q2_K_ELEMENTS 256
#define Q2_K_BYTES 84
#define Q3_K_ELEMENTS 256
#define Q3_K_BYTES 110
#define Q4_K_ELEMENTS 256
#define Q4_K_BYTES 144
#define Q5_K_ELEMENTS 256
#define Q5_K_BYTES 176
#define Q6_K_ELEMENTS 256
#define Q6_K_BYTES 210
#define MXFP4_ELEMENTS 32
#define MXFP4_BYTES 17

#endif
