namespace QuantPS.Kernels.Formats;

// "i-quants": values come from lookup grids selected by packed indices, with separate sign bits.
// Where ggml interleaves indices, signs and scales in one word, the field is [Packed] (or a wide
// [GridIndex]) and [Bits] parts say which bits of it are what (Language/GridAttributes.cs); the
// grids are in Grids.*.cs. Every grid type: x = d * (2s + 1) * Multiplier * ±g, or with a Delta
// d * (2s + 1) * (g ± Delta) (IQ1), dot product with Q8_K.

// Per 32 values: four 8-bit grid indices, then four 7-bit sign patterns and a 4-bit scale.
[GgmlBlock(16, "IQ2_XXS", "iq2_xxs", blockSize: 256, typeSize: 66)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 64, count: 8, valuesPerIndex: 32, Grid = "IQ2_XXS", WordBits = 16)]
[Bits(BitRole.GridIndex, "Qs", 8, Run = 4, RunStep = 64)]                              // bytes 0-3 of each 8
[Bits(BitRole.SignPattern, "Qs", 7, Start = 32, Run = 4, RunStep = 64, Table = "KSigns")] // bits 0-27 of the second word
[Bits(BitRole.SubScale, "Qs", 4, Start = 60, Step = 64, Per = 32)]                     // its top nibble
[Reconstruct(ValueScheme.Grid, Multiplier = 0.125)]                                    // d * (0.5 + s) * 0.25 * ±g
[Activation("Q8_K")]
public partial struct BlockIQ2_XXS;

// Each 16-bit word: a 9-bit grid index and a 7-bit sign pattern for 8 values.
[GgmlBlock(17, "IQ2_XS", "iq2_xs", blockSize: 256, typeSize: 74)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 16, count: 32, valuesPerIndex: 8, Grid = "IQ2_XS")]
[SubScales("Scales", bits: 4, count: 16)]
[Bits(BitRole.GridIndex, "Qs", 9, Step = 16)]
[Bits(BitRole.SignPattern, "Qs", 7, Start = 9, Step = 16, Table = "KSigns")]
[Bits(BitRole.SubScale, "Scales", 4, Per = 16)]
[Reconstruct(ValueScheme.Grid, Multiplier = 0.125)]
[Activation("Q8_K")]
public partial struct BlockIQ2_XS;

[GgmlBlock(18, "IQ3_XXS", "iq3_xxs", blockSize: 256, typeSize: 98)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 64, valuesPerIndex: 4, Grid = "IQ3_XXS")]
[Packed("ScalesAndSigns", bits: 32, count: 8)]
[Bits(BitRole.GridIndex, "Qs", 8)]
[Bits(BitRole.SignPattern, "ScalesAndSigns", 7, Run = 4, RunStep = 32, Table = "KSigns")] // four patterns, then
[Bits(BitRole.SubScale, "ScalesAndSigns", 4, Start = 28, Step = 32, Per = 32)]            // the scale, per 32-bit word
[Reconstruct(ValueScheme.Grid, Multiplier = 0.25)]                                         // d * (0.5 + s) * 0.5 * ±g
[Activation("Q8_K")]
public partial struct BlockIQ3_XXS;

// Qh per 32 values: four 3-bit index high parts, a 3-bit scale and the sign of the grid shift.
[GgmlBlock(19, "IQ1_S", "iq1_s", blockSize: 256, typeSize: 50)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 32, valuesPerIndex: 8, Grid = "IQ1_S")]
[Packed("Qh", bits: 16, count: 8)]
[Bits(BitRole.GridIndex, "Qs", 8)]
[Bits(BitRole.GridIndex, "Qh", 3, Run = 4, RunStep = 16)]
[Bits(BitRole.SubScale, "Qh", 3, Start = 12, Step = 16, Per = 32)]
[Bits(BitRole.DeltaSign, "Qh", 1, Start = 15, Step = 16, Per = 32)]
[Reconstruct(ValueScheme.Grid, Delta = 0.125)]                                          // d * (2s + 1) * (g ± 0.125)
[Activation("Q8_K")]
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
[Bits(BitRole.GridIndex, "Qs", 8)]
[Bits(BitRole.GridIndex, "Qh", 1)]
[Bits(BitRole.SignBits, "Signs", 1)]
[Bits(BitRole.SubScale, "Scales", 4, Per = 32)]
[Reconstruct(ValueScheme.Grid)]                                                         // d * (1 + 2s) * ±g
[Activation("Q8_K")]
public partial struct BlockIQ3_S;

[GgmlBlock(22, "IQ2_S", "iq2_s", blockSize: 256, typeSize: 82)]
[Scale("D", NumberFormat.F16)]
[GridIndex("Qs", bits: 8, count: 32, valuesPerIndex: 8, Grid = "IQ2_S")]
[Signs("Signs", count: 256)]
[HighBits("Qh", bits: 2, count: 32)]
[SubScales("Scales", bits: 4, count: 16)]
[Bits(BitRole.GridIndex, "Qs", 8)]
[Bits(BitRole.GridIndex, "Qh", 2)]
[Bits(BitRole.SignBits, "Signs", 1)]
[Bits(BitRole.SubScale, "Scales", 4, Per = 16)]
[Reconstruct(ValueScheme.Grid, Multiplier = 0.125)]
[Activation("Q8_K")]
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
[Bits(BitRole.GridIndex, "Qs", 8)]
[Bits(BitRole.GridIndex, "Qh", 3, Step = 4)]                                            // low 3 bits of each nibble
[Bits(BitRole.DeltaSign, "Qh", 1, Start = 3, Step = 4, Per = 8)]                        // and its top bit
[Bits(BitRole.SubScale, "Scales", 3, Run = 4, RunStep = 16, Per = 16)]                  // bits 0-11 of each word
[Bits(BitRole.ScaleBits, "Scales", 4, Start = 12, Step = 16)]                           // bits 12-15: the fp16 d
[Reconstruct(ValueScheme.Grid, Delta = 0.125)]
[Activation("Q8_K")]
public partial struct BlockIQ1_M;
