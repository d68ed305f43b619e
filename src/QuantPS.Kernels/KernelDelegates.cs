namespace QuantPS.Kernels;

// The runtime kernel contract. The generated GgmlTypeTraits table fills these per type;
// callers (the matmul drivers) never see vector widths, only the fastest kernel available.

/// <summary>Dequantizes <paramref name="count"/> values (whole blocks) from <paramref name="source"/> into floats.</summary>
public unsafe delegate void DequantizeRowKernel(byte* source, float* destination, long count);

/// <summary>Quantizes <paramref name="count"/> floats (whole blocks) into an activation format (ggml's CPU from_float).</summary>
public unsafe delegate void QuantizeRowKernel(float* source, byte* destination, long count);

/// <summary>
/// Dot product of <paramref name="count"/> values: <paramref name="weights"/> in the owning type,
/// <paramref name="activations"/> in its <see cref="GgmlTypeInfo.ActivationType"/>.
/// </summary>
public unsafe delegate float DotKernel(long count, byte* weights, byte* activations);

/// <summary>
/// The dot product of one weight row with four activation rows (<paramref name="activationStride"/> bytes apart),
/// into <paramref name="results"/>[0..3]: each result equals <see cref="DotKernel"/> on that row, bit for bit. Families
/// that can decode a weight block once for all four rows do; the others run the single-row kernel four times.
/// </summary>
public unsafe delegate void DotRowsKernel(long count, byte* weights, byte* activations, long activationStride, float* results);

/// <summary>
/// Whole 32-value blocks as integers and one float scale per block: value i of block b dequantizes to
/// <paramref name="scales"/>[b] * <paramref name="values"/>[32 b + i], bit for bit. Matrix-matrix products decode weight
/// panels (and activation rows) with it for the integer panel kernel.
/// </summary>
public unsafe delegate void DecodeIntegersKernel(byte* source, sbyte* values, float* scales, long count);

/// <summary>
/// Whole K-quant super-blocks as integers: <paramref name="values"/>[256 b + i] is value i times its sub-block's integer
/// scale (int16), <paramref name="mins"/> holds each sub-block's integer min (types with mins), and
/// <paramref name="scales"/>[2 b], [2 b + 1] are the block's d and dmin: the value dequantizes to
/// d * values[i] - dmin * min (bit for bit the integer sums the dot product forms).
/// </summary>
public unsafe delegate void DecodeSubScaledKernel(byte* source, short* values, short* mins, float* scales, long count);

/// <summary>
/// Whole K-quant super-blocks with unsigned values: <paramref name="values"/>[256 b + i] is value i as a byte (before
/// any scale), <paramref name="subScales"/> and <paramref name="mins"/> each sub-block's integer scale and min, and
/// <paramref name="scales"/>[2 b], [2 b + 1] the block's d and dmin: value i dequantizes to d * subScale * value - dmin * min.
/// </summary>
public unsafe delegate void DecodeSubBlocksKernel(byte* source, byte* values, short* subScales, short* mins, float* scales, long count);

/// <summary>Rearranges a quantized activation row of <paramref name="count"/> values for a type's DotPrepared.</summary>
public unsafe delegate void PrepareActivationKernel(byte* quantized, byte* prepared, long count);

/// <summary>
/// A panel of weight rows (each block: 16 groups of lane-interleaved int16 pairs, then one float scale per lane)
/// against IntegerPanelKernels.Tokens int16 activation rows (<paramref name="activationStride"/> int16 apart, each
/// followed by one float scale per block): results[t * <paramref name="resultStride"/> + r] for every lane r.
/// </summary>
public unsafe delegate void IntegerPanelKernel(long blocks, int* panel, short* activations, long activationStride, float* results, long resultStride);

/// <summary>
/// A byte panel (each block: 8 units of four biased weight bytes per lane, then one float scale per lane) against
/// IntegerPanelKernels.Tokens int8 activation rows (<paramref name="activationStride"/> bytes apart, each followed by a
/// float scale and an int32 sum per block): results[t * <paramref name="resultStride"/> + r] for every lane r.
/// </summary>
public unsafe delegate void IntegerBytePanelKernel(long blocks, int* panel, sbyte* activations, long activationStride, int bias, float* results, long resultStride);

/// <summary>
/// Four float weight rows (<paramref name="weightStride"/> floats apart) against four float activation rows
/// (<paramref name="activationStride"/> floats apart), <paramref name="count"/> values each:
/// results[a * <paramref name="resultStride"/> + r] = dot(weight row r, activation row a).
/// </summary>
public unsafe delegate void FloatTileKernel(long count, float* weights, long weightStride, float* activations, long activationStride, float* results, long resultStride);

/// <summary>
/// Four rows of C (as many columns as the kernel's width covers) += four rows of A (<paramref name="count"/> values)
/// times B (<paramref name="count"/> rows): c[r * <paramref name="cStride"/> + j] += sum over i of
/// a[r * <paramref name="aStride"/> + i] * b[i * <paramref name="bStride"/> + j], each C element one fused multiply-add
/// chain over i in order.
/// </summary>
public unsafe delegate void FloatOuterTileKernel(long count, float* a, long aStride, float* b, long bStride, float* c, long cStride);

/// <summary>
/// A gated activation over one row of <paramref name="count"/> values: <paramref name="gate"/>[i] becomes
/// act(<paramref name="gate"/>[i]) x <paramref name="up"/>[i], in place.
/// </summary>
public unsafe delegate void GatedActivationKernel(float* gate, float* up, long count);

/// <summary>
/// One softmax step over a row of <paramref name="count"/> values: <paramref name="y"/>[i] = exp(<paramref name="x"/>[i]
/// - <paramref name="max"/>) (in place when the two are the same), returning the sum of the results.
/// </summary>
public unsafe delegate double SoftMaxKernel(float* x, float* y, long count, float max);

/// <summary>A dot product of <paramref name="count"/> values, in a fixed order of its own (see AttentionKernels.KeyDotF16).</summary>
public unsafe delegate float KeyDotKernel(long count, float* key, float* query);

/// <summary><paramref name="acc"/>[i] = round(fma(<paramref name="value"/>[i], <paramref name="factor"/>, <paramref name="acc"/>[i])) over <paramref name="count"/> values.</summary>
public unsafe delegate void MadRoundKernel(long count, float* acc, float* value, float factor);

/// <summary><paramref name="acc"/>[i] = round(<paramref name="acc"/>[i] x <paramref name="factor"/>) over <paramref name="count"/> values.</summary>
public unsafe delegate void ScaleRoundKernel(long count, float* acc, float factor);

/// <summary>A row of <paramref name="count"/> floats mapped value by value into <paramref name="destination"/>.</summary>
public unsafe delegate void FloatRowKernel(float* source, float* destination, long count);
