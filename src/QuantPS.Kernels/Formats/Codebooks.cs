namespace QuantPS.Kernels.Formats;

// Lookup tables that quants index. Values are ggml's (ggml-common.h); the generator copies each
// table into the kernels of the types that name it.

// IQ4_NL / IQ4_XS: a non-linear 4-bit grid (kvalues_iq4nl).
[Codebook("IQ4_NL", -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)]

// OCP FP4 E2M1 values, doubled so they are integers (0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives);
// the 0.5 goes into the block scale (ggml's E8M0 "half" scale for MXFP4, UE4M3 for NVFP4).
[Codebook("E2M1", 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12, Multiplier = 0.5)]

// Q1_0: bit set is +d, clear is -d.
[Codebook("PlusMinus", -1, 1)]
internal static class Codebooks;
