namespace QuantPS.Kernels.Formats;

// "i-quants": values come from lookup grids selected by packed indices, with separate sign bits.
// Where ggml interleaves indices, signs and scales in one word, the field is [Packed] and its
// decoding belongs to the kernel description.

// Per 32 values: four 8-bit grid indices, then four 7-bit sign patterns and a 4-bit scale.
[GgmlBlock(16, "IQ2_XXS", "iq2_xxs", blockSize: 256, typeSize: 66)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 64, count: 8, valuesPerIndex: 32, Grid = "IQ2_XXS", WordBits = 16)]
public partial struct BlockIQ2_XXS;

// Each 16-bit word: a 9-bit grid index and a 7-bit sign pattern for 8 values.
[GgmlBlock(17, "IQ2_XS", "iq2_xs", blockSize: 256, typeSize: 74)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 16, count: 32, valuesPerIndex: 8, Grid = "IQ2_XS")]
[SubScales("Scales", bits: 4, count: 16)]
public partial struct BlockIQ2_XS;

[GgmlBlock(18, "IQ3_XXS", "iq3_xxs", blockSize: 256, typeSize: 98)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 64, valuesPerIndex: 4, Grid = "IQ3_XXS")]
[Packed("ScalesAndSigns", bits: 32, count: 8)]
public partial struct BlockIQ3_XXS;

// Qh per 32 values: four 3-bit index high parts, a 3-bit scale and the sign of the grid shift.
[GgmlBlock(19, "IQ1_S", "iq1_s", blockSize: 256, typeSize: 50)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 32, valuesPerIndex: 8, Grid = "IQ1_S")]
[Packed("Qh", bits: 16, count: 8)]
public partial struct BlockIQ1_S;

[GgmlBlock(20, "IQ4_NL", "iq4_nl", blockSize: 32, typeSize: 18)]
[Scale("D", NumberFormat.F16)]
[Quants("Qs", bits: 4, count: 32, Codebook = "IQ4_NL", Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.Codebook)]
[Activation("Q8_0")]
public partial struct BlockIQ4_NL;

[GgmlBlock(21, "IQ3_S", "iq3_s", blockSize: 256, typeSize: 110)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 64, valuesPerIndex: 4, Grid = "IQ3_S")]
[HighBits("Qh", bits: 1, count: 64)]
[Signs("Signs", count: 256)]
[SubScales("Scales", bits: 4, count: 8)]
public partial struct BlockIQ3_S;

[GgmlBlock(22, "IQ2_S", "iq2_s", blockSize: 256, typeSize: 82)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 32, valuesPerIndex: 8, Grid = "IQ2_S")]
[Signs("Signs", count: 256)]
[HighBits("Qh", bits: 2, count: 32)]
[SubScales("Scales", bits: 4, count: 16)]
public partial struct BlockIQ2_S;

// 8 sub-block scales of 6 bits, split into a 2-bit high part (one 16-bit word) and a 4-bit low part.
[GgmlBlock(23, "IQ4_XS", "iq4_xs", blockSize: 256, typeSize: 136)]
[Scale("D", NumberFormat.F16)]
[SubScales("Scales", bits: 6, count: 8, Order = QuantOrder.ScalesHighLow, Offset = -32)]
[Quants("Qs", bits: 4, count: 256, Codebook = "IQ4_NL", Order = QuantOrder.SplitHalves32)]
[Reconstruct(ValueScheme.SubScaledCodebook)]                             // x = d * (s[j] - 32) * IQ4_NL[q], 32 per j
[Activation("Q8_K")]
public partial struct BlockIQ4_XS;

// No separate super-block scale: its fp16 bits sit in the top nibble of each Scales word,
// beside four 3-bit sub-block scales.
[GgmlBlock(29, "IQ1_M", "iq1_m", blockSize: 256, typeSize: 56)]
[GridIndex("Qs", bits: 8, count: 32, valuesPerIndex: 8, Grid = "IQ1_S")]
[HighBits("Qh", bits: 4, count: 32)]
[Packed("Scales", bits: 16, count: 4)]
public partial struct BlockIQ1_M;
